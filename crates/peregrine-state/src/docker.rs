//! The Docker Engine API client shared by container metadata lookups
//! ([`crate::ContainerCache`]), the event stream ([`crate::watch_docker`])
//! and `peregrine ci`.
//!
//! HTTP/1.1 is spoken by `hyper` over the unix socket; the client owns a
//! small current-thread tokio runtime so that its callers stay plain
//! threads. Requests reuse one kept-alive connection; the event stream has a
//! connection of its own. The API version is negotiated once per socket
//! (see [`negotiate`]).

use crate::containers::{parse_inspect, RuntimeError};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use peregrine_event::ContainerView;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Where Docker usually listens.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The API version asked for when the daemon speaks it: Debian's Docker
/// 20.10 speaks 1.41 at most, and every field read here has its 1.41 shape.
pub const PREFERRED_API: (u32, u32) = (1, 41);

/// Largest answer accepted (an inspect answer is a few KiB).
const MAX_ANSWER: usize = 16 << 20;

/// Longest line accepted on the event stream.
const MAX_EVENT_LINE: usize = 1 << 20;

/// The API version negotiated with the daemon on each socket (a handful of
/// sockets per process at most).
static NEGOTIATED: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

/// The API version to use with a daemon that speaks `daemon_max` (its
/// `ApiVersion`) down to `daemon_min` (its `MinAPIVersion`):
/// [`PREFERRED_API`] when the daemon speaks it, else the nearest version it
/// does speak. `None` when `daemon_max` is not a version.
pub fn negotiate(daemon_max: &str, daemon_min: Option<&str>) -> Option<(u32, u32)> {
    let parse = |v: &str| {
        let (a, b) = v.trim().split_once('.')?;
        Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?))
    };
    let max = parse(daemon_max)?;
    let mut chosen = max.min(PREFERRED_API);
    if let Some(min) = daemon_min.and_then(parse) {
        chosen = chosen.max(min.min(max));
    }
    Some(chosen)
}

/// What [`DockerEvents::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRead {
    /// One JSON line of the stream (without its newline).
    Line(Vec<u8>),
    /// Nothing arrived within the wait.
    Idle,
    /// The daemon closed the stream.
    End,
}

/// A client for the Docker Engine API on a unix socket. Nothing is
/// connected until the first request.
#[derive(Debug)]
pub struct DockerClient {
    socket: PathBuf,
    timeout: Duration,
    rt: Arc<Runtime>,
    conn: Option<SendRequest<Empty<Bytes>>>,
    api: Option<String>,
}

