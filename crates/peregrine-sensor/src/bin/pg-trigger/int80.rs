//! Syscalls through the i386 ABI (`int 0x80`) from this 64-bit process: a
//! route around the per-syscall tracepoints that the sensor must not miss.

use super::{arg, fail, num};

/// Memory below 4 GiB: the i386 ABI takes 32-bit pointers.
struct Low {
    base: *mut u8,
    used: usize,
}

const LOW_LEN: usize = 64 << 10;

impl Low {
    fn new() -> Low {
        // SAFETY: a fresh anonymous mapping; only written within LOW_LEN.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LOW_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if m == libc::MAP_FAILED {
            fail(format!(
                "mmap(MAP_32BIT): {}",
                std::io::Error::last_os_error()
            ));
        }
        Low {
            base: m as *mut u8,
            used: 0,
        }
    }

    /// Copy `bytes` into low memory; their 32-bit address.
    fn put(&mut self, bytes: &[u8]) -> u32 {
        if self.used + bytes.len() + 8 > LOW_LEN {
            fail("low memory exhausted".into());
        }
        // SAFETY: within the mapping (checked above), no overlap.
        let p = unsafe { self.base.add(self.used) };
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        self.used += (bytes.len() + 8) & !7;
        p as u64 as u32
    }

    /// A NUL-terminated copy of `s`.
    fn cstr(&mut self, s: &str) -> u32 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(&b)
    }
}

/// One i386-ABI syscall; its result as the kernel returned it.
fn int80(nr: u32, a: [u32; 6]) -> i64 {
    let ret: i64;
    // SAFETY: the syscalls issued here only read the low buffers built by
    // `Low`; rbx and rbp are reserved by LLVM and saved around the call,
    // r8-r15 are declared clobbered (older kernels zeroed r8-r11).
    unsafe {
        std::arch::asm!(
            "push rbx",
            "push rbp",
            "mov ebx, {b:e}",
            "mov ebp, {f:e}",
            "int 0x80",
            "pop rbp",
            "pop rbx",
            b = in(reg) a[0],
            f = in(reg) a[5],
            inlateout("rax") i64::from(nr) => ret,
            in("rcx") a[1],
            in("rdx") a[2],
            in("rsi") a[3],
            in("rdi") a[4],
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
        );
    }
    i64::from(ret as i32)
}

const AT_FDCWD: u32 = -100i32 as u32;

/// `int80-files`: in the current directory, open(2) `a` (create), openat(2)
/// `b` relative to AT_FDCWD (create), openat(2) `missing` (ENOENT),
/// mkdirat(2) `d`, rename(2) `a` to `c`, chmod(2) `c`, unlink(2) `c`; each
/// result printed as `name=ret`.
pub fn files() {
    let mut low = Low::new();
    let (a, b, c) = (low.cstr("a"), low.cstr("b"), low.cstr("c"));
    let (missing, d) = (low.cstr("missing"), low.cstr("d"));
    let creat = (libc::O_CREAT | libc::O_WRONLY) as u32;
    let calls: [(&str, u32, [u32; 6]); 7] = [
        ("open", 5, [a, creat, 0o644, 0, 0, 0]),
        ("openat", 295, [AT_FDCWD, b, creat, 0o644, 0, 0]),
        ("openat-missing", 295, [AT_FDCWD, missing, 0, 0, 0, 0]),
        ("mkdirat", 296, [AT_FDCWD, d, 0o755, 0, 0, 0]),
        ("rename", 38, [a, c, 0, 0, 0, 0]),
        ("chmod", 15, [c, 0o600, 0, 0, 0, 0]),
        ("unlink", 10, [c, 0, 0, 0, 0, 0]),
    ];
    for (name, nr, args) in calls {
        println!("{name}={}", int80(nr, args));
    }
}

/// `int80-connect PORT`: connect to 127.0.0.1:PORT twice, through
/// socketcall(2) and through the direct connect(2) (i386 362).
pub fn connect(args: &[String]) {
    let port: u16 = num(&arg(args, 1, "port"), "port");
    let mut low = Low::new();
    let mut sa = [0u8; 16];
    sa[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    sa[4..8].copy_from_slice(&[127, 0, 0, 1]);
    let addr = low.put(&sa);
    let socket = [libc::AF_INET as u32, libc::SOCK_STREAM as u32, 0];
    let sargs = low.put(&words(&socket));
    let fd = int80(102, [1, sargs, 0, 0, 0, 0]);
    if fd < 0 {
        fail(format!("socketcall(SYS_SOCKET) = {fd}"));
    }
    let cargs = low.put(&words(&[fd as u32, addr, 16]));
    println!("socketcall-connect={}", int80(102, [3, cargs, 0, 0, 0, 0]));
    let fd2 = int80(359, [socket[0], socket[1], 0, 0, 0, 0]);
    if fd2 < 0 {
        fail(format!("socket = {fd2}"));
    }
    println!("connect={}", int80(362, [fd2 as u32, addr, 16, 0, 0, 0]));
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|v| v.to_ne_bytes()).collect()
}
