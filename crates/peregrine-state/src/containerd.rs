//! Container metadata from containerd's API: containers that Kubernetes
//! (through the CRI plugin), `ctr` or nerdctl run without Docker.
//!
//! containerd speaks gRPC on a unix socket. The two calls needed here
//! (list namespaces, get a container) are made over HTTP/2 with `h2`, and
//! their few protobuf fields are read by the small decoder below, instead of
//! generating a client for the whole API.

use crate::containers::{split_image, RuntimeError};
use bytes::Bytes;
use peregrine_event::ContainerView;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where containerd usually listens.
pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";

/// Largest answer accepted (a container with its OCI spec is a few KiB).
const MAX_ANSWER: usize = 4 << 20;

/// A containerd client for container lookups.
#[derive(Debug)]
pub struct Containerd {
    socket: PathBuf,
    timeout: Duration,
    rt: Option<tokio::runtime::Runtime>,
    namespaces: Option<(Vec<String>, Instant)>,
}

impl Containerd {
    /// A client for the containerd socket at `socket` (nothing is connected
    /// until the first lookup).
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Containerd {
        Containerd {
            socket: socket.into(),
            timeout,
            rt: None,
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
        let mut request = Vec::with_capacity(id.len() + 2);
        put_bytes(&mut request, 1, id.as_bytes());
        for ns in self.namespaces()? {
            match self.call(
                Some(&ns),
                "containerd.services.containers.v1.Containers/Get",
                &request,
            )? {
                Ok(answer) => {
                    let container = field_bytes(&answer, 1)?
                        .ok_or_else(|| RuntimeError::Protocol("answer without container".into()))?;
                    return parse_container(container, &ns);
                }
                Err(GRPC_NOT_FOUND) => continue,
                Err(code) => {
                    return Err(RuntimeError::Protocol(format!(
                        "containerd answered gRPC status {code}"
                    )))
                }
            }
        }
        Err(RuntimeError::NotFound)
    }

    /// containerd's namespaces (cached for 30 s), `k8s.io` first.
    fn namespaces(&mut self) -> Result<Vec<String>, RuntimeError> {
        if let Some((names, at)) = &self.namespaces {
            if at.elapsed() < Duration::from_secs(30) {
                return Ok(names.clone());
            }
        }
        let answer = self
            .call(
                None,
                "containerd.services.namespaces.v1.Namespaces/List",
                &[],
            )?
            .map_err(|code| RuntimeError::Protocol(format!("namespaces: gRPC status {code}")))?;
        let mut names = Vec::new();
        for f in Fields::new(&answer) {
            if let (1, Wire::Bytes(ns)) = f? {
                if let Some(name) = field_bytes(ns, 1)? {
                    names.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        names.sort_by_key(|n| (n != "k8s.io", n.clone()));
        self.namespaces = Some((names.clone(), Instant::now()));
        Ok(names)
    }

    /// One unary gRPC call: `Ok(Ok(answer))`, or `Ok(Err(grpc status))`.
    fn call(
        &mut self,
        namespace: Option<&str>,
        method: &str,
        request: &[u8],
    ) -> Result<Result<Vec<u8>, u32>, RuntimeError> {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| RuntimeError::Protocol(format!("runtime: {e}")))?;
            self.rt = Some(rt);
        }
        let socket = self.socket.clone();
        let timeout = self.timeout;
        let rt = self.rt.as_ref().expect("runtime just created");
        let mut framed = Vec::with_capacity(request.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(request.len() as u32).to_be_bytes());
        framed.extend_from_slice(request);
        let uri = format!("http://containerd/{method}");
        let namespace = namespace.map(str::to_string);
        rt.block_on(async move {
            match tokio::time::timeout(timeout, unary(socket, uri, namespace, framed)).await {
                Ok(r) => r,
                Err(_) => Err(RuntimeError::Protocol(
                    "containerd did not answer in time".into(),
                )),
            }
        })
    }
}

/// gRPC status NOT_FOUND.
const GRPC_NOT_FOUND: u32 = 5;

async fn unary(
    socket: PathBuf,
    uri: String,
    namespace: Option<String>,
    framed: Vec<u8>,
) -> Result<Result<Vec<u8>, u32>, RuntimeError> {
    let proto = |e: &dyn std::fmt::Display| RuntimeError::Protocol(format!("containerd: {e}"));
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|source| RuntimeError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
    let (client, connection) = h2::client::handshake(stream).await.map_err(|e| proto(&e))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.map_err(|e| proto(&e))?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(ns) = namespace {
        req = req.header("containerd-namespace", ns);
    }
    let req = req.body(()).map_err(|e| proto(&e))?;
    let (answer, mut send) = client.send_request(req, false).map_err(|e| proto(&e))?;
    send.send_data(Bytes::from(framed), true)
        .map_err(|e| proto(&e))?;
    let answer = answer.await.map_err(|e| proto(&e))?;
    let (head, mut body) = answer.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| proto(&e))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
        if data.len() > MAX_ANSWER {
            return Err(RuntimeError::Protocol("containerd answer too large".into()));
        }
    }
    let trailers = body.trailers().await.map_err(|e| proto(&e))?;
    driver.abort();
    let status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| head.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| RuntimeError::Protocol("containerd: no gRPC status".into()))?;
    if status != 0 {
        return Ok(Err(status));
    }
    // One length-prefixed, uncompressed message.
    if data.len() < 5 || data[0] != 0 {
        return Err(RuntimeError::Protocol("containerd: bad gRPC frame".into()));
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if data.len() < 5 + len {
        return Err(RuntimeError::Protocol(
            "containerd: short gRPC frame".into(),
        ));
    }
    Ok(Ok(data[5..5 + len].to_vec()))
}

