//! End to end: an open of /etc/shadow made through the i386 syscall ABI
//! (`int 0x80`) by a 64-bit process raises Falco's rule like a native open.
//! The per-syscall tracepoints never see such a syscall; without the
//! sensor's compat program this read would go unnoticed.
mod common;

use common::{falco_rules, scratch, wait_for_alert, Peregrine};

/// open(path, O_RDONLY) through `int 0x80` (i386 open is 5); its result.
fn int80_open(path: &str) -> i64 {
    // SAFETY: a fresh anonymous mapping below 4 GiB (the i386 ABI takes
    // 32-bit pointers), written within its length; rbx and rbp are reserved
    // by LLVM and saved around the call; r8-r15 declared clobbered.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        );
        assert_ne!(m, libc::MAP_FAILED, "mmap(MAP_32BIT)");
        let b = path.as_bytes();
        std::ptr::copy_nonoverlapping(b.as_ptr(), m as *mut u8, b.len().min(4000));
        let ret: i64;
        std::arch::asm!(
            "push rbx",
            "mov ebx, {p:e}",
            "int 0x80",
            "pop rbx",
            p = in(reg) m as u64 as u32,
            inlateout("rax") 5i64 => ret,
            in("rcx") 0u64,
            in("rdx") 0u64,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
        );
        let ret = i64::from(ret as i32);
        if ret >= 0 {
            libc::close(ret as i32);
        }
        libc::munmap(m, 4096);
        ret
    }
}

#[test]
fn an_int80_read_of_etc_shadow_raises_read_sensitive_file_untrusted() {
    let dir = scratch("compat");
    let file = dir.join("alerts.jsonl");
    let _agent = Peregrine::agent()
        .rules(falco_rules())
        .output_file(&file)
        .start();
    let fd = std::thread::spawn(|| int80_open("/etc/shadow"))
        .join()
        .unwrap();
    assert!(fd >= 0, "int 0x80 open of /etc/shadow returned {fd}");
    let me = std::process::id();
    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == me
    });
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(alert["output_fields"]["evt.type"], "open");
}
