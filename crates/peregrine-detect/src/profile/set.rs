//! The bounded set of profiles: learning, the automatic switch to monitor,
//! and drift.

use super::{Item, ItemKind, Mode, Profile, ProfileSettings};
use std::collections::HashMap;

/// What a monitored profile saw that it never learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// The profile's unit.
    pub unit: String,
    /// The new item.
    pub item: Item,
    /// Seconds the profile learned before it was monitored.
    pub learned_secs: u64,
    /// Items the profile learned.
    pub learned_items: usize,
}

impl Drift {
    /// Rule name of the alert (`Behaviour drift: new executable`).
    pub fn rule(&self) -> String {
        format!("Behaviour drift: {}", self.item.kind.title())
    }

    /// Alert text naming the item, the profile and how long it learned.
    pub fn output(&self) -> String {
        format!(
            "Behaviour drift: {} {} never seen in profile {} (learned {}s, {} items) (profile.item_kind={})",
            self.item.kind.title(),
            self.item.value,
            self.unit,
            self.learned_secs,
            self.learned_items,
            self.item.kind.name(),
        )
    }

    /// Output fields: `profile.unit`, `profile.item_kind`, `profile.item`,
    /// `profile.learned_s`.
    pub fn fields(&self) -> Vec<(String, String)> {
        vec![
            ("profile.unit".into(), self.unit.clone()),
            ("profile.item_kind".into(), self.item.kind.name().into()),
            ("profile.item".into(), self.item.value.clone()),
            ("profile.learned_s".into(), self.learned_secs.to_string()),
        ]
    }
}

/// Counters of what the bounds turned away and what happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetCounters {
    /// Items learned.
    pub learned: u64,
    /// Items not learned: their profile was full.
    pub dropped_items: u64,
    /// Observations of units not profiled: the set was full.
    pub refused_units: u64,
    /// Drifts raised.
    pub drifts: u64,
    /// Profiles switched to monitor automatically.
    pub switched: u64,
}

/// Every profile, bounded in number and in items per profile.
#[derive(Debug)]
pub struct ProfileSet {
    settings: ProfileSettings,
    profiles: HashMap<String, Profile>,
    counters: SetCounters,
}

