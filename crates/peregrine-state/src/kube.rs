//! Owner workloads of Kubernetes pods, from the API server when RBAC allows:
//! pod → ReplicaSet → Deployment, pod → Job → CronJob, pod → DaemonSet, ….
//!
//! The kubelet's CRI labels give a container's pod and namespace; the
//! controllers above the pod are known only to the API server. Lookups run
//! on a background thread ([`OwnerResolver`]) so that a slow or unreachable
//! API server never stalls the event stream: the first events of a new pod
//! may lack the workload, later ones carry it. An API server that answers
//! 403 (no RBAC for it) turns the lookups off with one warning.

use peregrine_event::{OwnerRef, Workload};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Service-account files of a pod (in-cluster configuration).
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Controllers followed above a pod at most.
const MAX_DEPTH: usize = 4;
/// Pods whose answer is kept at once.
const MAX_PODS: usize = 8192;
/// A failed lookup (not 403/404) is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Service-account tokens rotate: the file is read again after this.
const TOKEN_TTL: Duration = Duration::from_secs(60);

/// Where the API server is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeConfig {
    /// Base URL, e.g. `https://10.96.0.1:443`.
    pub api: String,
    /// Bearer token file (read again every minute: tokens rotate).
    pub token_file: Option<PathBuf>,
    /// CA bundle (PEM) for the API server's certificate.
    pub ca: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl KubeConfig {
    /// The in-cluster configuration (`KUBERNETES_SERVICE_HOST`/`_PORT` and
    /// the service-account token and CA), `None` outside a cluster.
    pub fn in_cluster() -> Option<KubeConfig> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let dir = PathBuf::from(SA_DIR);
        Some(KubeConfig {
            api: format!("https://{host}:{port}"),
            token_file: Some(dir.join("token")),
            ca: Some(dir.join("ca.crt")),
            timeout: Duration::from_secs(3),
        })
    }
}

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The configuration cannot be used.
    #[error("kubernetes API {what}: {reason}")]
    Config {
        /// What is wrong.
        what: String,
        /// Why.
        reason: String,
    },
    /// The request failed (connect, TLS, timeout).
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// 401/403: the agent may not read this (RBAC).
    #[error("GET {url}: {status} (the agent's service account needs get on pods, replicasets, jobs and the other controllers)")]
    Forbidden {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// 404: the object is gone.
    #[error("GET {url}: not found")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// Another status or an unreadable body.
    #[error("GET {url}: {reason}")]
    Bad {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// A Kubernetes name as the API allows it (DNS-1123: lowercase letters,
/// digits, `-` and `.`, at most 253 bytes). Labels come from the container
/// runtime and may be hostile: anything else is never put into a URL.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with('.')
}

/// A blocking client of the few API paths the agent reads.
pub struct KubeApi {
    base: String,
    client: reqwest::blocking::Client,
    token_file: Option<PathBuf>,
    token: Option<(String, Instant)>,
}

impl KubeApi {
    /// A client for `cfg` (reads the CA now; the token at each request).
    pub fn new(cfg: &KubeConfig) -> Result<KubeApi, KubeError> {
        let mut b = reqwest::blocking::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca).map_err(|e| KubeError::Config {
                what: format!("CA {}", ca.display()),
                reason: e.to_string(),
            })?;
            for cert in
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| KubeError::Config {
                    what: format!("CA {}", ca.display()),
                    reason: e.to_string(),
                })?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let client = b.build().map_err(|e| KubeError::Config {
            what: "client".into(),
            reason: e.to_string(),
        })?;
        Ok(KubeApi {
            base: cfg.api.trim_end_matches('/').to_string(),
            client,
            token_file: cfg.token_file.clone(),
            token: None,
        })
    }

    fn bearer(&mut self) -> Result<Option<String>, KubeError> {
        let Some(file) = &self.token_file else {
            return Ok(None);
        };
        if let Some((t, at)) = &self.token {
            if at.elapsed() < TOKEN_TTL {
                return Ok(Some(t.clone()));
            }
        }
        let t = std::fs::read_to_string(file).map_err(|e| KubeError::Config {
            what: format!("token {}", file.display()),
            reason: e.to_string(),
        })?;
        let t = t.trim().to_string();
        self.token = Some((t.clone(), Instant::now()));
        Ok(Some(t))
    }

    /// GET `path` (starting with `/`) as JSON.
    pub fn get(&mut self, path: &str) -> Result<Value, KubeError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.get(&url).header("Accept", "application/json");
        if let Some(t) = self.bearer()? {
            req = req.bearer_auth(t);
        }
        let resp = req.send().map_err(|e| KubeError::Http {
            url: url.clone(),
            reason: chain(&e),
        })?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            401 | 403 => return Err(KubeError::Forbidden { url, status }),
            404 => return Err(KubeError::NotFound { url }),
            s => {
                return Err(KubeError::Bad {
                    url,
                    reason: format!("status {s}"),
                })
            }
        }
        // Objects are small; a huge answer is refused rather than buffered.
        let body = resp.bytes().map_err(|e| KubeError::Http {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if body.len() > 4 << 20 {
            return Err(KubeError::Bad {
                url,
                reason: format!("{} bytes answer refused", body.len()),
            });
        }
        serde_json::from_slice(&body).map_err(|e| KubeError::Bad {
            url,
            reason: format!("not JSON: {e}"),
        })
    }

    /// The controllers above pod `ns/pod`, its own first.
    pub fn workload(&mut self, ns: &str, pod: &str) -> Result<Workload, KubeError> {
        if !valid_name(ns) || !valid_name(pod) {
            return Err(KubeError::Bad {
                url: format!("{ns}/{pod}"),
                reason: "not a Kubernetes name".into(),
            });
        }
        let mut obj = self.get(&format!("/api/v1/namespaces/{ns}/pods/{pod}"))?;
        let mut chain = Vec::new();
        while let Some(owner) = controller_of(&obj) {
            let next = path_of(ns, &owner);
            chain.push(owner);
            let Some(path) = next else { break };
            if chain.len() >= MAX_DEPTH {
                break;
            }
            obj = match self.get(&path) {
                Ok(v) => v,
                // The owner is gone (a finished Job's CronJob history): keep
                // what is known.
                Err(KubeError::NotFound { .. }) => break,
                Err(e) => return Err(e),
            };
        }
        Ok(Workload { chain })
    }
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The controlling owner reference of an object (`controller: true`), or
/// its only owner.
fn controller_of(obj: &Value) -> Option<OwnerRef> {
    let owners = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let pick = owners
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .or(if owners.len() == 1 {
            owners.first()
        } else {
            None
        })?;
    let s = |k: &str| {
        pick.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let owner = OwnerRef {
        kind: s("kind"),
        name: s("name"),
        uid: s("uid"),
    };
    (!owner.kind.is_empty() && valid_name(&owner.name)).then_some(owner)
}

/// Where an owner of a known kind is read (to follow its own owner).
fn path_of(ns: &str, o: &OwnerRef) -> Option<String> {
    let (group, plural) = match o.kind.as_str() {
        "ReplicaSet" => ("apis/apps/v1", "replicasets"),
        "Deployment" => ("apis/apps/v1", "deployments"),
        "StatefulSet" => ("apis/apps/v1", "statefulsets"),
        "DaemonSet" => ("apis/apps/v1", "daemonsets"),
        "Job" => ("apis/batch/v1", "jobs"),
        "CronJob" => ("apis/batch/v1", "cronjobs"),
        "ReplicationController" => ("api/v1", "replicationcontrollers"),
        _ => return None,
    };
    Some(format!("/{group}/namespaces/{ns}/{plural}/{}", o.name))
}

/// What [`OwnerResolver::lookup`] knows of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The answer (an empty chain for a bare pod).
    Ready(Workload),
    /// Asked, no answer yet (or retried later).
    Pending,
    /// Never known: lookups are off (403) or the pod is gone.
    Unavailable,
}

type Key = (String, String);

#[derive(Default)]
struct Shared {
    /// Answers; `None`: failed, with the time to retry after.
    answers: HashMap<Key, (Option<Workload>, Instant)>,
}

/// Pod owner lookups on a background thread, answers cached.
pub struct OwnerResolver {
    tx: SyncSender<Key>,
    shared: Arc<Mutex<Shared>>,
    asked: HashMap<Key, Instant>,
    disabled: Arc<AtomicBool>,
}

impl std::fmt::Debug for OwnerResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerResolver")
            .field("disabled", &self.disabled.load(Ordering::Relaxed))
            .finish()
    }
}

