//! Compiles the response eBPF programs (`bpf/respond_net.bpf.c`, `bpf/respond_probe.bpf.c`)
//! with clang into `$OUT_DIR`, the same way peregrine-sensor builds its programs.
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: [&str; 2] = ["respond_net", "respond_probe"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let bpf = manifest.join("../../bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for f in ["include/respond_net.h", "vmlinux.h"] {
        println!("cargo:rerun-if-changed={}", bpf.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("peregrine-respond: unsupported target architecture {other}"),
        Err(_) => "x86",
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    for name in PROGRAMS {
        let src = bpf.join(format!("{name}.bpf.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        compile(&clang, arch, &bpf, &src, &out.join(format!("{name}.bpf.o")));
    }
}

fn compile(clang: &str, arch: &str, bpf: &Path, src: &Path, out: &Path) {
    let status = Command::new(clang)
        .arg("-target")
        .arg("bpf")
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .args(["-g", "-O2", "-Wall", "-Werror"])
        .arg("-I")
        .arg(bpf)
        .arg("-I")
        .arg(bpf.join("include"))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
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
