//! Which syscalls the tracer stops on, by number, for the native x86-64 ABI
//! and the i386 compat ABI (a hostile program can switch with `int 0x80`).

use peregrine_event::{EventKind, Syscall};

/// What a traced syscall number means: the sensor's syscall id, or exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traced {
    /// A syscall the sensor reports through `pg_syscall_event`.
    Call(Syscall),
    /// execve.
    Execve,
    /// execveat.
    Execveat,
}

/// x86-64 syscall numbers of every syscall the sensor reports.
const X86_64: &[(u32, Traced)] = {
    use Syscall as S;
    use Traced::Call as C;
    &[
        (2, C(S::Open)),
        (257, C(S::Openat)),
        (437, C(S::Openat2)),
        (85, C(S::Creat)),
        (87, C(S::Unlink)),
        (263, C(S::Unlinkat)),
        (84, C(S::Rmdir)),
        (82, C(S::Rename)),
        (264, C(S::Renameat)),
        (316, C(S::Renameat2)),
        (90, C(S::Chmod)),
        (91, C(S::Fchmod)),
        (268, C(S::Fchmodat)),
        (452, C(S::Fchmodat2)),
        (92, C(S::Chown)),
        (94, C(S::Lchown)),
        (93, C(S::Fchown)),
        (260, C(S::Fchownat)),
        (86, C(S::Link)),
        (265, C(S::Linkat)),
        (88, C(S::Symlink)),
        (266, C(S::Symlinkat)),
        (83, C(S::Mkdir)),
        (258, C(S::Mkdirat)),
        (42, C(S::Connect)),
        (43, C(S::Accept)),
        (288, C(S::Accept4)),
        (49, C(S::Bind)),
        (50, C(S::Listen)),
        (105, C(S::Setuid)),
        (113, C(S::Setreuid)),
        (117, C(S::Setresuid)),
        (106, C(S::Setgid)),
        (114, C(S::Setregid)),
        (119, C(S::Setresgid)),
        (126, C(S::Capset)),
        (101, C(S::Ptrace)),
        (165, C(S::Mount)),
        (166, C(S::Umount2)),
        (272, C(S::Unshare)),
        (308, C(S::Setns)),
        (319, C(S::MemfdCreate)),
        (175, C(S::InitModule)),
        (313, C(S::FinitModule)),
        (321, C(S::Bpf)),
        (41, C(S::Socket)),
        (44, C(S::Sendto)),
        (46, C(S::Sendmsg)),
        (323, C(S::Userfaultfd)),
        (59, Traced::Execve),
        (322, Traced::Execveat),
    ]
};

/// i386 numbers of the syscalls whose arguments have the same meaning as
/// on x86-64 (file, exec, credential syscalls; the 32-bit socket calls
/// other than the direct `connect` are not decoded).
const I386: &[(u32, Traced)] = {
    use Syscall as S;
    use Traced::Call as C;
    &[
        (5, C(S::Open)),
        (295, C(S::Openat)),
        (437, C(S::Openat2)),
        (8, C(S::Creat)),
        (10, C(S::Unlink)),
        (301, C(S::Unlinkat)),
        (40, C(S::Rmdir)),
        (38, C(S::Rename)),
        (302, C(S::Renameat)),
        (353, C(S::Renameat2)),
        (15, C(S::Chmod)),
        (306, C(S::Fchmodat)),
        (9, C(S::Link)),
        (83, C(S::Symlink)),
        (39, C(S::Mkdir)),
        (296, C(S::Mkdirat)),
        (362, C(S::Connect)),
        (213, C(S::Setuid)),
        (214, C(S::Setgid)),
        (208, C(S::Setresuid)),
        (210, C(S::Setresgid)),
        (26, C(S::Ptrace)),
        (310, C(S::Unshare)),
        (346, C(S::Setns)),
        (356, C(S::MemfdCreate)),
        (379, C(S::FinitModule)),
        (357, C(S::Bpf)),
        (11, Traced::Execve),
        (358, Traced::Execveat),
    ]
};

/// The ABI a syscall was made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// Native x86-64.
    X86_64,
    /// i386 compat (`int 0x80`, 32-bit processes).
    I386,
}

/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`: x32 syscalls are x86-64 numbers with this bit.
pub const X32_BIT: u32 = 0x4000_0000;

impl Abi {
    /// The ABI of an `AUDIT_ARCH_*` value.
    pub fn from_arch(arch: u32) -> Option<Abi> {
        match arch {
            AUDIT_ARCH_X86_64 => Some(Abi::X86_64),
            AUDIT_ARCH_I386 => Some(Abi::I386),
            _ => None,
        }
    }
    fn table(self) -> &'static [(u32, Traced)] {
        match self {
            Abi::X86_64 => X86_64,
            Abi::I386 => I386,
        }
    }
}

/// What syscall `nr` of `abi` is, if the tracer decodes it.
pub fn lookup(abi: Abi, nr: u64) -> Option<Traced> {
    let nr = u32::try_from(nr).ok()?;
    let nr = if abi == Abi::X86_64 {
        nr & !X32_BIT
    } else {
        nr
    };
    abi.table().iter().find(|(n, _)| *n == nr).map(|(_, t)| *t)
}

/// The kind a traced syscall produces.
pub fn kind_of(t: Traced) -> EventKind {
    match t {
        Traced::Call(s) => s.kind(),
        Traced::Execve | Traced::Execveat => EventKind::Exec,
    }
}

/// The syscall numbers of `abi` that produce one of `kinds`, sorted.
pub fn numbers(abi: Abi, kinds: &[EventKind]) -> Vec<u32> {
    let mut v: Vec<u32> = abi
        .table()
        .iter()
        .filter(|(_, t)| kinds.contains(&kind_of(*t)))
        .map(|(n, _)| *n)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sensor_syscall_has_a_native_number() {
        for s in Syscall::ALL {
            let found = X86_64.iter().any(|(_, t)| *t == Traced::Call(*s));
            assert!(found || *s == Syscall::Execve, "{s} has no x86-64 number");
        }
        assert_eq!(
            lookup(Abi::X86_64, 257),
            Some(Traced::Call(Syscall::Openat))
        );
        assert_eq!(
            lookup(Abi::X86_64, 257 | X32_BIT as u64),
            Some(Traced::Call(Syscall::Openat))
        );
        assert_eq!(lookup(Abi::I386, 5), Some(Traced::Call(Syscall::Open)));
        assert_eq!(lookup(Abi::X86_64, u64::MAX), None);
    }

    #[test]
    fn only_the_wanted_kinds_are_selected() {
        let n = numbers(Abi::X86_64, &[EventKind::Exec, EventKind::Connect]);
        assert_eq!(n, vec![42, 59, 322]);
    }
}
