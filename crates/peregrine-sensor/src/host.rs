//! Host preparation: BTF, tracefs.

use crate::SensorError;
use std::path::Path;

/// Default location of the kernel's own BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: &str = "/sys/kernel/tracing";

/// Make sure tracefs is mounted (tracepoint ids are read from it).
pub fn ensure_tracefs() -> Result<(), SensorError> {
    if tracefs_mounted() {
        return Ok(());
    }
    let src = c"tracefs";
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data is null.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // Another process (a second agent starting at the same moment, a
        // Falco beside us) may have mounted it between our check and our
        // mount: the kernel then answers EBUSY. What we need is a mounted
        // tracefs, whoever mounted it.
        for _ in 0..20 {
            if tracefs_mounted() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        return Err(SensorError::Tracefs(err));
    }
    tracing::info!("mounted tracefs at {TRACEFS} (needed to attach tracepoints)");
    Ok(())
}

fn tracefs_mounted() -> bool {
    Path::new(TRACEFS).join("events").is_dir()
        || Path::new("/sys/kernel/debug/tracing/events").is_dir()
}
