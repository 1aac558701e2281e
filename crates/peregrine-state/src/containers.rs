//! Container metadata: cgroup leaf name → container id → Docker Engine API
//! (see [`crate::docker`]), then containerd (see [`crate::containerd`]).

use crate::docker::DockerClient;
use peregrine_event::ContainerView;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The container id inside a cgroup leaf name, if it names a container:
/// `<64 hex>`, `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`.
pub fn container_id(cgroup_leaf: &str) -> Option<&str> {
    let s = cgroup_leaf.strip_suffix(".scope").unwrap_or(cgroup_leaf);
    let id = s.rsplit(['-', ':']).next().unwrap_or(s);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Split `registry/repo:tag@digest` into repository and tag.
pub fn split_image(image: &str) -> (String, String) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match no_digest[slash..].rfind(':') {
        Some(i) => (
            no_digest[..slash + i].to_string(),
            no_digest[slash + i + 1..].to_string(),
        ),
        None => (no_digest.to_string(), "latest".to_string()),
    }
}

/// Why metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket could not be reached.
    #[error("cannot reach {path}: {source}")]
    Connect {
        /// Socket path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime answered something unexpected.
    #[error("bad answer from the container runtime: {0}")]
    Protocol(String),
    /// The container is unknown to the runtime.
    #[error("container not found")]
    NotFound,
    /// Something local failed (not the runtime's answer).
    #[error("{what}: {source}")]
    Local {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Parse a `GET /containers/<id>/json` answer.
pub fn parse_inspect(body: &[u8]) -> Result<ContainerView, RuntimeError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    let image = s("/Config/Image");
    let (repo, tag) = split_image(&image);
    let labels = v
        .pointer("/Config/Labels")
        .and_then(|l| l.as_object())
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mounts = v
        .pointer("/Mounts")
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .map(|m| {
                    let g = |k: &str| m.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                    (
                        g("Source"),
                        g("Destination"),
                        g("Mode"),
                        m.get("RW").and_then(|x| x.as_bool()).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let id = s("/Id");
    if id.is_empty() {
        return Err(RuntimeError::Protocol(
            "inspect answer without an Id".into(),
        ));
    }
    Ok(ContainerView {
        id,
        name: s("/Name").trim_start_matches('/').to_string(),
        image,
        image_repository: repo,
        image_tag: tag,
        image_id: s("/Image"),
        privileged: v
            .pointer("/HostConfig/Privileged")
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        labels,
        mounts,
        start_ns: peregrine_event::time::parse_rfc3339(&s("/State/StartedAt")),
        runtime: "docker".into(),
        workload: None,
    })
}

/// Fill a pod container's workload once the API server answered.
fn add_workload(kube: &mut crate::kube::OwnerResolver, view: &mut Arc<ContainerView>) {
    if view.workload.is_some() {
        return;
    }
    let (Some(ns), Some(pod)) = (
        view.labels.get("io.kubernetes.pod.namespace"),
        view.labels.get("io.kubernetes.pod.name"),
    ) else {
        return;
    };
    if let crate::kube::Lookup::Ready(w) = kube.lookup(ns, pod) {
        let mut v = (**view).clone();
        v.workload = Some(w);
        *view = Arc::new(v);
    }
}

/// Is process `pid` in container `id` (by its cgroup path)?
fn in_container(pid: u32, id: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|c| c.lines().any(|l| l.contains(id)))
}

/// Cached container metadata, looked up on first sight of a container id.
#[derive(Debug)]
pub struct ContainerCache {
    docker_socket: PathBuf,
    /// Created at the first lookup (never for an offline cache).
    docker: Option<DockerClient>,
    containerd: Option<crate::containerd::Containerd>,
    /// Owner workloads of pods from the Kubernetes API server.
    kube: Option<crate::kube::OwnerResolver>,
    timeout: Duration,
    known: HashMap<String, (Option<Arc<ContainerView>>, Instant)>,
    /// Overlayfs upper directory of each container's root, once read
    /// (`None`: the root is not an overlayfs).
    upper: HashMap<String, Option<PathBuf>>,
    warned: bool,
    offline: bool,
    /// Lookups that failed.
    pub failures: u64,
}

impl ContainerCache {
    /// A cache reading from the Docker socket at `docker_socket`.
    pub fn new(docker_socket: impl Into<PathBuf>) -> ContainerCache {
        ContainerCache {
            docker_socket: docker_socket.into(),
            docker: None,
            containerd: None,
            kube: None,
            timeout: Duration::from_millis(500),
            known: HashMap::new(),
            upper: HashMap::new(),
            warned: false,
            offline: false,
            failures: 0,
        }
    }

    /// Also ask containerd at `socket` for containers Docker does not know
    /// (Kubernetes through CRI, `ctr`, nerdctl).
    pub fn with_containerd(mut self, socket: impl Into<PathBuf>) -> ContainerCache {
        self.containerd = Some(crate::containerd::Containerd::new(socket, self.timeout));
        self
    }

    /// Also ask the Kubernetes API server for the workload owning each
    /// container's pod (in the background; see [`crate::kube`]).
    pub fn with_kubernetes(mut self, resolver: crate::kube::OwnerResolver) -> ContainerCache {
        self.kube = Some(resolver);
        self
    }

    /// A cache that never asks a runtime (replay): containers are known only
    /// through [`ContainerCache::insert`]; others are reported by id.
    pub fn offline() -> ContainerCache {
        ContainerCache {
            offline: true,
            ..ContainerCache::new("/nonexistent")
        }
    }

    /// Add known metadata.
    pub fn insert(&mut self, view: ContainerView) {
        self.known
            .insert(view.id.clone(), (Some(Arc::new(view)), Instant::now()));
    }

    /// Metadata for the container behind a cgroup leaf name (None on the host).
    /// Unknown ids are looked up (bounded by the timeout); failures are retried
    /// after 2 s so that a container seen while starting is resolved later.
    pub fn lookup(&mut self, cgroup_leaf: &str) -> Option<&ContainerView> {
        self.lookup_shared(cgroup_leaf).map(|c| &**c)
    }

    /// Like [`ContainerCache::lookup`], as a shared handle that stays valid
    /// while the cache changes (what rule workers hold).
    pub fn lookup_shared(&mut self, cgroup_leaf: &str) -> Option<&Arc<ContainerView>> {
        let id = container_id(cgroup_leaf)?;
        let fresh = match self.known.get(id) {
            Some((Some(_), _)) => false,
            Some((None, at)) => at.elapsed() > Duration::from_secs(2),
            None => true,
        };
        if fresh {
            let got = self.fetch(id).map(Arc::new);
            self.known.insert(id.to_string(), (got, Instant::now()));
        }
        if let (Some(kube), Some((Some(view), _))) = (self.kube.as_mut(), self.known.get_mut(id)) {
            add_workload(kube, view);
        }
        self.known.get(id).and_then(|(v, _)| v.as_ref())
    }

    fn fetch(&mut self, id: &str) -> Option<ContainerView> {
        if self.offline {
            return Some(ContainerView {
                id: id.to_string(),
                ..ContainerView::default()
            });
        }
        // Docker first, then containerd; only when no runtime can be
        // reached is the bare id reported (a container that no runtime
        // knows yet is retried: it may still be starting).
        let mut unreachable = Vec::new();
        let mut asked = 1;
        match self.ask_docker(id) {
            Ok(v) => return Some(v),
            Err(RuntimeError::NotFound) => {}
            Err(e @ RuntimeError::Connect { .. }) => unreachable.push(e.to_string()),
            Err(e) => {
                self.failures += 1;
                tracing::warn!("container {id}: {e}");
                return None;
            }
        }
        if let Some(c) = self.containerd.as_mut() {
            asked += 1;
            match c.lookup(id) {
                Ok(v) => return Some(v),
                Err(RuntimeError::NotFound) => {}
                Err(e @ RuntimeError::Connect { .. }) => unreachable.push(e.to_string()),
                Err(e) => {
                    self.failures += 1;
                    tracing::warn!("container {id}: {e}");
                    return None;
                }
            }
        }
        self.failures += 1;
        if unreachable.len() < asked {
            tracing::debug!("container {id}: not known to any runtime yet");
            return None;
        }
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                "container metadata unavailable ({}); container.id is still reported",
                unreachable.join("; ")
            );
        }
        Some(ContainerView {
            id: id.to_string(),
            ..ContainerView::default()
        })
    }

    fn ask_docker(&mut self, id: &str) -> Result<ContainerView, RuntimeError> {
        let docker = match &mut self.docker {
            Some(d) => d,
            None => self
                .docker
                .insert(DockerClient::new(&self.docker_socket, self.timeout)?),
        };
        docker.inspect(id)
    }

    /// For a process in a container that just ran `exe`: the executable's
    /// metadata when it is in the container's overlayfs upper layer, i.e.
    /// not part of its image (`Some(None)`: it is from the image)
    /// (see [`crate::overlay`])? `None` on the host, for non-overlay roots
    /// and when it cannot be told.
    ///
    /// The upper directory is read once per container from the mount table
    /// of `pid`, or of `ppid` when `pid` has already exited (a short-lived
    /// first process).
    pub fn exe_upper_file(
        &mut self,
        cgroup_leaf: &str,
        pid: u32,
        ppid: u32,
        exe: &str,
    ) -> Option<Option<std::fs::Metadata>> {
        if self.offline {
            return None;
        }
        let id = container_id(cgroup_leaf)?;
        let upper = match self.upper.get(id) {
            Some(u) => u,
            None => {
                // Not cached when unreadable: the next exec may tell.
                let u = match crate::overlay::upper_dir_of(pid) {
                    Ok(u) => u,
                    // The parent only if it is in the same container (a
                    // `docker exec`'s parent is on the host).
                    Err(_) if in_container(ppid, id) => crate::overlay::upper_dir_of(ppid).ok()?,
                    Err(_) => return None,
                };
                self.upper.entry(id.to_string()).or_insert(u)
            }
        };
        crate::overlay::upper_file(upper.as_deref()?, exe)
    }

    /// Forget a container (it was destroyed).
    pub fn forget(&mut self, id: &str) {
        self.known.remove(id);
        self.upper.remove(id);
    }

    /// Apply an update from the runtime's event stream. After an
    /// interruption, failed lookups are retried at the next sight.
    pub fn apply(&mut self, update: crate::RuntimeUpdate) {
        match update {
            crate::RuntimeUpdate::Upsert(v) => self.insert(*v),
            crate::RuntimeUpdate::Remove(id) => self.forget(&id),
            crate::RuntimeUpdate::Interrupted => self.known.retain(|_, (v, _)| v.is_some()),
        }
    }

    /// Drop failed lookups older than a minute (containers that never
    /// resolved), so that the cache stays bounded without an event stream.
    /// Containers resolved without an event stream (containerd) are looked
    /// up again after ten minutes, so that the removed ones go away.
    pub fn gc(&mut self) {
        self.known.retain(|_, (v, at)| match v {
            None => at.elapsed() < Duration::from_secs(60),
            Some(c) if c.runtime == "containerd" => at.elapsed() < Duration::from_secs(600),
            Some(_) => true,
        });
        let known = &self.known;
        self.upper.retain(|id, _| known.contains_key(id));
    }

    /// Number of containers known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when none are known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_cgroup_leaves() {
        let id = "a".repeat(64);
        assert_eq!(container_id(&id), Some(id.as_str()));
        assert_eq!(
            container_id(&format!("docker-{id}.scope")),
            Some(id.as_str())
        );
        assert_eq!(
            container_id(&format!("cri-containerd-{id}.scope")),
            Some(id.as_str())
        );
        assert_eq!(container_id("user.slice"), None);
        assert_eq!(container_id(""), None);
        assert_eq!(container_id(&"g".repeat(64)), None);
    }

    #[test]
    fn images_split() {
        assert_eq!(split_image("nginx"), ("nginx".into(), "latest".into()));
        assert_eq!(
            split_image("docker.io/library/nginx:1.25"),
            ("docker.io/library/nginx".into(), "1.25".into())
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app".into(), "latest".into())
        );
        assert_eq!(split_image("a/b:c@sha256:00"), ("a/b".into(), "c".into()));
    }

    #[test]
    fn inspect_answers_parse_and_garbage_is_an_error() {
        let body = br#"{"Id":"abc","Name":"/web","Image":"sha256:1","Config":{"Image":"nginx:1.25","Labels":{"io.kubernetes.pod.name":"p"}},
            "HostConfig":{"Privileged":true},"Mounts":[{"Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock","Mode":"","RW":true}],
            "State":{"StartedAt":"2026-11-25T13:00:00.5Z"}}"#;
        let c = parse_inspect(body).unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.image_repository.as_str(),
                c.image_tag.as_str()
            ),
            ("web", "nginx", "1.25")
        );
        assert!(c.privileged);
        assert_eq!(c.labels["io.kubernetes.pod.name"], "p");
        assert_eq!(c.mounts[0].1, "/var/run/docker.sock");
        assert_eq!(c.start_ns, 1_795_611_600_500_000_000);
        assert!(parse_inspect(b"not json").is_err());
        assert!(parse_inspect(b"{}").is_err());
    }

    #[test]
    fn missing_socket_still_reports_the_id() {
        let mut c = ContainerCache::new("/nonexistent/docker.sock");
        let id = "b".repeat(64);
        assert_eq!(c.lookup(&id).map(|v| v.id.clone()), Some(id));
        assert!(c.lookup("init.scope").is_none());
    }
}
