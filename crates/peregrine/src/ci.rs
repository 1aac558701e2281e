//! `peregrine ci -- COMMAND`: runtime analysis inside a pipeline.
//!
//! Runs the command with the sensor scoped (in the kernel) to this process's
//! descendants and to the containers created while it runs (followed through
//! Docker's event stream on `--docker-socket`), evaluates the rules, prints a
//! report, writes SARIF 2.1.0 and JUnit XML, and exits 1 when an alert at or
//! above `--fail-on` fired (otherwise with the command's own exit status).
use crate::cli::CiArgs;
use anyhow::{anyhow, Context, Result};
use peregrine_agent::alert::Alert;
use peregrine_agent::{AgentConfig, Settings, Wiring};
use peregrine_rules::{Engine, Priority};
use peregrine_state::docker::{self, DockerClient, DockerEvents, EventRead};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sarif_level(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => "error",
        Priority::Warning => "warning",
        _ => "note",
    }
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The cgroup v2 id (directory inode) of a Docker container, if it exists yet.
fn container_cgroup_id(id: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    [
        format!("/sys/fs/cgroup/unified/docker/{id}"),
        format!("/sys/fs/cgroup/docker/{id}"),
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/unified/system.slice/docker-{id}.scope"),
    ]
    .iter()
    .find_map(|p| std::fs::metadata(p).ok().map(|m| m.ino()))
}

/// The events that announce a container: created, then started.
const NEW_CONTAINERS: &str = r#"{"type":["container"],"event":["create","start"]}"#;

/// Subscribe to Docker's events before the command runs. A socket named
/// with `--docker-socket` that cannot be reached is an error; the default
/// one is optional (no Docker here: no containers to follow).
fn subscribe(named: Option<&Path>) -> Result<Option<DockerEvents>> {
    let socket = named.unwrap_or(Path::new(docker::DEFAULT_SOCKET));
    let opened = DockerClient::new(socket, Duration::from_secs(2))
        .and_then(|mut c| c.events(NEW_CONTAINERS));
    match opened {
        Ok(events) => Ok(Some(events)),
        Err(e) if named.is_some() => Err(anyhow!("--docker-socket: {e}")),
        Err(e) => {
            tracing::info!("containers started by the command are not followed: {e}");
            Ok(None)
        }
    }
}

