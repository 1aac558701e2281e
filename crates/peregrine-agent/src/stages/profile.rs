//! Behaviour profiles as a detector ([`peregrine_detect::profile`]): each
//! event's items are learned into its unit's profile, or, once the profile
//! is monitored, raise a drift alert that goes through the same routing,
//! dedup, response and sinks as rule alerts (`source: profile`).
//!
//! One [`ProfileEngine`] is shared by the detector instances of every
//! worker (a profile merges every process and container of its unit). It
//! saves changed profiles every `save_every_s` (checked as events arrive)
//! and when the last detector is dropped at shutdown.

use crate::context::{HostInfo, Snapshot};
use crate::evaluate::Raised;
use crate::metrics::{CategoryLabel, Metrics};
use crate::stages::detect::{Detector, DetectorFactory};
use peregrine_detect::profile::{
    store, Compression, Drift, Item, ItemKind, ProfileFileError, ProfileSet, ProfileSettings,
};
use peregrine_event::alert::Priority;
use peregrine_event::{Endpoint, EventData, EventKind};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Event kinds the profiles learn from (captured whatever the rules need).
pub const KINDS: [EventKind; 4] = [
    EventKind::Exec,
    EventKind::Open,
    EventKind::Connect,
    EventKind::Listen,
];

/// `kinds` plus what the profiles need when they are on.
pub fn with_kinds(
    mut kinds: BTreeSet<EventKind>,
    settings: &crate::config::Settings,
) -> BTreeSet<EventKind> {
    if settings.profiles.is_some() {
        kinds.extend(KINDS);
    }
    kinds
}

/// The profile detector's factory when profiles are on. A profile file
/// that does not load is logged naming the file and the agent runs with
/// rules only (`None`).
pub fn factory(
    settings: &crate::config::Settings,
    metrics: &Arc<Metrics>,
) -> Option<DetectorFactory> {
    let ps = settings.profiles.as_ref()?;
    match ProfileEngine::start(ps.clone(), Some(metrics.clone())) {
        Ok(engine) => Some(engine.factory()),
        Err(e) => {
            tracing::error!("behaviour profiles off, running with rules only: {e}");
            None
        }
    }
}

struct Shared {
    set: ProfileSet,
    last_tick_s: u64,
    last_save_s: u64,
}

/// The profiles every detector instance learns into and checks against.
pub struct ProfileEngine {
    shared: Mutex<Shared>,
    compression: Compression,
    containers_only: bool,
    metrics: Option<Arc<Metrics>>,
}

