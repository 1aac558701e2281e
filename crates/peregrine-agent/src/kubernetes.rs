//! Settings of the Kubernetes API client (owner workloads of pods) and its
//! wiring into the container cache.

use peregrine_state::kube::{KubeApi, KubeConfig, OwnerResolver};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `kubernetes:` in the agent configuration.
///
/// ```yaml
/// kubernetes:
///   api: auto        # auto: in-cluster when KUBERNETES_SERVICE_HOST is set; off; or a URL
///   token_file: /var/run/secrets/kubernetes.io/serviceaccount/token   # with a URL
///   ca: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt          # with a URL
///   timeout_ms: 3000
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    /// `auto`, `off`, or the API server's base URL (`https://…`; plain
    /// `http://` only to a loopback address).
    pub api: String,
    /// Bearer token file (read again every minute).
    pub token_file: Option<PathBuf>,
    /// CA bundle of the API server's certificate.
    pub ca: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            api: "auto".into(),
            token_file: None,
            ca: None,
            timeout_ms: 3000,
        }
    }
}

impl KubernetesSettings {
    /// Check the values (at configuration time: errors name the key).
    pub fn check(&self) -> Result<(), String> {
        match self.api.as_str() {
            "auto" | "off" => Ok(()),
            url => check_url(url).map_err(|e| format!("kubernetes.api: {e}")),
        }
    }

    /// What to connect to; `None`: off, or `auto` outside a cluster.
    pub fn config(&self) -> Option<KubeConfig> {
        let timeout = Duration::from_millis(self.timeout_ms.max(100));
        match self.api.as_str() {
            "off" => None,
            "auto" => KubeConfig::in_cluster().map(|c| KubeConfig { timeout, ..c }),
            url => Some(KubeConfig {
                api: url.to_string(),
                token_file: self.token_file.clone(),
                ca: self.ca.clone(),
                timeout,
            }),
        }
    }

    /// The background owner resolver, when configured and startable (a
    /// failure is a warning: the agent runs without workloads).
    pub fn resolver(&self) -> Option<OwnerResolver> {
        let cfg = self.config()?;
        let started = KubeApi::new(&cfg)
            .map_err(|e| e.to_string())
            .and_then(|api| OwnerResolver::start(api).map_err(|e| e.to_string()));
        match started {
            Ok(r) => {
                tracing::info!(api = %cfg.api, "owner workloads of pods from the Kubernetes API server");
                Some(r)
            }
            Err(e) => {
                tracing::warn!("owner workloads of pods are off: {e}");
                None
            }
        }
    }
}

/// An API URL: https, or http to a loopback address (a token must never
/// travel in clear text over a network).
fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("'{url}' is not auto, off or a URL"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("'{url}': plain http only to a loopback address")),
        _ => Err(format!("'{url}' is not an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://10.96.0.1:443",
            "https://kubernetes.default.svc",
            "http://127.0.0.1:8080",
            "http://[::1]:6443/",
            "http://localhost:1",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:8080", "ftp://x", "kubernetes", "https://"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let s = KubernetesSettings {
            api: "http://10.0.0.1".into(),
            ..Default::default()
        };
        assert!(s.check().unwrap_err().starts_with("kubernetes.api: "));
    }

    #[test]
    fn off_and_auto_outside_a_cluster_configure_nothing() {
        let off = KubernetesSettings {
            api: "off".into(),
            ..Default::default()
        };
        assert_eq!(off.config(), None);
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
            assert_eq!(KubernetesSettings::default().config(), None);
        }
    }
}
