//! What a user configures about the Kubernetes audit source (`k8s_audit:`
//! in the agent's configuration, `--k8s-audit-*` flags).
//!
//! ```yaml
//! k8s_audit:
//!   listen: 127.0.0.1:9765          # HTTPS webhook; a bare port binds 127.0.0.1
//!   tls_cert: /etc/peregrine/audit.pem
//!   tls_key: /etc/peregrine/audit.key
//!   token_file: /etc/peregrine/audit.token   # optional bearer token
//!   path: /k8s-audit
//!   max_body_bytes: 12582912
//!   files: [/var/log/kubernetes/audit.log]   # JSON lines, followed
//! ```

use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The webhook's default port (Falco's k8saudit plugin uses the same).
pub const DEFAULT_PORT: u16 = 9765;

/// Falco's default `webhookMaxBatchSize`: 12 MiB.
pub const DEFAULT_MAX_BODY: usize = 12 * 1024 * 1024;

/// The Kubernetes audit source's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sAuditSettings {
    /// Where the HTTPS webhook listens (`None`: no webhook).
    #[serde(deserialize_with = "listen_addr")]
    pub listen: Option<SocketAddr>,
    /// Server certificate chain (PEM) for the webhook.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the certificate.
    pub tls_key: Option<PathBuf>,
    /// File holding the bearer token the API server must send (optional).
    pub token_file: Option<PathBuf>,
    /// The webhook's URL path.
    pub path: String,
    /// Largest request body accepted (bigger: 413).
    pub max_body_bytes: usize,
    /// Audit log files (JSON lines) to follow as they grow.
    pub files: Vec<PathBuf>,
}

impl Default for K8sAuditSettings {
    fn default() -> Self {
        K8sAuditSettings {
            listen: None,
            tls_cert: None,
            tls_key: None,
            token_file: None,
            path: "/k8s-audit".into(),
            max_body_bytes: DEFAULT_MAX_BODY,
            files: Vec::new(),
        }
    }
}

impl K8sAuditSettings {
    /// Is any audit source configured?
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || !self.files.is_empty()
    }

    /// Relative paths are relative to `base` (the configuration's directory).
    pub fn resolve(&mut self, base: &Path) {
        let rel = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.tls_cert.iter_mut().for_each(rel);
        self.tls_key.iter_mut().for_each(rel);
        self.token_file.iter_mut().for_each(rel);
        self.files.iter_mut().for_each(rel);
    }
}

/// `HOST:PORT`, or a bare port on 127.0.0.1.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.trim().parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.trim()
        .parse()
        .map_err(|_| format!("k8s audit listen address '{s}' is not HOST:PORT or PORT"))
}

fn listen_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_from_the_agent_configuration() {
        let text = "rules: [r.yaml]\nk8s_audit:\n  listen: \"9765\"\n  tls_cert: c.pem\n  tls_key: /abs/k.pem\n  files: [audit.log]\n";
        let s = crate::Settings::from_yaml("a.yaml", text, Some(Path::new("/etc/pg"))).unwrap();
        let k = &s.k8s_audit;
        assert_eq!(
            k.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))
        );
        assert_eq!(k.tls_cert.as_deref(), Some(Path::new("/etc/pg/c.pem")));
        assert_eq!(k.tls_key.as_deref(), Some(Path::new("/abs/k.pem")));
        assert_eq!(k.files, [PathBuf::from("/etc/pg/audit.log")]);
        assert_eq!(
            (k.path.as_str(), k.max_body_bytes),
            ("/k8s-audit", DEFAULT_MAX_BODY)
        );
        assert!(k.enabled());
        let bad = "k8s_audit:\n  listne: 1\n";
        let errs = crate::Settings::from_yaml("a.yaml", bad, None).unwrap_err();
        let msg = errs[0].to_string();
        assert!(msg.contains("a.yaml:2") && msg.contains("listne"), "{msg}");
        let bad = "k8s_audit:\n  listen: somewhere\n";
        let errs = crate::Settings::from_yaml("a.yaml", bad, None).unwrap_err();
        assert!(errs[0].to_string().contains("not HOST:PORT"), "{}", errs[0]);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9765").unwrap().to_string(), "127.0.0.1:9765");
        assert_eq!(parse_listen("0.0.0.0:1").unwrap().to_string(), "0.0.0.0:1");
        assert!(parse_listen("localhost").unwrap_err().contains("HOST:PORT"));
    }
}
