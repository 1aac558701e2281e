//! Container metadata from containerd's API: containers that Kubernetes
//! (through the CRI plugin), `ctr` or nerdctl run without Docker.
//!
//! containerd speaks gRPC on a unix socket; the calls are made through its
//! generated client (`containerd-client`: tonic + prost) on a small
//! current-thread runtime that the client owns. One connection serves every
//! lookup until it fails.

use crate::containers::{split_image, RuntimeError};
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::{Container, GetContainerRequest, ListNamespacesRequest};
use containerd_client::tonic::{self, transport::Channel, Code};
use peregrine_event::ContainerView;
use prost::Message;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Where containerd usually listens.
pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";

/// The gRPC metadata key naming the namespace of a call.
const NAMESPACE_KEY: &str = "containerd-namespace";

/// A containerd client for container lookups.
#[derive(Debug)]
pub struct Containerd {
    socket: PathBuf,
    timeout: Duration,
    rt: Option<Arc<Runtime>>,
    channel: Option<Channel>,
    namespaces: Option<(Vec<String>, Instant)>,
}

impl Containerd {
    /// A client for the containerd socket at `socket` (nothing is connected
    /// until the first lookup); each call is bounded by `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Containerd {
        Containerd {
            socket: socket.into(),
            timeout,
            rt: None,
            channel: None,
            namespaces: None,
        }
    }

    /// The socket this client uses.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Metadata of container `id`, searched in every containerd namespace
    /// (`k8s.io` first: that is where Kubernetes puts its containers).
    pub fn lookup(&mut self, id: &str) -> Result<ContainerView, RuntimeError> {
        let rt = match &self.rt {
            Some(rt) => rt.clone(),
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(|source| RuntimeError::Local {
                        what: "starting the containerd client's I/O runtime",
                        source,
                    })?;
                self.rt.insert(Arc::new(rt)).clone()
            }
        };
        let failed = |r: &Result<ContainerView, RuntimeError>| matches!(r, Err(e) if !matches!(e, RuntimeError::NotFound));
        let reused = self.channel.is_some();
        let mut result = rt.block_on(self.lookup_in_namespaces(id));
        if reused && failed(&result) {
            // The kept connection broke (containerd restarted, say: tonic
            // then answers UNKNOWN "transport error"): once more, afresh.
            self.channel = None;
            result = rt.block_on(self.lookup_in_namespaces(id));
        }
        if failed(&result) {
            self.channel = None; // reconnect at the next lookup
        }
        result
    }

    async fn lookup_in_namespaces(&mut self, id: &str) -> Result<ContainerView, RuntimeError> {
        let channel = self.channel().await?;
        let namespaces = self.namespaces(&channel).await?;
        let mut client = ContainersClient::new(channel);
        for ns in &namespaces {
            let request = namespaced(GetContainerRequest { id: id.to_string() }, ns)?;
            match self.bounded(client.get(request)).await? {
                Ok(answer) => {
                    let container = answer.into_inner().container.ok_or_else(|| {
                        RuntimeError::Protocol("containerd: answer without container".into())
                    })?;
                    return view_of(container, ns);
                }
                Err(status) if status.code() == Code::NotFound => continue,
                Err(status) => return Err(self.status_error(status)),
            }
        }
        Err(RuntimeError::NotFound)
    }

    /// The connection, made on first use.
    async fn channel(&mut self) -> Result<Channel, RuntimeError> {
        if let Some(c) = &self.channel {
            return Ok(c.clone());
        }
        let channel = self
            .bounded(containerd_client::connect(&self.socket))
            .await?
            .map_err(|e| self.connect_error(&e))?;
        Ok(self.channel.insert(channel).clone())
    }

    /// containerd's namespaces (cached for 30 s), `k8s.io` first.
    async fn namespaces(&mut self, channel: &Channel) -> Result<Vec<String>, RuntimeError> {
        if let Some((names, at)) = &self.namespaces {
            if at.elapsed() < Duration::from_secs(30) {
                return Ok(names.clone());
            }
        }
        let mut client = NamespacesClient::new(channel.clone());
        let request = ListNamespacesRequest {
            filter: String::new(),
        };
        let answer = self
            .bounded(client.list(request))
            .await?
            .map_err(|s| self.status_error(s))?;
        let mut names: Vec<String> = answer
            .into_inner()
            .namespaces
            .into_iter()
            .map(|n| n.name)
            .collect();
        names.sort_by_key(|n| (n != "k8s.io", n.clone()));
        self.namespaces = Some((names.clone(), Instant::now()));
        Ok(names)
    }

    /// `call`, or an error when it takes longer than the timeout.
    async fn bounded<T>(&self, call: impl Future<Output = T>) -> Result<T, RuntimeError> {
        tokio::time::timeout(self.timeout, call).await.map_err(|_| {
            RuntimeError::Protocol(format!(
                "containerd did not answer within {:?}",
                self.timeout
            ))
        })
    }

    /// A failed call: unreachable (UNAVAILABLE) or an unexpected answer.
    fn status_error(&self, status: tonic::Status) -> RuntimeError {
        if status.code() == Code::Unavailable {
            return RuntimeError::Connect {
                path: self.socket.display().to_string(),
                source: std::io::Error::other(status.message().to_string()),
            };
        }
        RuntimeError::Protocol(format!(
            "containerd answered gRPC status {:?}: {}",
            status.code(),
            status.message()
        ))
    }

    /// A connection that could not be made, with the system's reason.
    fn connect_error(&self, e: &tonic::transport::Error) -> RuntimeError {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let io = std::iter::from_fn(|| {
            let c = cause?;
            cause = c.source();
            Some(c)
        })
        .find_map(|c| c.downcast_ref::<std::io::Error>());
        RuntimeError::Connect {
            path: self.socket.display().to_string(),
            source: match io {
                Some(io) => std::io::Error::new(io.kind(), io.to_string()),
                None => std::io::Error::other(e.to_string()),
            },
        }
    }
}