/// Parse a `containerd.services.containers.v1.Container` message.
pub fn parse_container(msg: &[u8], namespace: &str) -> Result<ContainerView, RuntimeError> {
    let mut v = ContainerView {
        runtime: "containerd".into(),
        ..ContainerView::default()
    };
    let mut spec: Option<serde_json::Value> = None;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for f in Fields::new(msg) {
        match f? {
            (1, Wire::Bytes(b)) => v.id = text(b),
            (2, Wire::Bytes(entry)) => {
                let k = field_bytes(entry, 1)?.map(text).unwrap_or_default();
                let val = field_bytes(entry, 2)?.map(text).unwrap_or_default();
                v.labels.insert(k, val);
            }
            (3, Wire::Bytes(b)) => v.image = text(b),
            (5, Wire::Bytes(any)) => {
                if let Some(json) = field_bytes(any, 2)? {
                    spec = serde_json::from_slice(json).ok();
                }
            }
            (8, Wire::Bytes(ts)) => {
                let secs = field_varint(ts, 1)?.unwrap_or(0);
                let nanos = field_varint(ts, 2)?.unwrap_or(0);
                v.start_ns = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
            }
            _ => {}
        }
    }
    if v.id.is_empty() {
        return Err(RuntimeError::Protocol("container without id".into()));
    }
    let (repo, tag) = split_image(&v.image);
    v.image_repository = repo;
    v.image_tag = if v.image.is_empty() {
        String::new()
    } else {
        tag
    };
    v.name = name_of(&v.labels, &v.id);
    if let Some(spec) = spec {
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

// --- protobuf: just enough to read the fields above ---

#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Fields<'a> {
    b: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8]) -> Fields<'a> {
        Fields { b, failed: false }
    }
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), RuntimeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.b.is_empty() || self.failed {
            return None;
        }
        let bad =
            |what: &str| RuntimeError::Protocol(format!("containerd: malformed protobuf ({what})"));
        let mut b = self.b;
        let item = (|| {
            let key = varint(&mut b).ok_or_else(|| bad("key"))?;
            let wire = match key & 7 {
                0 => Wire::Varint(varint(&mut b).ok_or_else(|| bad("varint"))?),
                1 | 5 => {
                    let n = if key & 7 == 1 { 8 } else { 4 };
                    b = b.get(n..).ok_or_else(|| bad("fixed"))?;
                    Wire::Fixed
                }
                2 => {
                    let len = varint(&mut b).ok_or_else(|| bad("length"))? as usize;
                    let (v, rest) = (b.get(..len).ok_or_else(|| bad("length"))?, &b[len..]);
                    b = rest;
                    Wire::Bytes(v)
                }
                _ => return Err(bad("wire type")),
            };
            Ok((key >> 3, wire))
        })();
        match item {
            Ok(v) => {
                self.b = b;
                Some(Ok(v))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn field_bytes(msg: &[u8], no: u64) -> Result<Option<&[u8]>, RuntimeError> {
    for f in Fields::new(msg) {
        if let (n, Wire::Bytes(b)) = f? {
            if n == no {
                return Ok(Some(b));
            }
        }
    }
    Ok(None)
}

fn field_varint(msg: &[u8], no: u64) -> Result<Option<u64>, RuntimeError> {
    for f in Fields::new(msg) {
        if let (n, Wire::Varint(v)) = f? {
            if n == no {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, no: u64, b: &[u8]) {
    put_varint(out, (no << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_msg() -> Vec<u8> {
        let mut m = Vec::new();
        put_bytes(&mut m, 1, b"abc");
        for (k, v) in [
            ("io.kubernetes.pod.name", "web-0"),
            ("io.kubernetes.container.name", "nginx"),
        ] {
            let mut e = Vec::new();
            put_bytes(&mut e, 1, k.as_bytes());
            put_bytes(&mut e, 2, v.as_bytes());
            put_bytes(&mut m, 2, &e);
        }
        put_bytes(&mut m, 3, b"docker.io/library/nginx:1.25");
        let spec = br#"{"process":{"capabilities":{"bounding":["CAP_SYS_ADMIN"]}},"linux":{},
            "mounts":[{"destination":"/var/run/docker.sock","type":"bind","source":"/var/run/docker.sock","options":["rbind","rw"]},
                      {"destination":"/proc","type":"proc","source":"proc"}]}"#;
        let mut any = Vec::new();
        put_bytes(
            &mut any,
            1,
            b"types.containerd.io/opencontainers/runtime-spec/1/Spec",
        );
        put_bytes(&mut any, 2, spec);
        put_bytes(&mut m, 5, &any);
        let mut ts = Vec::new();
        put_varint(&mut ts, 1 << 3);
        put_varint(&mut ts, 1_700_000_000);
        put_bytes(&mut m, 8, &ts);
        m
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
