//! Healthchecks of the HTTP sinks, after Vector's: at start, a service
//! with a health endpoint is asked for it; a plain receiver is only
//! connected to. A failure is a warning, since alerts wait in the disk
//! buffer until the destination answers.

use super::{http_client, HttpFormat, WebhookConfig};
use crate::sinks::shared::tcp_reachable;
use reqwest::Url;
use std::time::Duration;

/// Ok when the destination answers.
pub(super) fn check(cfg: &WebhookConfig) -> Result<(), String> {
    let url = Url::parse(&cfg.url).map_err(|e| format!("invalid URL: {e}"))?;
    match health_url(&cfg.format, &url) {
        Some(h) => get(cfg, h),
        None => {
            let host = url.host_str().ok_or("no host")?;
            let port = url.port_or_known_default().ok_or("no port")?;
            tcp_reachable(host, port)
        }
    }
}

/// The flavour's health endpoint on the service `url` belongs to: the
/// endpoint path is replaced (any prefix before it kept). `None` for a plain
/// webhook or Slack, or when the URL does not end in the usual endpoint.
pub(super) fn health_url(format: &HttpFormat, url: &Url) -> Option<Url> {
    let (endpoint, health) = match format {
        HttpFormat::ElasticBulk { .. } => ("/_bulk", "/_cluster/health"),
        HttpFormat::SplunkHec => ("/services/collector", "/services/collector/health/1.0"),
        HttpFormat::Loki => ("/loki/api/v1/push", "/ready"),
        HttpFormat::Json | HttpFormat::Text | HttpFormat::Slack => return None,
    };
    let path = url.path();
    let prefix = &path[..path.rfind(endpoint)?];
    let mut h = url.clone();
    h.set_path(&format!("{prefix}{health}"));
    h.set_query(None);
    Some(h)
}

/// GET `health` with the sink's headers and CA; Ok on 2xx. Runs on its own
/// thread: the blocking client must not run inside an async runtime.
fn get(cfg: &WebhookConfig, health: Url) -> Result<(), String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let client = http_client(cfg.ca_file.as_deref())?;
            let mut req = client.get(health.clone()).timeout(Duration::from_secs(3));
            for (k, v) in &cfg.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req.send().map_err(|e| format!("GET {health}: {e}"))?;
            match resp.status() {
                st if st.is_success() => Ok(()),
                st => Err(format!("GET {health} answered {st}")),
            }
        })
        .join()
        .unwrap_or_else(|_| Err("healthcheck thread failed".into()))
    })
}
