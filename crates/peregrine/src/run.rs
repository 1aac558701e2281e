//! `peregrine run`: agent, server and dashboard in one process. The agent
//! writes alerts straight into the server's store (no network hop) and
//! reports heartbeats and rules the same way.
use crate::cli::RunArgs;
use anyhow::Result;
use peregrine_agent::alert::Alert;
use peregrine_agent::report::{AgentStatus, Reporter};
use peregrine_agent::sinks::{Sink, SinkError};
use peregrine_agent::SinkFactory;
use peregrine_event::wire::{Heartbeat, RuleInfo};
use peregrine_rules::Priority;
use peregrine_server::Ingest;
use std::sync::Arc;
use std::time::Duration;

/// Sink into the in-process store: alerts batch up until the pipeline
/// flushes (after each burst).
struct StoreSink {
    ingest: Ingest,
    agent: String,
    batch: Vec<Alert>,
    failures: u64,
}

impl Sink for StoreSink {
    fn name(&self) -> &str {
        "store"
    }
    fn min_priority(&self) -> Priority {
        Priority::Debug
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.batch.push(alert.clone());
        if self.batch.len() >= 500 {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        match self.ingest.alerts(&self.agent, &self.batch) {
            Ok(_) => {
                self.batch.clear();
                Ok(())
            }
            Err(e) => {
                self.failures += 1;
                Err(SinkError::Io {
                    sink: "store".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            }
        }
    }
    fn failures(&self) -> u64 {
        self.failures
    }
}

struct LocalReporter {
    ingest: Ingest,
    agent: String,
}

impl Reporter for LocalReporter {
    fn heartbeat(&mut self, hb: &Heartbeat) -> bool {
        let hb = Heartbeat {
            agent: self.agent.clone(),
            ..hb.clone()
        };
        self.ingest.heartbeat(&hb).is_ok()
    }
    fn rules(&mut self, rules: &[RuleInfo]) -> bool {
        self.ingest.rules(&self.agent, rules).is_ok()
    }
}

/// Run until SIGINT/SIGTERM.
pub fn run(args: RunArgs) -> Result<()> {
    let mut cfg = crate::agent::effective_config(&args.agent)?;
    let (server, admin) = crate::server::start(&args.server)?;
    let url = server.url();
    let agent = peregrine_agent::report::hostname();
    let status = Arc::new(AgentStatus::new());
    cfg.wiring.status = Some(status.clone());
    let ingest = server.ingest.clone();
    let sink_agent = agent.clone();
    cfg.wiring.extra_sinks.push(SinkFactory(Arc::new(move || {
        Box::new(StoreSink {
            ingest: ingest.clone(),
            agent: sink_agent.clone(),
            batch: Vec::new(),
            failures: 0,
        }) as Box<dyn Sink>
    })));
    let (stop, reload) = crate::agent::signal_flags();
    let reporter = peregrine_agent::report::spawn_reporter(
        Box::new(LocalReporter {
            ingest: server.ingest.clone(),
            agent,
        }),
        status,
        Duration::from_secs(5),
        stop.clone(),
    );
    let ready = args.agent.ready;
    let result = peregrine_agent::run_with_reload(&cfg, stop.clone(), reload, |_| {
        // A one-time sign-in link, never the admin token itself.
        match server.sign_in_link(&admin) {
            Ok(link) => eprintln!(
                "peregrine: dashboard on {url}; sign in within {} min (link works once): {link}",
                server.sign_in_ttl().as_secs() / 60
            ),
            Err(e) => eprintln!("peregrine: dashboard on {url} (no sign-in link: {e})"),
        }
        eprintln!(
            "peregrine: or paste the admin token kept in {}",
            args.server.data_dir.join("admin.token").display()
        );
        if ready {
            eprintln!("ready {url}");
        }
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = reporter.join();
    server.stop();
    let stats = result?;
    tracing::info!(events = stats.events, alerts = stats.alerts, "stopped");
    Ok(())
}
