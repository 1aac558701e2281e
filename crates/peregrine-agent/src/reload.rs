//! Reload rules when their files change: each file's modification time,
//! size and inode are polled; a change that has settled (seen identical on
//! two polls in a row, so a half-written file is not loaded) raises the
//! same reload flag as SIGHUP.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

type Stamp = Option<(i64, i64, u64, u64)>;

/// Stamps of every file the rules paths stand for (a directory's files
/// and the directory itself, so that adding or removing a file counts).
fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    peregrine_rules::sources::watched(paths)
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.mtime(), m.mtime_nsec(), m.len(), m.ino()))
        })
        .collect()
}

/// Poll `paths` every `every` until `stop`; set `reload` after a settled
/// change.
pub fn watch_files(
    paths: Vec<PathBuf>,
    every: Duration,
    reload: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("pg-rule-watch".into())
        .spawn(move || {
            let mut loaded = stamps(&paths);
            let mut pending: Option<Vec<Stamp>> = None;
            while !stop.load(Ordering::Relaxed) {
                let step = Duration::from_millis(50);
                let mut waited = Duration::ZERO;
                while waited < every && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                }
                let now = stamps(&paths);
                if now == loaded {
                    pending = None;
                    continue;
                }
                if pending.as_ref() == Some(&now) {
                    tracing::info!("rule files changed: reloading");
                    reload.store(true, Ordering::SeqCst);
                    loaded = now;
                    pending = None;
                } else {
                    pending = Some(now);
                }
            }
        })
        .expect("spawn rule watcher")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_change_raises_the_flag_once() {
        let dir = std::env::temp_dir().join(format!("pg-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("r.yaml");
        std::fs::write(&f, "a").unwrap();
        let reload = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let h = watch_files(
            vec![f.clone()],
            Duration::from_millis(100),
            reload.clone(),
            stop.clone(),
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(!reload.load(Ordering::SeqCst), "no change, no reload");
        std::fs::write(&f, "bb").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !reload.swap(false, Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "change not seen");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(400));
        assert!(!reload.load(Ordering::SeqCst), "one change, one reload");
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap();
        std::fs::remove_dir_all(dir).ok();
    }
}

#[cfg(test)]
mod directory_tests {
    use super::*;

    #[test]
    fn a_file_added_to_a_watched_rules_directory_raises_the_flag() {
        let dir = std::env::temp_dir().join(format!("pg-watch-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "[]").unwrap();
        let reload = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let h = watch_files(
            vec![dir.clone()],
            Duration::from_millis(100),
            reload.clone(),
            stop.clone(),
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(!reload.load(Ordering::SeqCst), "no change, no reload");
        std::fs::write(dir.join("b.yaml"), "[]").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !reload.swap(false, Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "new file not seen");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Editing a file inside it counts too.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(dir.join("a.yaml"), "[ ]\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !reload.swap(false, Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "edit not seen");
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap();
        std::fs::remove_dir_all(dir).ok();
    }
}
