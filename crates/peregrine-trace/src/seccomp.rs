//! The seccomp filter the traced program runs under: `SECCOMP_RET_TRACE`
//! for the syscalls some rule needs (a ptrace stop), `SECCOMP_RET_ALLOW`
//! for everything else (no stop: the cheap path). Built as classic BPF.

use crate::syscalls::{numbers, Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_BIT};
use peregrine_event::EventKind;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// offsetof(struct seccomp_data, nr).
const OFF_NR: u32 = 0;
/// offsetof(struct seccomp_data, arch).
const OFF_ARCH: u32 = 4;

/// A seccomp filter program (`struct sock_filter` instructions).
#[derive(Debug, Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One ABI's block: load the number, compare with each traced number
/// (jump forward `to_trace` on a match), allow otherwise. `to_trace` is
/// the distance from the block's end to the shared TRACE return.
fn block(nrs: &[u32], mask_x32: bool, after_block: usize) -> Vec<libc::sock_filter> {
    let mut b = vec![ins(BPF_LD_W_ABS, 0, 0, OFF_NR)];
    if mask_x32 {
        b.push(ins(BPF_ALU_AND_K, 0, 0, !X32_BIT));
    }
    let n = nrs.len();
    for (i, nr) in nrs.iter().enumerate() {
        // Instructions after this one up to the TRACE return: the rest of
        // the comparisons, the ALLOW return, then what follows the block.
        let jt = (n - 1 - i) + 1 + after_block;
        b.push(ins(BPF_JEQ_K, jt.min(255) as u8, 0, *nr));
    }
    b.push(ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
    b
}

impl Filter {
    /// The filter that stops on the syscalls producing `kinds`.
    pub fn new(kinds: &[EventKind]) -> Filter {
        let native = numbers(Abi::X86_64, kinds);
        let compat = numbers(Abi::I386, kinds);
        // Layout: ld arch; jeq x86_64 ? native : next; jeq i386 ? compat : allow;
        // allow; [native block]; [compat block]; trace.
        let compat_block = block(&compat, false, 0);
        let native_block = block(&native, true, compat_block.len());
        let mut prog = vec![
            ins(BPF_LD_W_ABS, 0, 0, OFF_ARCH),
            ins(BPF_JEQ_K, 2, 0, AUDIT_ARCH_X86_64),
            ins(
                BPF_JEQ_K,
                (1 + native_block.len()).min(255) as u8,
                0,
                AUDIT_ARCH_I386,
            ),
            ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ];
        prog.extend(native_block);
        prog.extend(compat_block);
        prog.push(ins(BPF_RET_K, 0, 0, SECCOMP_RET_TRACE));
        Filter { prog }
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.prog.len()
    }

    /// True for an empty program (never: there is always a return).
    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }

    /// Install the filter on the calling thread. Async-signal-safe (no
    /// allocation): called in the child between fork and exec. Without
    /// CAP_SYS_ADMIN the kernel wants `no_new_privs` first; it is set only
    /// then (setuid programs keep working for a privileged tracer).
    pub fn install(&self) -> Result<(), i32> {
        let fprog = libc::sock_fprog {
            len: self.prog.len() as u16,
            filter: self.prog.as_ptr() as *mut libc::sock_filter,
        };
        let set = || {
            // SAFETY: fprog points at a live, well-formed program.
            unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &fprog as *const libc::sock_fprog as libc::c_ulong,
                    0,
                    0,
                )
            }
        };
        if set() == 0 {
            return Ok(());
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(errno());
        }
        if set() == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }

    /// Run the program on one syscall, as the kernel would (tests).
    pub fn verdict(&self, arch: u32, nr: u32) -> bool {
        let mut a: u32 = 0;
        let mut pc = 0usize;
        while let Some(i) = self.prog.get(pc) {
            match i.code {
                BPF_LD_W_ABS => a = if i.k == OFF_ARCH { arch } else { nr },
                BPF_ALU_AND_K => a &= i.k,
                BPF_JEQ_K => {
                    pc += if a == i.k {
                        i.jt as usize
                    } else {
                        i.jf as usize
                    };
                }
                BPF_RET_K => return i.k == SECCOMP_RET_TRACE,
                _ => return false,
            }
            pc += 1;
        }
        false
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_exactly_the_wanted_syscalls_of_both_abis() {
        let f = Filter::new(&[EventKind::Exec, EventKind::Open, EventKind::Connect]);
        for nr in [59, 322, 2, 257, 437, 85, 42, 257 | X32_BIT] {
            assert!(f.verdict(AUDIT_ARCH_X86_64, nr), "x86-64 {nr}");
        }
        for nr in [0, 1, 3, 60, 231, 87, 49] {
            assert!(!f.verdict(AUDIT_ARCH_X86_64, nr), "x86-64 {nr}");
        }
        for nr in [11, 5, 295, 362] {
            assert!(f.verdict(AUDIT_ARCH_I386, nr), "i386 {nr}");
        }
        assert!(!f.verdict(AUDIT_ARCH_I386, 59));
        assert!(!f.verdict(0xdead, 59), "unknown arch allowed");
    }

    #[test]
    fn every_kind_at_once_fits_the_jump_range() {
        let f = Filter::new(EventKind::ALL);
        assert!(f.len() < 200);
        assert!(f.verdict(AUDIT_ARCH_X86_64, 323));
        assert!(f.verdict(AUDIT_ARCH_I386, 358));
        assert!(!f.verdict(AUDIT_ARCH_X86_64, 0));
    }
}