impl OwnerResolver {
    /// Start the lookup thread with `api`.
    pub fn start(api: KubeApi) -> std::io::Result<OwnerResolver> {
        let (tx, rx) = sync_channel(1024);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let disabled = Arc::new(AtomicBool::new(false));
        let (s, d) = (shared.clone(), disabled.clone());
        std::thread::Builder::new()
            .name("peregrine-kube".into())
            .spawn(move || serve(api, rx, s, d))?;
        Ok(OwnerResolver {
            tx,
            shared,
            asked: HashMap::new(),
            disabled,
        })
    }

    /// The workload of pod `ns/pod`: asks for it the first time (and again
    /// after a failure, every 30 s), never blocks.
    pub fn lookup(&mut self, ns: &str, pod: &str) -> Lookup {
        if self.disabled.load(Ordering::Relaxed) || !valid_name(ns) || !valid_name(pod) {
            return Lookup::Unavailable;
        }
        let key = (ns.to_string(), pod.to_string());
        {
            let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            match shared.answers.get(&key) {
                Some((Some(w), _)) => return Lookup::Ready(w.clone()),
                Some((None, at)) if at.elapsed() < RETRY_AFTER => return Lookup::Pending,
                _ => {}
            }
        }
        if self
            .asked
            .get(&key)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
        {
            return Lookup::Pending;
        }
        if self.asked.len() >= MAX_PODS {
            self.asked.clear();
        }
        match self.tx.try_send(key.clone()) {
            Ok(()) => {
                self.asked.insert(key, Instant::now());
            }
            // Full: asked again at a later event. Gone: the thread died.
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return Lookup::Unavailable,
        }
        Lookup::Pending
    }
}