impl DockerClient {
    /// A client for `socket`; every request (connecting included) is bounded
    /// by `timeout`.
    pub fn new(
        socket: impl Into<PathBuf>,
        timeout: Duration,
    ) -> Result<DockerClient, RuntimeError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| RuntimeError::Local {
                what: "starting the Docker client's I/O runtime",
                source,
            })?;
        Ok(DockerClient {
            socket: socket.into(),
            timeout,
            rt: Arc::new(rt),
            conn: None,
            api: None,
        })
    }

    /// The socket this client uses.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /containers/<id>/json`: the container's metadata
    /// ([`RuntimeError::NotFound`] when Docker does not know it).
    pub fn inspect(&mut self, id: &str) -> Result<ContainerView, RuntimeError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(RuntimeError::NotFound); // not an id: never put in a URL
        }
        match self.get(&format!("/containers/{id}/json"))? {
            (200, body) => parse_inspect(&body),
            (404, _) => Err(RuntimeError::NotFound),
            (status, body) => Err(answered(status, &body)),
        }
    }

    /// `POST /containers/<id>/pause`: freeze every process of the container.
    pub fn pause(&mut self, id: &str) -> Result<(), RuntimeError> {
        self.container_post(id, "pause", self.timeout)
    }

    /// `POST /containers/<id>/unpause`.
    pub fn unpause(&mut self, id: &str) -> Result<(), RuntimeError> {
        self.container_post(id, "unpause", self.timeout)
    }

    /// `POST /containers/<id>/stop?t=<grace>`: SIGTERM, then SIGKILL after
    /// `grace` seconds (the request waits for the container to stop).
    pub fn stop(&mut self, id: &str, grace_s: u32) -> Result<(), RuntimeError> {
        let wait = self.timeout + Duration::from_secs(u64::from(grace_s) + 5);
        self.container_post(id, &format!("stop?t={grace_s}"), wait)
    }

    /// A POST on a container; 204 and 304 (already in that state) are done.
    fn container_post(
        &mut self,
        id: &str,
        what: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(RuntimeError::NotFound); // not an id: never put in a URL
        }
        let api = self.api()?;
        match self.send(
            hyper::Method::POST,
            &format!("/{api}/containers/{id}/{what}"),
            timeout,
        )? {
            (204 | 304, _) => Ok(()),
            (404, _) => Err(RuntimeError::NotFound),
            (status, body) => Err(answered(status, &body)),
        }
    }

    /// `GET /events` with `filters` (the API's JSON filter object, e.g.
    /// `{"type":["container"]}`), on a connection of its own.
    pub fn events(&mut self, filters: &str) -> Result<DockerEvents, RuntimeError> {
        let api = self.api()?;
        let query =
            percent_encoding::utf8_percent_encode(filters, percent_encoding::NON_ALPHANUMERIC);
        let path = format!("/{api}/events?filters={query}");
        let (socket, timeout, rt) = (self.socket.clone(), self.timeout, self.rt.clone());
        let (driver, answer) = rt.block_on(async {
            let (mut conn, driver) = connect(&socket).await?;
            let answer = tokio::time::timeout(
                timeout,
                conn.send_request(request(&hyper::Method::GET, &path)?),
            )
            .await
            .map_err(|_| late(timeout))?
            .map_err(|e| RuntimeError::Protocol(format!("Docker events: {e}")));
            Ok::<_, RuntimeError>((driver, answer))
        })?;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                driver.abort();
                return Err(e);
            }
        };
        let status = answer.status().as_u16();
        if status != 200 {
            driver.abort();
            return Err(answered(status, b""));
        }
        Ok(DockerEvents {
            rt,
            body: answer.into_body(),
            buf: Vec::with_capacity(8192),
            driver,
        })
    }

    /// A GET under the negotiated API version: status and body.
    fn get(&mut self, path: &str) -> Result<(u16, Bytes), RuntimeError> {
        let api = self.api()?;
        self.get_raw(&format!("/{api}{path}"))
    }

    /// `v1.41` or what [`negotiate`] settles on with this daemon: asked once
    /// per socket and process, so that the metadata lookups on the state
    /// stage do not pay for it when the event thread has asked already.
    fn api(&mut self) -> Result<String, RuntimeError> {
        if let Some(api) = &self.api {
            return Ok(api.clone());
        }
        let known = NEGOTIATED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(socket, _)| *socket == self.socket)
            .map(|(_, api)| api.clone());
        if let Some(api) = known {
            return Ok(self.api.insert(api).clone());
        }
        let (status, body) = self.get_raw("/version")?;
        if status != 200 {
            return Err(answered(status, &body));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RuntimeError::Protocol(format!("Docker /version: {e}")))?;
        let max = v.get("ApiVersion").and_then(|x| x.as_str()).unwrap_or("");
        let min = v.get("MinAPIVersion").and_then(|x| x.as_str());
        let (a, b) = negotiate(max, min).ok_or_else(|| {
            RuntimeError::Protocol(format!("Docker /version without an API version: {max:?}"))
        })?;
        let api = format!("v{a}.{b}");
        tracing::debug!("Docker at {}: API {api}", self.socket.display());
        let mut negotiated = NEGOTIATED.lock().unwrap_or_else(|p| p.into_inner());
        negotiated.retain(|(socket, _)| *socket != self.socket);
        negotiated.push((self.socket.clone(), api.clone()));
        self.api = Some(api.clone());
        Ok(api)
    }

    /// One GET on the kept-alive connection (reconnecting when the daemon
    /// closed it; a GET is retried once on a fresh connection).
    fn get_raw(&mut self, path: &str) -> Result<(u16, Bytes), RuntimeError> {
        self.send(hyper::Method::GET, path, self.timeout)
    }

    /// One request on the kept-alive connection, bounded by `timeout`.
    fn send(
        &mut self,
        method: hyper::Method,
        path: &str,
        timeout: Duration,
    ) -> Result<(u16, Bytes), RuntimeError> {
        let rt = self.rt.clone();
        let result = rt.block_on(async {
            tokio::time::timeout(timeout, self.exchange(&method, path))
                .await
                .unwrap_or_else(|_| Err(late(timeout)))
        });
        if result.is_err() {
            self.conn = None; // in an unknown state
        }
        result
    }

    async fn exchange(
        &mut self,
        method: &hyper::Method,
        path: &str,
    ) -> Result<(u16, Bytes), RuntimeError> {
        let reused = match self.conn.as_mut() {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        if !reused {
            self.conn = Some(connect(&self.socket).await?.0);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let answer = match conn.send_request(request(method, path)?).await {
            Ok(a) => a,
            Err(_) if reused => {
                // Closed by the daemon while idle: once more, afresh.
                let mut fresh = connect(&self.socket).await?.0;
                let a = fresh.send_request(request(method, path)?).await;
                self.conn = Some(fresh);
                a.map_err(|e| RuntimeError::Protocol(format!("Docker: {e}")))?
            }
            Err(e) => return Err(RuntimeError::Protocol(format!("Docker: {e}"))),
        };
        let status = answer.status().as_u16();
        let body = Limited::new(answer.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| RuntimeError::Protocol(format!("Docker answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// Docker's event stream: JSON lines, read with a bounded wait so that the
/// reader can check for shutdown.
#[derive(Debug)]
pub struct DockerEvents {
    rt: Arc<Runtime>,
    body: Incoming,
    buf: Vec<u8>,
    driver: JoinHandle<()>,
}

impl DockerEvents {
    /// The next line, waiting at most `wait` for it.
    pub fn next(&mut self, wait: Duration) -> Result<EventRead, RuntimeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(EventRead::Line(line));
            }
            if self.buf.len() > MAX_EVENT_LINE {
                return Err(RuntimeError::Protocol(
                    "Docker event line over 1 MiB".into(),
                ));
            }
            let (rt, body) = (&self.rt, &mut self.body);
            let frame =
                rt.block_on(async { tokio::time::timeout_at(deadline, body.frame()).await });
            match frame {
                Err(_) => return Ok(EventRead::Idle),
                Ok(None) => return Ok(EventRead::End),
                Ok(Some(Err(e))) => {
                    return Err(RuntimeError::Protocol(format!("Docker event stream: {e}")))
                }
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        self.buf.extend_from_slice(data);
                    }
                }
            }
        }
    }
}

impl Drop for DockerEvents {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn request(
    method: &hyper::Method,
    path: &str,
) -> Result<hyper::Request<Empty<Bytes>>, RuntimeError> {
    hyper::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(hyper::header::HOST, "docker")
        .body(Empty::new())
        .map_err(|e| RuntimeError::Protocol(format!("request {path}: {e}")))
}

/// A new HTTP/1.1 connection to the socket, its driver spawned.
async fn connect(
    socket: &Path,
) -> Result<(SendRequest<Empty<Bytes>>, JoinHandle<()>), RuntimeError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|source| RuntimeError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| RuntimeError::Protocol(format!("Docker handshake: {e}")))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("Docker connection: {e}");
        }
    });
    Ok((send, driver))
}

