//! Settings of the HTTP sinks: `webhook:URL`, `slack:URL`,
//! `elasticsearch:URL[,index=NAME]`, `splunk:URL,token=T`, `loki:URL`, each
//! with `,header=Name:value` (repeatable) and `,ca=PEM_FILE`; or the map
//! `{type: webhook, url: URL, headers: {Name: value}, ca: PEM_FILE}`.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use peregrine_rules::Priority;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The HTTP sinks' own settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `url`: destination, http:// or https://.
    pub url: String,
    /// `headers` (map form) or `header=Name:value` (shorthand, repeatable).
    #[serde(default, deserialize_with = "header_map")]
    pub headers: Vec<(String, String)>,
    /// `ca`: extra trusted CA certificates (PEM) for https.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// `index` (elasticsearch only; default `peregrine`).
    #[serde(default)]
    pub index: Option<String>,
    /// `token` (splunk only, required): the HEC token.
    #[serde(default)]
    pub token: Option<String>,
    /// `format` (webhook only): `json` (default) or `text` — each alert's
    /// output line as `text/plain`, as Falco's http_output posts without
    /// json_output.
    #[serde(default)]
    pub format: Option<crate::sinks::stdout::StdoutFormat>,
    /// `json_include` (webhook only, JSON format): which JSON properties
    /// (see [`crate::sinks::shared::shape`]).
    #[serde(default)]
    pub json_include: Option<crate::sinks::shared::JsonShape>,
}

fn header_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let m: BTreeMap<String, String> = serde::Deserialize::deserialize(d)?;
    Ok(m.into_iter().collect())
}

/// Webhook settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Destination URL (http or https).
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Directory of the disk buffer.
    pub buffer_dir: PathBuf,
    /// Largest buffer (bytes) before new alerts are refused and counted.
    pub buffer_max_bytes: u64,
    /// Alerts per request.
    pub batch: usize,
    /// Minimum priority.
    pub min_priority: Priority,
    /// Payload format.
    pub format: HttpFormat,
    /// Extra trusted CA certificates (PEM) for https destinations.
    pub ca_file: Option<PathBuf>,
    /// JSON properties included (the plain JSON format).
    pub shape: crate::sinks::shared::JsonShape,
}

/// How alerts are encoded for the destination.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFormat {
    /// The alert JSON (an array when batched).
    Json,
    /// Slack-compatible `{"text": …}`, one alert per request.
    Slack,
    /// Elasticsearch/OpenSearch `_bulk` NDJSON; the alert id is the document
    /// id, so a retried batch never duplicates documents.
    ElasticBulk {
        /// Index name.
        index: String,
    },
    /// Splunk HTTP Event Collector events.
    SplunkHec,
    /// Grafana Loki push API.
    Loki,
    /// The alerts' output lines as `text/plain`.
    Text,
}

impl HttpFormat {
    /// The sink kind name of this format.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpFormat::Json | HttpFormat::Text => "webhook",
            HttpFormat::Slack => "slack",
            HttpFormat::ElasticBulk { .. } => "elasticsearch",
            HttpFormat::SplunkHec => "splunk",
            HttpFormat::Loki => "loki",
        }
    }
}

impl SinkKind for WebhookConfig {
    const NAMES: &'static [&'static str] = &["webhook", "slack", "elasticsearch", "splunk", "loki"];
    const BUFFERED: bool = true;
    type Settings = WebhookSettings;

    fn shorthand(
        kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<WebhookSettings, String> {
        let url = match arg {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => return Err(format!("{kind} needs a URL: {kind}:URL")),
        };
        let mut headers = Vec::new();
        for h in opts.take_all("header") {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("header '{h}' is not Name:value"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(WebhookSettings {
            url,
            headers,
            ca: opts.take("ca").map(PathBuf::from),
            index: (kind == "elasticsearch")
                .then(|| opts.take("index").map(str::to_string))
                .flatten(),
            token: (kind == "splunk")
                .then(|| opts.take("token").map(str::to_string))
                .flatten(),
            format: match (kind, opts.take("format")) {
                (_, None) => None,
                ("webhook", Some("json")) => Some(crate::sinks::stdout::StdoutFormat::Json),
                ("webhook", Some("text")) => Some(crate::sinks::stdout::StdoutFormat::Text),
                ("webhook", Some(v)) => return Err(format!("format '{v}' is not json or text")),
                (k, Some(_)) => return Err(format!("{k} has no option 'format' (webhook only)")),
            },
            json_include: None,
        })
    }

    fn resolve(kind: &str, s: WebhookSettings, shared: Shared) -> Result<WebhookConfig, String> {
        match reqwest::Url::parse(&s.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(_) => return Err("the URL must be http:// or https://".into()),
            Err(e) => return Err(format!("invalid URL: {e}")),
        }
        if s.index.is_some() && kind != "elasticsearch" {
            return Err(format!("{kind} has no option 'index' (elasticsearch only)"));
        }
        if s.token.is_some() && kind != "splunk" {
            return Err(format!("{kind} has no option 'token' (splunk only)"));
        }
        if s.format.is_some() && kind != "webhook" {
            return Err(format!("{kind} has no option 'format' (webhook only)"));
        }
        let text = s.format == Some(crate::sinks::stdout::StdoutFormat::Text);
        if s.json_include.is_some() && (kind != "webhook" || text) {
            return Err(format!(
                "{kind} has no option 'json_include' (webhook with JSON only)"
            ));
        }
        let mut headers = s.headers;
        let format = match kind {
            "slack" => HttpFormat::Slack,
            "elasticsearch" => HttpFormat::ElasticBulk {
                index: s.index.unwrap_or_else(|| "peregrine".into()),
            },
            "splunk" => {
                let t = s.token.ok_or("splunk needs token=HEC_TOKEN")?;
                headers.push(("Authorization".into(), format!("Splunk {t}")));
                HttpFormat::SplunkHec
            }
            "loki" => HttpFormat::Loki,
            _ if text => HttpFormat::Text,
            _ => HttpFormat::Json,
        };
        Ok(WebhookConfig {
            buffer_dir: shared.buffer.dir("webhook", &s.url),
            buffer_max_bytes: shared.buffer.max_bytes(),
            batch: shared.buffer.batch(),
            url: s.url,
            headers,
            min_priority: shared.min,
            format,
            ca_file: s.ca,
            shape: s.json_include.unwrap_or_default(),
        })
    }
}