fn serve(mut api: KubeApi, rx: Receiver<Key>, shared: Arc<Mutex<Shared>>, off: Arc<AtomicBool>) {
    while let Ok((ns, pod)) = rx.recv() {
        let answer = match api.workload(&ns, &pod) {
            Ok(w) => Some(w),
            Err(e @ KubeError::Forbidden { .. }) | Err(e @ KubeError::Config { .. }) => {
                tracing::warn!("owner workloads of pods are off: {e}");
                off.store(true, Ordering::Relaxed);
                return;
            }
            Err(KubeError::NotFound { .. }) => Some(Workload::default()),
            Err(e) => {
                tracing::debug!("owner of pod {ns}/{pod}: {e}");
                None
            }
        };
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        if s.answers.len() >= MAX_PODS {
            s.answers.clear();
        }
        s.answers.insert((ns, pod), (answer, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_could_steer_a_url_are_refused() {
        assert!(valid_name("payments-7d9f8b6c5-x2x4z"));
        assert!(valid_name("kube-system"));
        for bad in [
            "",
            "../secrets",
            "a/b",
            "A",
            "a?b",
            ".hidden",
            &"a".repeat(254),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_controller_reference_is_chosen() {
        let v = json!({"metadata": {"ownerReferences": [
            {"kind": "Other", "name": "x", "uid": "1"},
            {"kind": "ReplicaSet", "name": "web-5c9d", "uid": "2", "controller": true}
        ]}});
        let o = controller_of(&v).unwrap();
        assert_eq!(
            (o.kind.as_str(), o.name.as_str(), o.uid.as_str()),
            ("ReplicaSet", "web-5c9d", "2")
        );
        assert_eq!(controller_of(&json!({"metadata": {}})), None);
        let two = json!({"metadata": {"ownerReferences": [
            {"kind": "A", "name": "a"}, {"kind": "B", "name": "b"}]}});
        assert_eq!(
            controller_of(&two),
            None,
            "no controller among several owners"
        );
        let hostile = json!({"metadata": {"ownerReferences": [
            {"kind": "ReplicaSet", "name": "../../x", "controller": true}]}});
        assert_eq!(controller_of(&hostile), None);
    }

    #[test]
    fn owner_paths_follow_the_api_groups() {
        let o = |k: &str| OwnerRef {
            kind: k.into(),
            name: "n".into(),
            uid: String::new(),
        };
        assert_eq!(
            path_of("prod", &o("ReplicaSet")).unwrap(),
            "/apis/apps/v1/namespaces/prod/replicasets/n"
        );
        assert_eq!(
            path_of("prod", &o("Job")).unwrap(),
            "/apis/batch/v1/namespaces/prod/jobs/n"
        );
        assert_eq!(
            path_of("prod", &o("Rollout")),
            None,
            "unknown kinds end the chain"
        );
    }
}