impl ProfileEngine {
    /// Load the profiles from `settings.dir` (if any); counters go to
    /// `metrics` (`peregrine_profiles`).
    pub fn start(
        settings: ProfileSettings,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Arc<ProfileEngine>, ProfileFileError> {
        let loaded = match &settings.dir {
            Some(d) => store::load_dir(d)?,
            None => Vec::new(),
        };
        let now = peregrine_detect::profile::now_s();
        let compression = settings.compression();
        let containers_only = settings.containers_only;
        let mut set = ProfileSet::new(settings);
        let n = loaded.len();
        set.insert_loaded(loaded, now);
        let monitored = set
            .profiles()
            .filter(|p| p.mode == peregrine_detect::profile::Mode::Monitor)
            .count();
        tracing::info!(profiles = n, monitored, "behaviour profiles loaded");
        Ok(Arc::new(ProfileEngine {
            shared: Mutex::new(Shared {
                set,
                last_tick_s: 0,
                last_save_s: 0,
            }),
            compression,
            containers_only,
            metrics,
        }))
    }

    /// A factory of detectors sharing this engine.
    pub fn factory(self: &Arc<Self>) -> DetectorFactory {
        let engine = self.clone();
        Arc::new(move || {
            Box::new(ProfileDetector {
                engine: engine.clone(),
            })
        })
    }

    /// Save every changed profile (errors are logged).
    pub fn save(&self) {
        let mut sh = match self.shared.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        save_dirty(&mut sh.set);
    }

    fn observe(&self, unit: &str, items: &[Item], now_s: u64) -> Option<Drift> {
        let mut sh = match self.shared.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Event time (a replayed capture's too): at most once per second.
        if now_s != sh.last_tick_s {
            sh.last_tick_s = now_s;
            for u in sh.set.tick(now_s) {
                let p = sh.set.get(&u);
                tracing::info!(
                    unit = %u,
                    items = p.map_or(0, |p| p.len()),
                    "behaviour profile stable: monitoring"
                );
            }
            self.publish(&sh.set);
            let every = sh.set.settings().save_every_s.max(1);
            if now_s.saturating_sub(sh.last_save_s) >= every || now_s < sh.last_save_s {
                sh.last_save_s = now_s;
                save_dirty(&mut sh.set);
            }
        }
        sh.set.observe(unit, items, now_s)
    }
}

impl ProfileEngine {
    fn publish(&self, set: &ProfileSet) {
        let Some(m) = &self.metrics else {
            return;
        };
        let c = set.counters();
        let monitored = set
            .profiles()
            .filter(|p| p.mode == peregrine_detect::profile::Mode::Monitor)
            .count();
        let items: usize = set.profiles().map(|p| p.len()).sum();
        let values = [
            ("profiles", set.profiles().count() as u64),
            ("monitored", monitored as u64),
            ("items", items as u64),
            ("learned", c.learned),
            ("drifts", c.drifts),
            ("dropped_items", c.dropped_items),
            ("refused_units", c.refused_units),
        ];
        for (name, v) in values {
            m.profiles
                .get_or_create(&CategoryLabel {
                    category: name.into(),
                })
                .set(v as i64);
        }
    }
}

impl Drop for ProfileEngine {
    fn drop(&mut self) {
        let sh = match self.shared.get_mut() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        save_dirty(&mut sh.set);
        let c = sh.set.counters();
        tracing::info!(
            learned = c.learned,
            drifts = c.drifts,
            dropped_items = c.dropped_items,
            refused_units = c.refused_units,
            "behaviour profiles saved"
        );
    }
}

fn save_dirty(set: &mut ProfileSet) {
    let Some(dir) = set.settings().dir.clone() else {
        return;
    };
    for p in set.profiles_mut().filter(|p| p.dirty) {
        match store::write(&dir, p) {
            Ok(_) => p.dirty = false,
            Err(e) => tracing::error!("cannot save behaviour profile {}: {e}", p.unit),
        }
    }
}

/// One worker's detector over the shared [`ProfileEngine`].
pub struct ProfileDetector {
    engine: Arc<ProfileEngine>,
}

impl Detector for ProfileDetector {
    fn name(&self) -> &str {
        "profile"
    }

    fn detect(&mut self, snap: &Snapshot, host: &HostInfo, out: &mut Vec<Raised>) {
        if !KINDS.contains(&snap.event.kind) {
            return;
        }
        // The container runtime's init (`runc:[2:INIT]`) sets the container
        // up before the workload's first exec: not the workload.
        if snap.container.is_some() && snap.event.process.comm.starts_with("runc:") {
            return;
        }
        let items = items_of(snap, &self.engine.compression);
        if items.is_empty() {
            return;
        }
        let Some(unit) = unit_of(snap, self.engine.containers_only) else {
            return;
        };
        let now_s = snap.event.ts_ns / 1_000_000_000;
        if let Some(d) = self.engine.observe(&unit, &items, now_s) {
            out.push(drift_alert(&d, snap, host));
        }
    }
}

/// The profile unit of an event: `image:REPOSITORY:TAG` in a container,
/// else `exe:PATH` (for an exec, the parent's executable: what it runs is
/// its behaviour).
pub fn unit_of(snap: &Snapshot, containers_only: bool) -> Option<String> {
    if let Some(c) = &snap.container {
        return Some(
            match (c.image_repository.is_empty(), c.image_tag.is_empty()) {
                (false, false) => format!("image:{}:{}", c.image_repository, c.image_tag),
                (false, true) => format!("image:{}", c.image_repository),
                _ if !c.image.is_empty() => format!("image:{}", c.image),
                _ => format!("container:{}", c.name),
            },
        );
    }
    if containers_only {
        return None;
    }
    let level = usize::from(snap.event.kind == EventKind::Exec);
    let exe = snap.chain.get(level).map(|p| p.exepath.as_str())?;
    (!exe.is_empty()).then(|| format!("exe:{exe}"))
}

/// The items an event shows, most important first.
pub fn items_of(snap: &Snapshot, c: &Compression) -> Vec<Item> {
    let ev = &snap.event;
    let mut items = Vec::new();
    match &ev.data {
        EventData::Exec(x) => {
            let exe = if x.exe.is_empty() {
                &x.filename
            } else {
                &x.exe
            };
            if exe.is_empty() {
                return items;
            }
            items.push(Item::new(ItemKind::Executable, exe.clone()));
            if let Some(parent) = snap.chain.get(1).filter(|p| !p.exepath.is_empty()) {
                items.push(Item::new(
                    ItemKind::ExecEdge,
                    format!("{} -> {exe}", parent.exepath),
                ));
            }
            items.push(Item::new(ItemKind::User, ev.process.uid.to_string()));
        }
        EventData::File(f) if ev.kind == EventKind::Open && f.ret >= 0 => {
            const O_ACCMODE: u64 = 3;
            const O_CREAT: u64 = 0o100;
            const O_TRUNC: u64 = 0o1000;
            let write = f.flags & O_ACCMODE != 0 || f.flags & (O_CREAT | O_TRUNC) != 0;
            let kind = match write {
                true => ItemKind::FileWrite,
                false => ItemKind::FileRead,
            };
            if let Some(prefix) = c.path_prefix(&f.path) {
                items.push(Item::new(kind, prefix));
            }
        }
        EventData::Net(n) => match (ev.kind, &n.remote, &n.local) {
            (EventKind::Connect, Some(Endpoint::Ip { ip, port }), _) => {
                items.push(Item::new(ItemKind::Peer, c.peer(*ip, *port)));
            }
            (EventKind::Listen, _, Some(Endpoint::Ip { port, .. })) if n.ret >= 0 => {
                let proto = if n.sock_type == 2 { "udp" } else { "tcp" };
                items.push(Item::new(ItemKind::ListenPort, format!("{proto}/{port}")));
            }
            _ => {}
        },
        _ => {}
    }
    items
}

/// The alert of a drift, in Falco's shape (`source: profile`).
fn drift_alert(d: &Drift, snap: &Snapshot, host: &HostInfo) -> Raised {
    let priority = match d.item.kind {
        ItemKind::FileRead | ItemKind::FileWrite => Priority::Notice,
        _ => Priority::Warning,
    };
    let mut fields: std::collections::BTreeMap<String, String> = d.fields().into_iter().collect();
    let ev = &snap.event;
    fields.insert("evt.type".into(), ev.kind.name().into());
    fields.insert("proc.pid".into(), ev.process.pid.to_string());
    fields.insert("proc.name".into(), ev.process.comm.clone());
    if let Some(p) = snap.chain.first() {
        fields.insert("proc.exepath".into(), p.exepath.clone());
        fields.insert(
            "proc.cmdline".into(),
            peregrine_event::model::cmdline_of(&p.name, &p.args),
        );
    }
    if let Some(c) = &snap.container {
        fields.insert("container.id".into(), c.id.chars().take(12).collect());
        fields.insert(
            "container.image.repository".into(),
            c.image_repository.clone(),
        );
    }
    let m = peregrine_rules::Match {
        rule: d.rule(),
        priority,
        output: d.output(),
        output_fields: fields,
        tags: vec!["profile".into(), "drift".into()],
    };
    let mut alert = crate::alert::build(m, snap, host);
    alert.source = "profile".into();
    Raised {
        alert,
        threshold: None,
        response: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use peregrine_detect::profile::StartMode;
    use peregrine_event::{ContainerView, Event, Exec, FileOp, NetOp, Process, ProcessView};

    fn snap(ts_s: u64, kind: EventKind, data: EventData, exe: &str) -> Snapshot {
        let view = |exe: &str, name: &str| {
            Arc::new(ProcessView {
                exepath: exe.into(),
                name: name.into(),
                ..ProcessView::default()
            })
        };
        Snapshot {
            event: Event {
                ts_ns: ts_s * 1_000_000_000,
                kind,
                syscall: None,
                process: Process {
                    pid: 42,
                    comm: "w".into(),
                    ..Process::default()
                },
                data,
            },
            chain: vec![view(exe, "w"), view("/bin/sh", "sh")],
            container: Some(Arc::new(ContainerView {
                id: "c0ffee".into(),
                image: "app:1".into(),
                image_repository: "app".into(),
                image_tag: "1".into(),
                ..ContainerView::default()
            })),
            num: 1,
        }
    }

    fn exec(ts: u64, exe: &str) -> Snapshot {
        let data = EventData::Exec(Exec {
            exe: exe.into(),
            ..Exec::default()
        });
        snap(ts, EventKind::Exec, data, exe)
    }

    fn open(ts: u64, path: &str, flags: u64) -> Snapshot {
        let data = EventData::File(FileOp {
            ret: 3,
            path: path.into(),
            flags,
            ..FileOp::default()
        });
        snap(ts, EventKind::Open, data, "/bin/cat")
    }

    #[test]
    fn the_detector_learns_switches_and_raises_falco_shaped_drift_alerts() {
        let metrics = Metrics::new();
        let settings = ProfileSettings {
            stable_after_s: 5,
            ..ProfileSettings::default()
        };
        let engine = ProfileEngine::start(settings, Some(metrics.clone())).unwrap();
        let mut d = (engine.factory())();
        let host = HostInfo::default();
        let mut out = Vec::new();
        for s in [
            exec(100, "/bin/cat"),
            open(100, "/etc/passwd", 0),
            open(101, "/tmp/x", 0o1101),
        ] {
            d.detect(&s, &host, &mut out);
        }
        assert!(out.is_empty(), "learning raises nothing");
        d.detect(&exec(106, "/bin/cat"), &host, &mut out); // the tick: stable 5 s
        assert!(out.is_empty());
        let connect = EventData::Net(NetOp {
            remote: Some(Endpoint::Ip {
                ip: "10.0.0.9".parse().unwrap(),
                port: 5432,
            }),
            ..NetOp::default()
        });
        for s in [
            open(107, "/etc/group", 0),
            open(107, "/tmp/y", 1),
            exec(107, "/bin/nc"),
            open(108, "/root/.ssh/id_rsa", 0),
            snap(108, EventKind::Connect, connect, "/bin/cat"),
        ] {
            d.detect(&s, &host, &mut out);
        }
        let got: Vec<(String, String, String)> = out
            .iter()
            .map(|r| {
                let a = &r.alert;
                assert_eq!(a.source, "profile");
                assert_eq!(a.output_fields["profile.unit"], "image:app:1");
                assert_eq!(a.container.as_ref().unwrap().id, "c0ffee");
                (
                    a.rule.clone(),
                    a.priority.to_string(),
                    a.output_fields["profile.item"].clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "Behaviour drift: new executable".into(),
                    "Warning".into(),
                    "/bin/nc".into()
                ),
                (
                    "Behaviour drift: new file read prefix".into(),
                    "Notice".into(),
                    "/root/.ssh/".into()
                ),
                (
                    "Behaviour drift: new outbound peer".into(),
                    "Warning".into(),
                    "10.0.0.9:5432".into()
                ),
            ]
        );
        assert!(
            out[0].alert.output.contains("learned 6s"),
            "{}",
            out[0].alert.output
        );
        d.detect(&exec(109, "/bin/nc"), &host, &mut out);
        assert_eq!(out.len(), 3, "a drifted item alerts once");
        d.detect(&exec(110, "/bin/cat"), &host, &mut out); // publishes the metrics
        let text = metrics.encode();
        for want in [
            "peregrine_profiles{category=\"monitored\"} 1",
            "peregrine_profiles{category=\"drifts\"} 3",
            "peregrine_profiles{category=\"items\"} 5",
        ] {
            assert!(text.contains(want), "{want} not in:\n{text}");
        }
    }

    #[test]
    fn profile_settings_read_from_yaml_and_unknown_keys_are_errors() {
        let s = Settings::from_yaml(
            "agent.yaml",
            "profiles: {dir: state/profiles, stable_after_s: 60, mode: monitor}\n",
            Some(std::path::Path::new("/etc/peregrine")),
        )
        .unwrap();
        let p = s.profiles.unwrap();
        assert_eq!(
            p.dir.as_deref(),
            Some(std::path::Path::new("/etc/peregrine/state/profiles"))
        );
        assert_eq!((p.stable_after_s, p.mode), (60, StartMode::Monitor));
        assert_eq!(p.max_items, 4096, "defaults for the rest");
        assert!(Settings::default().profiles.is_none(), "off unless given");
        let e = Settings::from_yaml("agent.yaml", "profiles: {dri: /x}\n", None).unwrap_err();
        let msg = e[0].to_string();
        assert!(
            msg.contains("agent.yaml:1:") && msg.contains("dri"),
            "{msg}"
        );
        let e = Settings::from_yaml("agent.yaml", "profiles: {mode: enforce}\n", None).unwrap_err();
        assert!(e[0].to_string().contains("enforce"), "{}", e[0]);
    }
}