/// A request for `namespace`.
fn namespaced<T>(message: T, namespace: &str) -> Result<tonic::Request<T>, RuntimeError> {
    let value = namespace.parse().map_err(|_| {
        RuntimeError::Protocol(format!("containerd namespace {namespace:?} is not ASCII"))
    })?;
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(NAMESPACE_KEY, value);
    Ok(request)
}

/// Parse an encoded `containerd.services.containers.v1.Container` message.
pub fn parse_container(msg: &[u8], namespace: &str) -> Result<ContainerView, RuntimeError> {
    let container = Container::decode(msg)
        .map_err(|e| RuntimeError::Protocol(format!("containerd: malformed container: {e}")))?;
    view_of(container, namespace)
}

/// The view of a container of `namespace`.
fn view_of(c: Container, namespace: &str) -> Result<ContainerView, RuntimeError> {
    if c.id.is_empty() {
        return Err(RuntimeError::Protocol("container without id".into()));
    }
    let mut v = ContainerView {
        id: c.id,
        labels: c.labels.into_iter().collect(),
        image: c.image,
        runtime: "containerd".into(),
        ..ContainerView::default()
    };
    if let Some(ts) = c.created_at {
        let secs = u64::try_from(ts.seconds).unwrap_or(0);
        let nanos = u64::try_from(ts.nanos).unwrap_or(0);
        v.start_ns = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
    }
    let (repo, tag) = split_image(&v.image);
    v.image_repository = repo;
    v.image_tag = if v.image.is_empty() {
        String::new()
    } else {
        tag
    };
    v.name = name_of(&v.labels, &v.id);
    if let Some(spec) = c.spec.and_then(|s| serde_json::from_slice(&s.value).ok()) {
        apply_spec(&mut v, &spec);
    }
    v.labels
        .entry("io.containerd.namespace".into())
        .or_insert_with(|| namespace.to_string());
    Ok(v)
}

/// Kubernetes' container name, nerdctl's name, or the id.
fn name_of(labels: &BTreeMap<String, String>, id: &str) -> String {
    ["io.kubernetes.container.name", "nerdctl/name"]
        .iter()
        .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()))
        .cloned()
        .unwrap_or_else(|| id.to_string())
}

/// Privileged flag and bind mounts from the OCI runtime spec. Privileged
/// means what `--privileged` does to a spec: every capability including
/// CAP_SYS_ADMIN and no masked paths.
fn apply_spec(v: &mut ContainerView, spec: &serde_json::Value) {
    let sys_admin = spec
        .pointer("/process/capabilities/bounding")
        .and_then(|c| c.as_array())
        .is_some_and(|caps| caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
    let masked = spec
        .pointer("/linux/maskedPaths")
        .and_then(|m| m.as_array())
        .is_some_and(|m| !m.is_empty());
    v.privileged = sys_admin && !masked;
    if let Some(mounts) = spec.get("mounts").and_then(|m| m.as_array()) {
        for m in mounts {
            let s = |k: &str| m.get(k).and_then(|x| x.as_str()).unwrap_or("");
            if s("type") != "bind" && !s("source").starts_with('/') {
                continue;
            }
            let ro = m
                .get("options")
                .and_then(|o| o.as_array())
                .is_some_and(|o| o.iter().any(|x| x == "ro"));
            v.mounts.push((
                s("source").into(),
                s("destination").into(),
                String::new(),
                !ro,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_msg() -> Vec<u8> {
        let spec = br#"{"process":{"capabilities":{"bounding":["CAP_SYS_ADMIN"]}},"linux":{},
            "mounts":[{"destination":"/var/run/docker.sock","type":"bind","source":"/var/run/docker.sock","options":["rbind","rw"]},
                      {"destination":"/proc","type":"proc","source":"proc"}]}"#;
        Container {
            id: "abc".into(),
            labels: [
                ("io.kubernetes.pod.name", "web-0"),
                ("io.kubernetes.container.name", "nginx"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            image: "docker.io/library/nginx:1.25".into(),
            spec: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: spec.to_vec(),
            }),
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Container::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn container_message_parses() {
        let v = parse_container(&container_msg(), "k8s.io").unwrap();
        assert_eq!(v.id, "abc");
        assert_eq!(v.name, "nginx");
        assert_eq!(v.image_repository, "docker.io/library/nginx");
        assert_eq!(v.image_tag, "1.25");
        assert_eq!(v.labels["io.kubernetes.pod.name"], "web-0");
        assert_eq!(v.labels["io.containerd.namespace"], "k8s.io");
        assert!(v.privileged, "CAP_SYS_ADMIN and no masked paths");
        assert_eq!(v.mounts.len(), 1);
        assert_eq!(v.mounts[0].0, "/var/run/docker.sock");
        assert!(v.mounts[0].3);
        assert_eq!(v.start_ns, 1_700_000_000 * 1_000_000_000);
        assert_eq!(v.runtime, "containerd");
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let good = container_msg();
        for cut in 0..good.len() {
            let _ = parse_container(&good[..cut], "x");
        }
        for junk in [
            &[0xff_u8; 12][..],
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
            &[0x0b],
            &[],
        ] {
            assert!(parse_container(junk, "x").is_err());
        }
    }

    #[test]
    fn unreachable_socket_is_a_connect_error() {
        let mut c = Containerd::new("/nonexistent/containerd.sock", Duration::from_millis(200));
        assert!(matches!(c.lookup("abc"), Err(RuntimeError::Connect { .. })));
    }
}
