//! Kernel records built in user space: the tracer fills the same
//! `#[repr(C)]` layouts the eBPF programs write (`peregrine_event::abi`)
//! and hands them to the same decoder, so a traced syscall becomes exactly
//! the `Event` the sensor would have produced.

use peregrine_event::abi::{PgExecEvent, PgExitEvent, PgForkEvent, PgStr, PgSyscallEvent};
use std::mem::size_of;

/// `PG_DATA_MAX`: capacity of the data region after a record.
pub const DATA_MAX: usize = 16384;
/// `PG_SOCKADDR_MAX`: raw sockaddr bytes copied.
pub const SOCKADDR_MAX: usize = 128;

/// The data region of one record: strings the fixed part points into.
#[derive(Debug, Default)]
pub struct Data {
    buf: Vec<u8>,
}

impl Data {
    /// Append `bytes` (at most `max` of them) with a NUL; an empty `PgStr`
    /// when it does not fit the region (the kernel drops it the same way).
    pub fn put(&mut self, bytes: &[u8], max: usize) -> PgStr {
        let n = bytes.len().min(max);
        if self.buf.len() + n + 1 > DATA_MAX {
            return PgStr::default();
        }
        let off = self.buf.len();
        self.buf.extend_from_slice(&bytes[..n]);
        self.buf.push(0);
        PgStr {
            off: off as u16,
            len: n as u16,
        }
    }

    /// Append raw bytes without a NUL (sockaddr, argv).
    pub fn put_raw(&mut self, bytes: &[u8], max: usize) -> PgStr {
        let n = bytes.len().min(max);
        if n == 0 || self.buf.len() + n > DATA_MAX {
            return PgStr::default();
        }
        let off = self.buf.len();
        self.buf.extend_from_slice(&bytes[..n]);
        PgStr {
            off: off as u16,
            len: n as u16,
        }
    }

    /// The bytes a `PgStr` of this region points at (empty when out of range).
    pub fn get(&self, s: PgStr) -> &[u8] {
        let start = s.off as usize;
        let end = (start + s.len as usize).min(self.buf.len());
        self.buf.get(start..end).unwrap_or(&[])
    }

    /// Bytes used.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was put.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The bytes of a plain-old-data record.
fn pod_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is one of the abi structs: integers and arrays only, no
    // implicit padding (tests/abi_layout.rs of peregrine-event checks the
    // layouts), so every byte is initialised.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }
}

macro_rules! finish {
    ($name:ident, $ty:ty) => {
        /// The complete record: fixed part with its size set, then data.
        pub fn $name(mut ev: $ty, data: &Data) -> Vec<u8> {
            let total = size_of::<$ty>() + data.buf.len();
            ev.hdr.size = total as u32;
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(pod_bytes(&ev));
            out.extend_from_slice(&data.buf);
            out
        }
    };
}

finish!(syscall_record, PgSyscallEvent);
finish!(exec_record, PgExecEvent);
finish!(fork_record, PgForkEvent);
finish!(exit_record, PgExitEvent);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_region_is_bounded() {
        let mut d = Data::default();
        let s = d.put(b"/etc/shadow", 1023);
        assert_eq!((s.off, s.len), (0, 11));
        let big = vec![b'a'; 10_000];
        assert_eq!(d.put(&big, 4095).len, 4095);
        assert_eq!(d.put(&big, 4095).len, 4095);
        assert_eq!(d.put(&big, 4095).len, 4095);
        assert_eq!(d.put(&big, 4095).len, 0, "region full");
        assert!(d.len() <= DATA_MAX);
    }
}
