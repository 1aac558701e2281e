//! `peregrine profile`: look at, switch and export behaviour profile files
//! (written by the agent under `profiles: {dir}`; see docs/DETECTION.md).
use anyhow::Context;
use clap::Subcommand;
use peregrine_detect::profile::{export, now_s, store, Mode, Profile};
use std::path::{Path, PathBuf};

/// `peregrine profile …`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print each profile of a file or directory: unit, state, items by kind.
    Show {
        /// A profile file or the agent's profiles directory.
        path: PathBuf,
        /// The agent's `stable_after_s`, for the confidence shown (time
        /// since the last new item over it; 1 once monitored).
        #[arg(long, value_name = "SECS", default_value_t = 3600)]
        stable_after: u64,
    },
    /// Switch a profile file to `monitor` or back to `learning` (while the
    /// agent is stopped: it saves its own copy at shutdown).
    SetMode {
        /// The profile file.
        file: PathBuf,
        /// `monitor` or `learning`.
        #[arg(value_parser = ["monitor", "learning"])]
        mode: String,
    },
    /// Write a profile as Falco-language allow-list rules.
    Export {
        /// The profile file.
        file: PathBuf,
        /// Write the rules here (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "RULES.yaml")]
        output: Option<PathBuf>,
    },
}

/// Runs a `profile` sub-command.
pub fn run(cmd: ProfileCommand) -> anyhow::Result<()> {
    match cmd {
        ProfileCommand::Show { path, stable_after } => show(&path, stable_after),
        ProfileCommand::SetMode { file, mode } => {
            let mut p = store::read(&file)?;
            let now = now_s();
            match mode.as_str() {
                "monitor" => p.monitor(now),
                _ => {
                    p.mode = Mode::Learning;
                    p.monitor_since_s = None;
                    p.last_new_s = now;
                }
            }
            let dir = file.parent().unwrap_or(Path::new("."));
            let written = store::write(dir, &p)?;
            if written != file {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove {}", file.display()))?;
            }
            println!("{}: {}", p.unit, p.mode.name());
            Ok(())
        }
        ProfileCommand::Export { file, output } => {
            let rules = export::falco_rules(&store::read(&file)?);
            match output {
                Some(o) => std::fs::write(&o, rules)
                    .with_context(|| format!("cannot write {}", o.display())),
                None => {
                    print!("{rules}");
                    Ok(())
                }
            }
        }
    }
}

fn show(path: &Path, stable_after: u64) -> anyhow::Result<()> {
    let profiles: Vec<Profile> = if path.is_dir() {
        store::load_dir(path)?
    } else {
        vec![store::read(path)?]
    };
    let now = now_s();
    for p in profiles {
        println!(
            "{}: {} (confidence {:.2}), learned {}s, last new item {}s ago, {} items, {} drifted, {} not learned (full)",
            p.unit,
            p.mode.name(),
            p.confidence(now, stable_after),
            p.learned_secs(now),
            now.saturating_sub(p.last_new_s),
            p.len(),
            p.drifted.values().map(|s| s.len()).sum::<usize>(),
            p.dropped
        );
        for (kind, items) in &p.items {
            println!(
                "  {kind} ({}): {}",
                items.len(),
                items.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use peregrine_detect::profile::{export, Item, ItemKind, ProfileSet, ProfileSettings};

    #[test]
    fn an_exported_profile_loads_in_the_rule_engine() {
        let mut set = ProfileSet::new(ProfileSettings::default());
        let items = [
            Item::new(ItemKind::Executable, "/bin/sh"),
            Item::new(ItemKind::Executable, "/usr/bin/my \"odd\" tool"),
            Item::new(ItemKind::ExecEdge, "/bin/sh -> /bin/cat"),
            Item::new(ItemKind::FileRead, "/etc/"),
            Item::new(ItemKind::FileRead, "/proc/*/"),
            Item::new(ItemKind::FileWrite, "/tmp/"),
            Item::new(ItemKind::Peer, "10.0.0.1:443"),
            Item::new(ItemKind::Peer, "[2001:db8::1]:53"),
            Item::new(ItemKind::Peer, "10.1.2.0/24:80"),
            Item::new(ItemKind::ListenPort, "tcp/8080"),
            Item::new(ItemKind::User, "0"),
        ];
        set.observe("image:registry:5000/app:1.0", &items, 1);
        let rules = export::falco_rules(set.get("image:registry:5000/app:1.0").unwrap());
        let engine = peregrine_rules::Engine::from_str("exported.yaml", &rules)
            .unwrap_or_else(|e| panic!("{e}\n{rules}"));
        assert_eq!(engine.stats().enabled, 7, "{rules}");
        assert!(
            rules.contains(r#"fd.name pmatch (\"/etc\", \"/proc\")"#)
                || rules.contains(r#"fd.name pmatch ("/etc", "/proc")"#),
            "{rules}"
        );
        // A host unit, and kinds with nothing learned, load too.
        set.observe("exe:/usr/sbin/sshd", &[Item::new(ItemKind::User, "0")], 1);
        let rules = export::falco_rules(set.get("exe:/usr/sbin/sshd").unwrap());
        let engine = peregrine_rules::Engine::from_str("host.yaml", &rules)
            .unwrap_or_else(|e| panic!("{e}\n{rules}"));
        assert_eq!(engine.stats().enabled, 7);
    }
}