fn late(timeout: Duration) -> RuntimeError {
    RuntimeError::Protocol(format!("Docker did not answer within {timeout:?}"))
}

/// An unexpected HTTP status, with Docker's `{"message": …}` when present.
fn answered(status: u16, body: &[u8]) -> RuntimeError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string));
    RuntimeError::Protocol(match message {
        Some(m) => format!("Docker answered HTTP {status}: {m}"),
        None => format!("Docker answered HTTP {status}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_negotiate() {
        assert_eq!(negotiate("1.41", Some("1.12")), Some((1, 41)));
        assert_eq!(negotiate("1.47", Some("1.24")), Some((1, 41)));
        assert_eq!(negotiate("1.40", Some("1.12")), Some((1, 40)));
        // A daemon that dropped 1.41 (Docker 29 speaks 1.44 and up).
        assert_eq!(negotiate("1.51", Some("1.44")), Some((1, 44)));
        assert_eq!(negotiate("1.41", None), Some((1, 41)));
        assert_eq!(negotiate("", None), None);
        assert_eq!(negotiate("one.two", None), None);
    }

    #[test]
    fn unreachable_socket_is_a_connect_error() {
        let mut c =
            DockerClient::new("/nonexistent/docker.sock", Duration::from_millis(200)).unwrap();
        assert!(matches!(
            c.inspect(&"a".repeat(64)),
            Err(RuntimeError::Connect { .. })
        ));
        assert!(matches!(
            c.events(r#"{"type":["container"]}"#),
            Err(RuntimeError::Connect { .. })
        ));
    }
}