/// Put the cgroup of every container created while the command runs into
/// the kernel scope (containers are not descendants of the command: dockerd
/// and the shim start them).
fn follow_containers(mut events: DockerEvents, feed: Arc<Mutex<Vec<u64>>>) {
    loop {
        let line = match events.next(Duration::from_secs(60)) {
            Ok(EventRead::Line(line)) => line,
            Ok(EventRead::Idle) => continue,
            Ok(EventRead::End) => return,
            Err(e) => {
                tracing::warn!(
                    "Docker event stream: {e}; containers started from now on are not followed"
                );
                return;
            }
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = v["id"].as_str().or_else(|| v["Actor"]["ID"].as_str()) else {
            continue;
        };
        // The cgroup appears when the runtime creates the container.
        for _ in 0..400 {
            if let Some(cg) = container_cgroup_id(id) {
                feed.lock().unwrap_or_else(|p| p.into_inner()).push(cg);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What the reports say about a rule or a sequence rule.
struct RuleInfo<'e> {
    name: &'e str,
    desc: &'e str,
    priority: Priority,
    tags: &'e [String],
}

/// The enabled rules, then the sequence rules.
fn rule_infos(engine: &Engine) -> Vec<RuleInfo<'_>> {
    let rules = engine.rules().iter().map(|r| RuleInfo {
        name: &r.name,
        desc: &r.desc,
        priority: r.priority,
        tags: &r.tags,
    });
    let seqs = engine.sequences().list().iter().map(|s| RuleInfo {
        name: &s.name,
        desc: &s.desc,
        priority: s.priority,
        tags: &s.tags,
    });
    rules.chain(seqs).collect()
}

/// The SARIF 2.1.0 document for a run.
pub fn sarif(engine: &Engine, alerts: &[Alert], command: &str) -> serde_json::Value {
    let fired: BTreeMap<&str, Priority> = alerts
        .iter()
        .map(|a| (a.rule.as_str(), a.priority))
        .collect();
    let rules: Vec<serde_json::Value> = rule_infos(engine)
        .iter()
        .filter(|r| fired.contains_key(r.name))
        .map(|r| {
            serde_json::json!({
                "id": r.name,
                "name": r.name.split_whitespace().collect::<String>(),
                "shortDescription": { "text": r.name },
                "fullDescription": { "text": r.desc.trim() },
                "defaultConfiguration": { "level": sarif_level(r.priority) },
                "properties": { "tags": r.tags, "priority": r.priority.as_str() }
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let uri = a
                .output_fields
                .get("fd.name")
                .filter(|v| v.starts_with('/'))
                .or_else(|| a.output_fields.get("proc.exepath"))
                .cloned()
                .or_else(|| a.ancestry.first().map(|p| p.exepath.clone()))
                .unwrap_or_else(|| "unknown".into());
            serde_json::json!({
                "ruleId": a.rule,
                "level": sarif_level(a.priority),
                "message": { "text": a.output },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": format!("file://{uri}") } } }],
                "partialFingerprints": { "peregrineAlertId": a.id },
                "properties": { "time": a.time, "outputFields": a.output_fields, "container": a.container }
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "Peregrine",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/peregrine",
                "rules": rules
            }},
            "invocations": [{ "executionSuccessful": true, "commandLine": command }],
            "results": results
        }]
    })
}

/// The JUnit XML report: one test case per enabled rule.
pub fn junit(engine: &Engine, alerts: &[Alert], fail_on: Priority) -> String {
    let mut by_rule: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by_rule.entry(a.rule.as_str()).or_default().push(a);
    }
    let infos = rule_infos(engine);
    let failures = infos
        .iter()
        .filter(|r| {
            by_rule
                .get(r.name)
                .is_some_and(|v| v.iter().any(|a| a.priority <= fail_on))
        })
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"peregrine\" tests=\"{n}\" failures=\"{failures}\">\n  <testsuite name=\"runtime rules\" tests=\"{n}\" failures=\"{failures}\">\n",
        n = infos.len()
    );
    for r in &infos {
        out.push_str(&format!(
            "    <testcase classname=\"peregrine.rules\" name=\"{}\">",
            xml(r.name)
        ));
        if let Some(v) = by_rule.get(r.name) {
            let text: Vec<String> = v.iter().map(|a| xml(&a.output)).collect();
            if v.iter().any(|a| a.priority <= fail_on) {
                out.push_str(&format!(
                    "\n      <failure message=\"{} alert(s)\" type=\"{}\">{}</failure>\n    ",
                    v.len(),
                    r.priority,
                    text.join("\n")
                ));
            } else {
                out.push_str(&format!(
                    "\n      <system-out>{}</system-out>\n    ",
                    text.join("\n")
                ));
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Run the command and report.
pub fn run(args: CiArgs) -> Result<()> {
    let fail_on = Priority::parse(&args.fail_on)
        .ok_or_else(|| anyhow!("--fail-on '{}': not a priority", args.fail_on))?;
    let rules = crate::rules::rule_paths(&args.rules, args.no_default_rules)?;
    let engine = crate::rules::load_engine(&rules, false)?;
    let baseline =
        crate::ci_baseline::prepare(args.learn_baseline.as_deref(), args.baseline.as_deref())?;
    let collected = Arc::new(Mutex::new(Vec::new()));
    let cgroups = Arc::new(Mutex::new(Vec::new()));
    if let Some(events) = subscribe(args.docker_socket.as_deref())? {
        let feed = cgroups.clone();
        std::thread::spawn(move || follow_containers(events, feed));
    }
    let cfg = AgentConfig {
        settings: Settings {
            rules,
            outputs: Vec::new(),
            metrics_addr: None,
            docker_socket: args
                .docker_socket
                .clone()
                .unwrap_or_else(|| docker::DEFAULT_SOCKET.into()),
            profiles: baseline.settings.clone(),
            ..Settings::default()
        },
        wiring: Wiring {
            scope_pids: Some(vec![std::process::id()]),
            scope_cgroups: Some(cgroups),
            collector: Some(collected.clone()),
            ..Wiring::default()
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    let status: Arc<Mutex<Option<std::process::ExitStatus>>> = Arc::new(Mutex::new(None));
    let spawn_err: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let (stop2, status2, err2) = (stop.clone(), status.clone(), spawn_err.clone());
    let command = args.command.clone();
    let stats = peregrine_agent::run(&cfg, stop, move |_| {
        let (prog, rest) = command.split_first().expect("clap requires a command");
        match std::process::Command::new(prog).args(rest).spawn() {
            Ok(mut child) => {
                std::thread::spawn(move || {
                    let st = child.wait().ok();
                    *status2.lock().unwrap_or_else(|p| p.into_inner()) = st;
                    // Let the last events of the command reach the rules.
                    std::thread::sleep(Duration::from_millis(500));
                    stop2.store(true, Ordering::SeqCst);
                });
            }
            Err(e) => {
                *err2.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("cannot run {prog}: {e}"));
                stop2.store(true, Ordering::SeqCst);
            }
        }
    })?;
    if let Some(e) = spawn_err.lock().unwrap_or_else(|p| p.into_inner()).take() {
        anyhow::bail!(e);
    }
    let alerts = std::mem::take(&mut *collected.lock().unwrap_or_else(|p| p.into_inner()));
    let command_line = args.command.join(" ");
    if let Some(path) = &args.sarif {
        let doc = sarif(&engine, &alerts, &command_line);
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&engine, &alerts, fail_on))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failing: Vec<&Alert> = alerts.iter().filter(|a| a.priority <= fail_on).collect();
    eprintln!("\n== peregrine ci: {command_line}");
    if alerts.is_empty() {
        eprintln!("no alerts");
    }
    for a in &alerts {
        let mark = if a.priority <= fail_on {
            "FAIL"
        } else {
            "info"
        };
        eprintln!("{mark}  [{}] {}: {}", a.priority, a.rule, a.output);
    }
    let st = status.lock().unwrap_or_else(|p| p.into_inner()).take();
    eprintln!(
        "{} alert(s), {} at or above {}; command {}; {} event(s), {} dropped in the kernel",
        alerts.len(),
        failing.len(),
        fail_on,
        st.map(|s| s.to_string())
            .unwrap_or_else(|| "did not finish".into()),
        stats.events,
        stats.kernel_drops
    );
    if !failing.is_empty() {
        std::process::exit(1);
    }
    match st.and_then(|s| s.code()) {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => std::process::exit(1),
    }
}
