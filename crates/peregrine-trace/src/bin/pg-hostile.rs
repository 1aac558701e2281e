//! `pg-hostile ACTION`: a program that is hostile to its tracer, for the
//! tests of `peregrine-trace`. Actions:
//!
//! * `bad-pointer`: open(2) and connect(2) with pointers into unmapped
//!   memory, then an execve whose argv pointer is bad.
//! * `long-path N`: open a path of N bytes (beyond PATH_MAX).
//! * `int80-open PATH`: open PATH through the i386 syscall ABI (`int 0x80`).
//! * `thread-exec PROG`: exec PROG from a thread other than the leader.
//! * `threads N`: N threads each opening /dev/null, then exit.
//! * `die-in-syscall`: SIGKILL itself while a traced syscall is pending.
//! * `fexecve PROG`: exec PROG through an fd (execveat with AT_EMPTY_PATH).
//! * `spawn N`: run /bin/true N times with `std::process::Command`
//!   (posix_spawn: clone with CLONE_VFORK).
use std::ffi::CString;

fn fail(msg: &str) -> ! {
    eprintln!("pg-hostile: {msg}");
    std::process::exit(2)
}

fn bad_pointer() {
    // SAFETY: raw syscalls with deliberately bad user pointers: the kernel
    // returns EFAULT, nothing in this process is touched.
    unsafe {
        let r = libc::syscall(libc::SYS_openat, libc::AT_FDCWD, 8usize, libc::O_RDONLY);
        assert!(r < 0);
        let r = libc::syscall(libc::SYS_open, usize::MAX - 16, libc::O_RDONLY);
        assert!(r < 0);
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        libc::syscall(libc::SYS_connect, fd, 16usize, 16usize);
        libc::syscall(libc::SYS_connect, fd, 16usize, usize::MAX);
        let prog = CString::new("/bin/true").unwrap_or_default();
        libc::syscall(libc::SYS_execve, prog.as_ptr(), 24usize, 0usize);
        libc::syscall(libc::SYS_execve, 24usize, 24usize, 24usize);
    }
}

fn long_path(n: usize) {
    let path = format!("/{}", "a/".repeat(n / 2));
    let c = CString::new(path).unwrap_or_default();
    // SAFETY: a valid NUL-terminated string.
    let r = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
    assert!(r < 0, "ENAMETOOLONG expected");
}

fn int80_open(path: &str) {
    // The i386 ABI takes 32-bit pointers: put the path below 4 GiB.
    // SAFETY: a fresh anonymous mapping, written within its length.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        );
        if m == libc::MAP_FAILED {
            fail("mmap");
        }
        let b = path.as_bytes();
        std::ptr::copy_nonoverlapping(b.as_ptr(), m as *mut u8, b.len().min(4000));
        let ret: i64;
        // rbx is reserved by LLVM: save it around the call.
        std::arch::asm!(
            "push rbx",
            "mov rbx, {p}",
            "int 0x80",
            "pop rbx",
            p = in(reg) m as u64,
            inlateout("rax") 5i64 => ret,
            in("rcx") 0u64,
            in("rdx") 0u64,
        );
        println!("int80 open returned {ret}");
    }
}

fn thread_exec(prog: &str) {
    let prog = prog.to_string();
    let t = std::thread::spawn(move || {
        let c = CString::new(prog.clone()).unwrap_or_default();
        let argv = [c.as_ptr(), std::ptr::null()];
        // SAFETY: valid NUL-terminated strings and a NULL-terminated argv.
        unsafe { libc::execv(c.as_ptr(), argv.as_ptr()) };
        fail("execv failed");
    });
    let _ = t.join();
}

fn threads(n: usize) {
    let hs: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(|| {
                let _ = std::fs::File::open("/dev/null");
            })
        })
        .collect();
    for h in hs {
        let _ = h.join();
    }
}

fn die_in_syscall() {
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: plain syscall.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    });
    // A traced syscall that blocks: accept on a listening socket.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|_| fail("bind"));
    let _ = l.accept();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| fail("missing argument"))
    };
    match arg(0).as_str() {
        "bad-pointer" => bad_pointer(),
        "long-path" => long_path(arg(1).parse().unwrap_or_else(|_| fail("N"))),
        "int80-open" => int80_open(&arg(1)),
        "thread-exec" => thread_exec(&arg(1)),
        "threads" => threads(arg(1).parse().unwrap_or_else(|_| fail("N"))),
        "die-in-syscall" => die_in_syscall(),
        "fexecve" => {
            let c = CString::new(arg(1)).unwrap_or_default();
            let argv = [c.as_ptr(), std::ptr::null()];
            let envp: [*const libc::c_char; 1] = [std::ptr::null()];
            // SAFETY: valid strings, NULL-terminated vectors; on success
            // this does not return.
            unsafe {
                let fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    c"".as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            }
            fail("execveat failed");
        }
        "spawn" => {
            let n: usize = arg(1).parse().unwrap_or_else(|_| fail("N"));
            for _ in 0..n {
                let ok = std::process::Command::new("/bin/true")
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    fail("spawn /bin/true");
                }
            }
        }
        other => fail(&format!("unknown action {other}")),
    }
}
