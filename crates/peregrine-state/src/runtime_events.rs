//! Following the container runtime's event stream (Docker Engine API
//! `GET /events`): containers are inspected when they start or are renamed,
//! before their processes raise alerts, and forgotten when they are
//! destroyed, so the metadata cache stays current and bounded.

use crate::containers::RuntimeError;
use crate::docker::{DockerClient, EventRead};
use peregrine_event::ContainerView;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A change to apply to the container cache.
#[derive(Debug, Clone)]
pub enum RuntimeUpdate {
    /// Fresh metadata (the container started or was renamed).
    Upsert(Box<ContainerView>),
    /// The container is gone.
    Remove(String),
    /// The stream broke off (or could not be opened): events may have been
    /// missed, so lookups that failed should be tried again.
    Interrupted,
}

/// What one line of the event stream asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamAction {
    /// Inspect this container (start, rename, update).
    Inspect(String),
    /// Forget this container (destroy).
    Forget(String),
}

/// Read one JSON line of Docker's event stream; `None` for events that do
/// not change metadata (or lines that are not container events).
pub fn parse_event_line(line: &[u8]) -> Option<StreamAction> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if v.get("Type").and_then(|t| t.as_str()) != Some("container") {
        return None;
    }
    let id = v
        .get("id")
        .or_else(|| v.pointer("/Actor/ID"))
        .and_then(|i| i.as_str())?;
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let action = v.get("Action").and_then(|a| a.as_str())?;
    match action {
        "start" | "rename" | "update" => Some(StreamAction::Inspect(id.to_string())),
        "destroy" => Some(StreamAction::Forget(id.to_string())),
        _ => None,
    }
}

/// The event filter: container events only.
const CONTAINER_EVENTS: &str = r#"{"type":["container"]}"#;

/// Follow Docker's events on `socket` until `stop` is set, sending updates
/// to `tx`. Reconnects with backoff while the daemon is away (logged once).
/// The thread has one [`DockerClient`] for the stream and the inspections.
pub fn watch_docker(
    socket: PathBuf,
    tx: Sender<RuntimeUpdate>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("pg-docker-events".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(500);
            let mut warned = false;
            let mut client = match DockerClient::new(&socket, Duration::from_secs(2)) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("docker event stream not followed: {e}");
                    return;
                }
            };
            while !stop.load(Ordering::Relaxed) {
                match follow(&mut client, &tx, &stop) {
                    Ok(()) => backoff = Duration::from_millis(500),
                    Err(e) => {
                        if !warned {
                            tracing::info!(
                                "docker event stream unavailable ({e}); metadata is looked up on first sight"
                            );
                            warned = true;
                        }
                    }
                }
                if tx.send(RuntimeUpdate::Interrupted).is_err() {
                    return; // the consumer is gone
                }
                let until = std::time::Instant::now() + backoff;
                while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        })
        .expect("spawn docker event thread")
}

/// One subscription: stream events until it ends, `stop` is set or the
/// consumer is gone.
fn follow(
    client: &mut DockerClient,
    tx: &Sender<RuntimeUpdate>,
    stop: &AtomicBool,
) -> Result<(), RuntimeError> {
    let mut events = client.events(CONTAINER_EVENTS)?;
    while !stop.load(Ordering::Relaxed) {
        let line = match events.next(Duration::from_millis(500))? {
            EventRead::Line(l) => l,
            EventRead::Idle => continue,
            EventRead::End => return Ok(()),
        };
        let update = match parse_event_line(&line) {
            Some(StreamAction::Inspect(id)) => match client.inspect(&id) {
                Ok(v) => Some(RuntimeUpdate::Upsert(Box::new(v))),
                Err(e) => {
                    tracing::debug!("container {id}: {e}");
                    None
                }
            },
            Some(StreamAction::Forget(id)) => Some(RuntimeUpdate::Remove(id)),
            None => None,
        };
        if let Some(u) = update {
            if tx.send(u).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_map_to_actions_and_garbage_is_ignored() {
        let id = "ab".repeat(32);
        let start = format!(
            r#"{{"status":"start","id":"{id}","from":"img","Type":"container","Action":"start","Actor":{{"ID":"{id}"}}}}"#
        );
        assert_eq!(
            parse_event_line(start.as_bytes()),
            Some(StreamAction::Inspect(id.clone()))
        );
        let destroy =
            format!(r#"{{"Type":"container","Action":"destroy","Actor":{{"ID":"{id}"}}}}"#);
        assert_eq!(
            parse_event_line(destroy.as_bytes()),
            Some(StreamAction::Forget(id.clone()))
        );
        let die = format!(r#"{{"Type":"container","Action":"die","id":"{id}"}}"#);
        assert_eq!(parse_event_line(die.as_bytes()), None);
        let net = format!(r#"{{"Type":"network","Action":"connect","id":"{id}"}}"#);
        assert_eq!(parse_event_line(net.as_bytes()), None);
        assert_eq!(parse_event_line(b"{not json"), None);
        assert_eq!(
            parse_event_line(br#"{"Type":"container","Action":"start","id":"../../etc"}"#),
            None,
            "ids are validated before they reach a URL"
        );
    }
}
