//! Settings of the OTLP sink: `otlp:URL[,protocol=grpc|http]` with
//! `,header=Name:value` and `,resource=key:value` (both repeatable) and
//! `,timeout=SECONDS`; or the map `{type: otlp, endpoint: URL, protocol:
//! grpc, headers: {Name: value}, resource: {key: value}, timeout: 10}`. The
//! shared disk-buffer options apply.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use peregrine_rules::Priority;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the export requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies (`POST …/v1/logs`), the collector's
    /// port 4318.
    #[default]
    Http,
    /// OTLP/gRPC (`LogsService/Export`), the collector's port 4317.
    Grpc,
}

fn default_timeout() -> u64 {
    10
}

/// The OTLP sink's own settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSettings {
    /// `endpoint`: `http(s)://HOST:PORT[/PATH]`. Over HTTP a URL without a
    /// path gets `/v1/logs`; over gRPC the path is ignored.
    pub endpoint: String,
    /// `protocol`: `http` (default) or `grpc`.
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// `headers`: sent with every request (HTTP headers or gRPC metadata),
    /// e.g. an API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `resource`: resource attributes added to `service.name=peregrine`
    /// and `host.name` (e.g. `deployment.environment: prod`).
    #[serde(default)]
    pub resource: BTreeMap<String, String>,
    /// `timeout`: seconds one export may take (default 10).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

/// What the OTLP sink runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Where export requests go (`/v1/logs` added over HTTP when no path).
    pub endpoint: String,
    /// HTTP or gRPC.
    pub protocol: OtlpProtocol,
    /// Request headers / gRPC metadata.
    pub headers: Vec<(String, String)>,
    /// Extra resource attributes.
    pub resource: Vec<(String, String)>,
    /// Time one export may take.
    pub timeout: Duration,
    /// Minimum priority.
    pub min_priority: Priority,
    /// Disk buffer.
    pub buffer_dir: PathBuf,
    /// Alerts per export request.
    pub batch: usize,
    /// Largest disk buffer.
    pub buffer_max_bytes: u64,
}

/// `Name:value` pairs of a repeatable shorthand option.
fn pairs(opts: &mut Options<'_>, key: &'static str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for p in opts.take_all(key) {
        let (k, v) = p
            .split_once(':')
            .ok_or_else(|| format!("{key} '{p}' is not name:value"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

impl SinkKind for OtlpConfig {
    const NAMES: &'static [&'static str] = &["otlp"];
    const BUFFERED: bool = true;
    type Settings = OtlpSettings;

    fn shorthand(
        _kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<OtlpSettings, String> {
        let endpoint = match arg {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => return Err("otlp needs an endpoint: otlp:URL[,protocol=grpc|http]".into()),
        };
        let protocol = match opts.take("protocol") {
            None | Some("http") | Some("http/protobuf") => OtlpProtocol::Http,
            Some("grpc") => OtlpProtocol::Grpc,
            Some(v) => return Err(format!("protocol '{v}': expected grpc or http")),
        };
        Ok(OtlpSettings {
            endpoint,
            protocol,
            headers: pairs(opts, "header")?,
            resource: pairs(opts, "resource")?,
            timeout: opts.take_parsed("timeout")?.unwrap_or_else(default_timeout),
        })
    }

    fn resolve(_kind: &str, s: OtlpSettings, shared: Shared) -> Result<OtlpConfig, String> {
        let mut url = match reqwest::Url::parse(&s.endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            Ok(_) => return Err("the endpoint must be http(s)://HOST:PORT[/PATH]".into()),
            Err(e) => return Err(format!("invalid endpoint '{}': {e}", s.endpoint)),
        };
        if s.protocol == OtlpProtocol::Http && url.path() == "/" {
            url.set_path("/v1/logs");
        }
        if s.timeout == 0 {
            return Err("timeout must be at least 1 second".into());
        }
        let endpoint = match s.protocol {
            OtlpProtocol::Http => url.to_string(),
            OtlpProtocol::Grpc => s.endpoint.trim_end_matches('/').to_string(),
        };
        Ok(OtlpConfig {
            buffer_dir: shared.buffer.dir("otlp", &endpoint),
            buffer_max_bytes: shared.buffer.max_bytes(),
            batch: shared.buffer.batch(),
            endpoint,
            protocol: s.protocol,
            headers: s.headers.into_iter().collect(),
            resource: s.resource.into_iter().collect(),
            timeout: Duration::from_secs(s.timeout),
            min_priority: shared.min,
        })
    }
}
