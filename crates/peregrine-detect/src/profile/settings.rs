//! The user's profile settings (`profiles:` in the agent's configuration).

use serde::Deserialize;
use std::path::PathBuf;

/// How profiles start when the agent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// Profiles keep the state they were saved in; new units learn and
    /// switch to monitor after `stable_after_s` without a new item.
    #[default]
    Learn,
    /// Every saved profile is monitored from the start (the manual switch);
    /// new units still learn.
    Monitor,
}

/// Behaviour profile settings. Unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileSettings {
    /// Directory the profiles are saved in and loaded from (`None`: kept
    /// in memory only).
    pub dir: Option<PathBuf>,
    /// Seconds without a new item after which a learning profile switches
    /// to monitor (0: never automatically).
    pub stable_after_s: u64,
    /// How saved profiles start.
    pub mode: StartMode,
    /// Seconds between saves of changed profiles (also saved at shutdown).
    pub save_every_s: u64,
    /// Most profiles kept; units beyond are not profiled (counted).
    pub max_profiles: usize,
    /// Most learned items per profile; beyond, learning stops (counted).
    pub max_items: usize,
    /// Most drifted items remembered per profile (each alerts once).
    pub max_drifted: usize,
    /// Directory components kept of file paths.
    pub path_depth: usize,
    /// Compress peers to their /24 (/64) network.
    pub peer_cidr: bool,
    /// Profile containers only (no host executables).
    pub containers_only: bool,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            dir: None,
            stable_after_s: 3600,
            mode: StartMode::Learn,
            save_every_s: 60,
            max_profiles: 1024,
            max_items: 4096,
            max_drifted: 1024,
            path_depth: 3,
            peer_cidr: false,
            containers_only: false,
        }
    }
}

impl ProfileSettings {
    /// The item compression these settings ask for.
    pub fn compression(&self) -> super::Compression {
        super::Compression {
            path_depth: self.path_depth,
            peer_cidr: self.peer_cidr,
        }
    }
}
