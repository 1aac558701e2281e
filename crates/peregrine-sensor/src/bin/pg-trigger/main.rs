//! `pg-trigger`: performs one well-defined behaviour so that tests and
//! benchmarks can assert on the exact kernel event it causes.
//!
//! Usage: `pg-trigger ACTION [ARGS...]`, actions: open-create PATH,
//! rename FROM TO, connect PORT, setuid UID, unshare-uts, memfd NAME,
//! exit CODE, exec-empty-argv PATH, open-loop PATH N, connect-loop PORT N,
//! exec-loop N, serve PORT, int80-files (in the current directory),
//! int80-connect PORT (the last two through the i386 syscall ABI),
//! syscall-loop N (getppid(2), a syscall no program hooks).
use std::io::Write;

mod int80;

fn fail(msg: String) -> ! {
    eprintln!("pg-trigger: {msg}");
    std::process::exit(2)
}

fn arg(args: &[String], i: usize, what: &str) -> String {
    args.get(i)
        .cloned()
        .unwrap_or_else(|| fail(format!("missing {what}")))
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| fail(format!("{what} '{s}' is not a number")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let action = arg(&args, 0, "action");
    match action.as_str() {
        "open-create" => open_create(&args),
        "rename" => rename(&args),
        "connect" => connect(&args),
        "setuid" => setuid(&args),
        "unshare-uts" => unshare_uts(),
        "memfd" => memfd(&args),
        "packet-socket" => packet_socket(),
        "udp-sendto" => udp_sendto(&args),
        "userfaultfd" => userfaultfd(),
        "exec-empty-argv" => exec_empty_argv(&args),
        "exit" => std::process::exit(num(&arg(&args, 1, "code"), "code")),
        "open-loop" => open_loop(&args),
        "connect-loop" => connect_loop(&args),
        "exec-loop" => exec_loop(&args),
        "serve" => serve(&args),
        "syscall-loop" => syscall_loop(&args),
        "int80-files" => int80::files(),
        "int80-connect" => int80::connect(&args),
        other => fail(format!("unknown action '{other}'")),
    }
}

fn syscall_loop(args: &[String]) {
    let n: u64 = num(&arg(args, 1, "count"), "count");
    let t = std::time::Instant::now();
    for _ in 0..n {
        // SAFETY: getppid has no arguments and cannot fail.
        std::hint::black_box(unsafe { libc::getppid() });
    }
    print_per_op(t, n);
}

/// Print the mean nanoseconds per iteration of a loop of `n` started at `t`.
fn print_per_op(t: std::time::Instant, n: u64) {
    println!("{}", t.elapsed().as_nanos() as f64 / n.max(1) as f64);
}

fn open_create(args: &[String]) {
    let path = arg(args, 1, "path");
    let mut f =
        std::fs::File::create(&path).unwrap_or_else(|e| fail(format!("create {path}: {e}")));
    f.write_all(b"peregrine").ok();
}

fn rename(args: &[String]) {
    let (from, to) = (arg(args, 1, "from"), arg(args, 2, "to"));
    std::fs::rename(&from, &to).unwrap_or_else(|e| fail(format!("rename {from} {to}: {e}")));
}

fn connect(args: &[String]) {
    let port: u16 = num(&arg(args, 1, "port"), "port");
    std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| fail(format!("connect 127.0.0.1:{port}: {e}")));
}

fn setuid(args: &[String]) {
    let uid: u32 = num(&arg(args, 1, "uid"), "uid");
    // SAFETY: plain syscall wrapper.
    if unsafe { libc::setuid(uid) } != 0 {
        fail(format!(
            "setuid({uid}): {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn unshare_uts() {
    // SAFETY: plain syscall wrapper.
    if unsafe { libc::unshare(libc::CLONE_NEWUTS) } != 0 {
        fail(format!("unshare: {}", std::io::Error::last_os_error()));
    }
}

fn memfd(args: &[String]) {
    let name = std::ffi::CString::new(arg(args, 1, "name"))
        .unwrap_or_else(|_| fail("name contains NUL".into()));
    // SAFETY: valid NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        fail(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
}

fn packet_socket() {
    // SAFETY: plain syscall wrapper; the fd is closed at exit.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0x0300) };
    if fd < 0 {
        fail(format!(
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn udp_sendto(args: &[String]) {
    let port: u16 = num(&arg(args, 1, "port"), "port");
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail(format!("bind: {e}")));
    s.send_to(b"peregrine", ("127.0.0.1", port))
        .unwrap_or_else(|e| fail(format!("sendto 127.0.0.1:{port}: {e}")));
}

fn userfaultfd() {
    // SAFETY: plain syscall; the result is only reported.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) };
    println!("userfaultfd={fd}");
}

fn exec_empty_argv(args: &[String]) -> ! {
    // execve(PATH) with argc 0, the shape of CVE-2021-4034 (the
    // kernel turns it into argv [""]).
    let path = std::ffi::CString::new(arg(args, 1, "path"))
        .unwrap_or_else(|_| fail("path contains NUL".into()));
    let argv: [*const libc::c_char; 1] = [std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: a NUL-terminated path and NULL-terminated arrays.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    fail(format!("execve: {}", std::io::Error::last_os_error()))
}

fn open_loop(args: &[String]) {
    // open+close N times: the benchmark's file workload.
    let path = std::ffi::CString::new(arg(args, 1, "path")).unwrap();
    let n: u64 = num(&arg(args, 2, "count"), "count");
    let t = std::time::Instant::now();
    for _ in 0..n {
        // SAFETY: valid path; the fd is closed right away.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            if fd >= 0 {
                libc::close(fd);
            }
        }
    }
    print_per_op(t, n);
}

fn connect_loop(args: &[String]) {
    let port: u16 = num(&arg(args, 1, "port"), "port");
    let n: u64 = num(&arg(args, 2, "count"), "count");
    let t = std::time::Instant::now();
    for _ in 0..n {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            // Wait for the server's accept+close: one full exchange
            // per iteration, and no accept-queue overflow.
            let _ = std::io::Read::read(&mut c, &mut [0u8; 1]);
            close_with_rst(&c);
        }
    }
    print_per_op(t, n);
}

/// Make `c` close with RST: no TIME_WAIT pile-up slowing later connects.
fn close_with_rst(c: &std::net::TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(c),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn exec_loop(args: &[String]) {
    // fork+exec+wait of /bin/true N times: the benchmark's process workload.
    let n: u64 = num(&arg(args, 1, "count"), "count");
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::process::Command::new("/bin/true")
            .status()
            .unwrap_or_else(|e| fail(format!("exec /bin/true: {e}")));
    }
    print_per_op(t, n);
}

fn serve(args: &[String]) {
    // Accept and close connections until killed.
    let port: u16 = num(&arg(args, 1, "port"), "port");
    let l = std::net::TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| fail(format!("bind 127.0.0.1:{port}: {e}")));
    println!("listening");
    for c in l.incoming() {
        drop(c);
    }
}
