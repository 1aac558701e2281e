//! Compiles `bpf/peregrine.bpf.c` with clang into `$OUT_DIR/peregrine.bpf.o`.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let bpf = manifest.join("../../bpf");
    let src = bpf.join("peregrine.bpf.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("peregrine.bpf.o");
    for f in [
        "peregrine.bpf.c",
        "syscall_stream.bpf.h",
        "compat.bpf.h",
        "include/peregrine_event.h",
        "vmlinux.h",
    ] {
        println!("cargo:rerun-if-changed={}", bpf.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("peregrine-sensor: unsupported target architecture {other}"),
        Err(_) => "x86",
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .arg("-target")
        .arg("bpf")
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .args(["-g", "-O2", "-Wall", "-Werror"])
        .arg("-I")
        .arg(&bpf)
        .arg("-I")
        .arg(bpf.join("include"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "clang failed ({s}) compiling {}: see the errors above",
            src.display()
        ),
        Err(e) => panic!(
            "cannot run '{clang}' to compile the eBPF programs ({e}); \
             install clang and libbpf-dev (scripts/bootstrap.sh does) or set CLANG"
        ),
    }
}
