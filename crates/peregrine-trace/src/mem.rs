//! Reading a traced process's memory with `process_vm_readv`, bounded and
//! page by page: a bad pointer, an unmapped page or a string without a NUL
//! gives what could be read (or nothing), never a fault or an unbounded copy.

const PAGE: u64 = 4096;

/// Read up to `buf.len()` bytes at `addr` in `pid`; the bytes read (the
/// read stops at the first page that cannot be read).
pub fn read(pid: u32, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0usize;
    while done < buf.len() {
        let at = match addr.checked_add(done as u64) {
            Some(a) => a,
            None => break,
        };
        // Never cross a page in one call: a partial read across an
        // unmapped page reports an error for the whole request.
        let to_page = (PAGE - at % PAGE) as usize;
        let want = to_page.min(buf.len() - done);
        let local = libc::iovec {
            iov_base: buf[done..].as_mut_ptr() as *mut libc::c_void,
            iov_len: want,
        };
        let remote = libc::iovec {
            iov_base: at as *mut libc::c_void,
            iov_len: want,
        };
        // SAFETY: the local iovec covers `want` bytes of `buf`; the kernel
        // checks the remote range and fails instead of faulting.
        let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
        if (n as usize) < want {
            break;
        }
    }
    done
}

/// A NUL-terminated string at `addr`, at most `max - 1` bytes (like
/// `bpf_probe_read_user_str` into a `max`-byte buffer); `None` when the
/// pointer cannot be read at all (NULL, unmapped).
pub fn read_cstr(pid: u32, addr: u64, max: usize) -> Option<Vec<u8>> {
    if addr == 0 || max == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    let limit = max - 1;
    while out.len() < limit {
        let at = addr.checked_add(out.len() as u64)?;
        let want = chunk.len().min(limit - out.len());
        let n = read(pid, at, &mut chunk[..want]);
        if n == 0 {
            break;
        }
        if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            return Some(out);
        }
        out.extend_from_slice(&chunk[..n]);
        if n < want {
            break;
        }
    }
    if out.is_empty() && read(pid, addr, &mut [0u8; 1]) == 0 {
        return None;
    }
    Some(out)
}

/// Exactly `len` bytes at `addr` (at most `max`), or `None`.
pub fn read_exact(pid: u32, addr: u64, len: usize, max: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len.min(max)];
    let n = read(pid, addr, &mut buf);
    (n == buf.len()).then_some(buf)
}

/// A little-endian u64 at `addr`.
pub fn read_u64(pid: u32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (read(pid, addr, &mut b) == 8).then(|| u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_memory_reads_bounded_and_bad_pointers_read_nothing() {
        let me = std::process::id();
        let s = b"hello peregrine\0tail";
        let got = read_cstr(me, s.as_ptr() as u64, 1024).unwrap();
        assert_eq!(got, b"hello peregrine");
        let got = read_cstr(me, s.as_ptr() as u64, 6).unwrap();
        assert_eq!(got, b"hello", "bounded to max - 1 bytes");
        assert_eq!(read_cstr(me, 0, 1024), None);
        assert_eq!(read_cstr(me, 8, 1024), None, "unmapped page");
        assert_eq!(read_cstr(me, u64::MAX - 2, 1024), None, "wraps");
        let big = vec![b'x'; 10_000];
        let got = read_cstr(me, big.as_ptr() as u64, 4096).unwrap();
        assert_eq!(got.len(), 4095, "no NUL: stops at the bound");
        assert_eq!(read_u64(me, (&42u64) as *const u64 as u64), Some(42));
        assert_eq!(read_exact(me, 16, 8, 128), None);
    }
}