impl ProfileSet {
    /// An empty set with `settings`' bounds.
    pub fn new(settings: ProfileSettings) -> ProfileSet {
        ProfileSet {
            settings,
            profiles: HashMap::new(),
            counters: SetCounters::default(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &ProfileSettings {
        &self.settings
    }

    /// Add loaded profiles (`mode: monitor` puts each in monitor at
    /// `now_s`); beyond `max_profiles` they are refused and counted.
    pub fn insert_loaded(&mut self, loaded: Vec<Profile>, now_s: u64) {
        for mut p in loaded {
            if self.profiles.len() >= self.settings.max_profiles {
                self.counters.refused_units += 1;
                continue;
            }
            if self.settings.mode == super::StartMode::Monitor {
                p.monitor(now_s);
            }
            self.profiles.insert(p.unit.clone(), p);
        }
    }

    /// A profile by unit.
    pub fn get(&self, unit: &str) -> Option<&Profile> {
        self.profiles.get(unit)
    }

    /// Every profile.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// Mutable access to every profile (saving clears `dirty`).
    pub fn profiles_mut(&mut self) -> impl Iterator<Item = &mut Profile> {
        self.profiles.values_mut()
    }

    /// Counters so far.
    pub fn counters(&self) -> SetCounters {
        self.counters
    }

    /// Switch `unit`'s profile to monitor now (the manual switch); false
    /// when there is no such profile.
    pub fn monitor(&mut self, unit: &str, now_s: u64) -> bool {
        match self.profiles.get_mut(unit) {
            Some(p) => {
                p.monitor(now_s);
                true
            }
            None => false,
        }
    }

    /// Switch every learning profile stable for `stable_after_s` to monitor;
    /// the units switched.
    pub fn tick(&mut self, now_s: u64) -> Vec<String> {
        let after = self.settings.stable_after_s;
        if after == 0 {
            return Vec::new();
        }
        let mut switched = Vec::new();
        for p in self.profiles.values_mut() {
            if p.mode == Mode::Learning && now_s.saturating_sub(p.last_new_s) >= after {
                p.monitor(now_s);
                switched.push(p.unit.clone());
            }
        }
        self.counters.switched += switched.len() as u64;
        switched
    }

    /// One event's items for `unit`, most important first. Learning: new
    /// items are learned. Monitor: the first item neither learned nor
    /// already drifted is returned as a [`Drift`]; the event's other new
    /// items are remembered as drifted without an alert of their own (one
    /// alert per event).
    pub fn observe(&mut self, unit: &str, items: &[Item], now_s: u64) -> Option<Drift> {
        if !self.profiles.contains_key(unit) {
            if self.profiles.len() >= self.settings.max_profiles {
                self.counters.refused_units += 1;
                return None;
            }
            self.profiles
                .insert(unit.to_string(), Profile::new(unit, now_s));
        }
        let (max_items, max_drifted) = (self.settings.max_items, self.settings.max_drifted);
        let p = self.profiles.get_mut(unit)?;
        match p.mode {
            Mode::Learning => {
                for it in items {
                    if p.knows(it) {
                        continue;
                    }
                    if p.len() >= max_items {
                        p.dropped += 1;
                        self.counters.dropped_items += 1;
                        continue;
                    }
                    p.items.entry(it.kind).or_default().insert(it.value.clone());
                    p.last_new_s = now_s;
                    p.dirty = true;
                    self.counters.learned += 1;
                }
                None
            }
            Mode::Monitor => {
                let mut first = None;
                for it in items {
                    let seen = p.knows(it)
                        || p.drifted
                            .get(&it.kind)
                            .is_some_and(|s| s.contains(&it.value));
                    if seen {
                        continue;
                    }
                    let remembered: usize = p.drifted.values().map(|s| s.len()).sum();
                    if remembered < max_drifted {
                        p.drifted
                            .entry(it.kind)
                            .or_default()
                            .insert(it.value.clone());
                        p.dirty = true;
                    }
                    if first.is_none() {
                        first = Some(it.clone());
                    }
                }
                let item = first?;
                self.counters.drifts += 1;
                Some(Drift {
                    unit: unit.to_string(),
                    item,
                    learned_secs: p.learned_secs(now_s),
                    learned_items: p.len(),
                })
            }
        }
    }

    /// Kinds a profile of `unit` learned, with their counts (for logs).
    pub fn summary(&self, unit: &str) -> Vec<(ItemKind, usize)> {
        self.profiles
            .get(unit)
            .map(|p| p.items.iter().map(|(k, v)| (*k, v.len())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe(p: &str) -> Item {
        Item::new(ItemKind::Executable, p)
    }

    fn set(stable: u64) -> ProfileSet {
        ProfileSet::new(ProfileSettings {
            stable_after_s: stable,
            ..ProfileSettings::default()
        })
    }

    #[test]
    fn learns_then_switches_after_the_stable_period_then_drifts_once() {
        let mut s = set(10);
        assert_eq!(s.observe("u", &[exe("/bin/sh")], 100), None);
        assert_eq!(s.observe("u", &[exe("/bin/cat")], 105), None);
        assert!(s.tick(114).is_empty(), "9 s since the last new item");
        assert_eq!(s.tick(115), vec!["u".to_string()]);
        assert_eq!(s.get("u").unwrap().mode, Mode::Monitor);
        assert_eq!(s.observe("u", &[exe("/bin/cat")], 120), None);
        let d = s.observe("u", &[exe("/bin/nc")], 121).expect("drift");
        assert_eq!(d.item, exe("/bin/nc"));
        assert_eq!(d.learned_secs, 15);
        assert_eq!(d.rule(), "Behaviour drift: new executable");
        assert!(d.output().contains("/bin/nc") && d.output().contains("profile u"));
        assert_eq!(s.observe("u", &[exe("/bin/nc")], 122), None, "once only");
        assert!(!s.get("u").unwrap().knows(&exe("/bin/nc")));
        assert_eq!(s.counters().drifts, 1);
    }

    #[test]
    fn one_alert_per_event_most_important_first() {
        let mut s = set(0);
        s.observe("u", &[exe("/bin/sh")], 1);
        s.monitor("u", 2);
        let edge = Item::new(ItemKind::ExecEdge, "/bin/sh -> /bin/nc");
        let d = s.observe("u", &[exe("/bin/nc"), edge.clone()], 3).unwrap();
        assert_eq!(d.item.kind, ItemKind::Executable);
        assert_eq!(s.observe("u", &[edge], 4), None, "remembered as drifted");
        assert!(s.tick(1_000_000).is_empty(), "stable_after 0: manual only");
    }

    #[test]
    fn bounds_stop_learning_and_refuse_units_and_count() {
        let mut s = ProfileSet::new(ProfileSettings {
            max_profiles: 1,
            max_items: 2,
            ..ProfileSettings::default()
        });
        s.observe("a", &[exe("/1"), exe("/2"), exe("/3")], 1);
        assert_eq!(s.get("a").unwrap().len(), 2);
        assert_eq!(s.get("a").unwrap().dropped, 1);
        assert_eq!(s.observe("b", &[exe("/1")], 1), None);
        assert!(s.get("b").is_none());
        let c = s.counters();
        assert_eq!((c.learned, c.dropped_items, c.refused_units), (2, 1, 1));
    }
}
