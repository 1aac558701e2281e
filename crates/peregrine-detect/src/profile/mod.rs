//! Behaviour profiles: what each workload unit (a container image, else a
//! host executable) does while it is learned, and drift once it is
//! monitored. One job per file:
//!
//! * [`item`]: the learned item kinds and their compression;
//! * [`set`]: the bounded set of profiles, learning, the automatic switch
//!   to monitor, drift;
//! * [`store`]: the versioned JSON files profiles persist in;
//! * [`settings`]: the user's settings;
//! * [`export`]: a profile as Falco-language allow-list rules.
//!
//! Lifecycle per profile: `learning` (every new item is added) →
//! `monitor` (an item never learned raises one [`Drift`]; it is remembered
//! so it alerts once). `enforce` (handing the profile to the response
//! actions) is not built yet.
pub mod export;
pub mod item;
pub mod set;
pub mod settings;
pub mod store;

pub use item::{Compression, Item, ItemKind};
pub use set::{Drift, ProfileSet, SetCounters};
pub use settings::{ProfileSettings, StartMode};
pub use store::{ProfileFileError, FORMAT_VERSION};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a profile is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every new item is learned.
    Learning,
    /// Items never learned raise drift alerts.
    Monitor,
}

impl Mode {
    /// `learning` or `monitor`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Learning => "learning",
            Mode::Monitor => "monitor",
        }
    }
}

/// One unit's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The unit: `image:REPOSITORY:TAG` or `exe:/host/path`.
    pub unit: String,
    /// Lifecycle state.
    pub mode: Mode,
    /// When learning started (seconds since the Unix epoch).
    pub created_s: u64,
    /// When the last new item was learned.
    pub last_new_s: u64,
    /// When monitoring started (`None` while learning).
    #[serde(default)]
    pub monitor_since_s: Option<u64>,
    /// Learned items by kind.
    pub items: BTreeMap<ItemKind, BTreeSet<String>>,
    /// Items that drifted (alerted once while monitoring; not learned).
    #[serde(default)]
    pub drifted: BTreeMap<ItemKind, BTreeSet<String>>,
    /// Items not learned because the profile was full.
    #[serde(default)]
    pub dropped: u64,
    /// Changed since it was last saved.
    #[serde(skip)]
    pub dirty: bool,
}

impl Profile {
    /// A new, empty profile learning from `now_s`.
    pub fn new(unit: &str, now_s: u64) -> Profile {
        Profile {
            unit: unit.to_string(),
            mode: Mode::Learning,
            created_s: now_s,
            last_new_s: now_s,
            monitor_since_s: None,
            items: BTreeMap::new(),
            drifted: BTreeMap::new(),
            dropped: 0,
            dirty: true,
        }
    }

    /// Learned items, all kinds.
    pub fn len(&self) -> usize {
        self.items.values().map(|s| s.len()).sum()
    }

    /// Nothing learned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `item` was learned.
    pub fn knows(&self, item: &Item) -> bool {
        self.items
            .get(&item.kind)
            .is_some_and(|s| s.contains(&item.value))
    }

    /// Seconds it learned: until monitoring started, else until `now_s`.
    pub fn learned_secs(&self, now_s: u64) -> u64 {
        self.monitor_since_s
            .unwrap_or(now_s)
            .saturating_sub(self.created_s)
    }

    /// Switch to monitor at `now_s` (no-op when already monitoring).
    pub fn monitor(&mut self, now_s: u64) {
        if self.mode != Mode::Monitor {
            self.mode = Mode::Monitor;
            self.monitor_since_s = Some(now_s);
            self.dirty = true;
        }
    }

    /// How sure the profile is of itself, 0 to 1: seconds since the last
    /// new item over the stable period (1 once monitored).
    pub fn confidence(&self, now_s: u64, stable_after_s: u64) -> f64 {
        if self.mode == Mode::Monitor || stable_after_s == 0 {
            return if self.mode == Mode::Monitor { 1.0 } else { 0.0 };
        }
        (now_s.saturating_sub(self.last_new_s) as f64 / stable_after_s as f64).min(1.0)
    }
}

/// Seconds since the Unix epoch now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
