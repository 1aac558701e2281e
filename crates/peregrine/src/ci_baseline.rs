//! `peregrine ci --learn-baseline DIR` / `--baseline DIR`: canary comparison
//! with behaviour profiles. Learning runs the command with profiles saved in
//! DIR (every unit learning, none switched to monitor); comparing runs it
//! with a copy of DIR, every saved profile monitored from the start, so what
//! the command never did while learning — a new program, a new parent→child
//! exec, a new file prefix, a new peer or listening port — raises a drift
//! alert and fails the build like any alert at or above `--fail-on`. The
//! baseline itself is never written to.

use anyhow::{bail, Context, Result};
use peregrine_detect::profile::{store, ProfileSettings, StartMode};
use std::path::{Path, PathBuf};

/// The profile settings of a `ci` run, and a scratch copy to remove after.
pub struct Baseline {
    /// Profiles for the agent.
    pub settings: Option<ProfileSettings>,
    scratch: Option<PathBuf>,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if let Some(d) = &self.scratch {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn base(dir: PathBuf, mode: StartMode) -> ProfileSettings {
    ProfileSettings {
        dir: Some(dir),
        // Never switched by time: a build is short, learning is explicit.
        stable_after_s: 0,
        mode,
        save_every_s: 3600,
        ..ProfileSettings::default()
    }
}

/// What `--learn-baseline` / `--baseline` ask for.
pub fn prepare(learn: Option<&Path>, compare: Option<&Path>) -> Result<Baseline> {
    match (learn, compare) {
        (Some(_), Some(_)) => bail!("--learn-baseline and --baseline cannot be used together"),
        (Some(dir), None) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--learn-baseline {}: cannot create it", dir.display()))?;
            Ok(Baseline {
                settings: Some(base(dir.to_path_buf(), StartMode::Learn)),
                scratch: None,
            })
        }
        (None, Some(dir)) => {
            let profiles = store::load_dir(dir).map_err(|e| anyhow::anyhow!("--baseline: {e}"))?;
            if profiles.is_empty() {
                bail!(
                    "--baseline {}: no profiles there (make one with --learn-baseline)",
                    dir.display()
                );
            }
            let scratch =
                std::env::temp_dir().join(format!("peregrine-ci-baseline-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir_all(&scratch)
                .with_context(|| format!("cannot create {}", scratch.display()))?;
            for p in &profiles {
                store::write(&scratch, p).map_err(|e| anyhow::anyhow!("--baseline: {e}"))?;
            }
            Ok(Baseline {
                settings: Some(base(scratch.clone(), StartMode::Monitor)),
                scratch: Some(scratch),
            })
        }
        (None, None) => Ok(Baseline {
            settings: None,
            scratch: None,
        }),
    }
}
