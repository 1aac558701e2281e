//! Samples to OTLP metrics (`ExportMetricsServiceRequest`, the official
//! generated types): counters as cumulative monotonic sums, gauges as
//! gauges, a histogram's `_sum` and `_count` as sums (buckets are left to
//! Prometheus scraping); resource `service.name=peregrine`, `host.name`.
//! Sent over OTLP/HTTP (protobuf body) or OTLP/gRPC. A failed export is
//! logged and the next interval sends fresh cumulative values, so nothing
//! is lost but resolution.

use super::samples::{Kind, Sample};
use super::Exporter;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// `metrics_export.otlp:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpMetricsSettings {
    /// `http://collector:4318/v1/metrics` (HTTP) or `http://collector:4317` (gRPC).
    pub endpoint: String,
    /// `http` (protobuf body, the default) or `grpc`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata), e.g. an API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OTLP/HTTP with a protobuf body.
    #[default]
    Http,
    /// OTLP/gRPC.
    Grpc,
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The export request for `samples` taken at `now`; cumulative sums start
/// at `start`.
pub fn request(
    samples: &[Sample],
    host: &str,
    start: SystemTime,
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    let mut by_name: BTreeMap<&str, (Kind, Vec<NumberDataPoint>)> = BTreeMap::new();
    for s in samples {
        if s.kind == Kind::Histogram && s.name.ends_with("_bucket") || s.kind == Kind::Other {
            continue;
        }
        let point = NumberDataPoint {
            attributes: s.labels.iter().map(|(k, v)| kv(k, v)).collect(),
            start_time_unix_nano: nanos(start),
            time_unix_nano: nanos(now),
            value: Some(number_data_point::Value::AsDouble(s.value)),
            ..Default::default()
        };
        by_name
            .entry(&s.name)
            .or_insert((s.kind, Vec::new()))
            .1
            .push(point);
    }
    let metrics = by_name
        .into_iter()
        .map(|(name, (kind, data_points))| Metric {
            name: name.to_string(),
            data: Some(match kind {
                Kind::Gauge => metric::Data::Gauge(Gauge { data_points }),
                _ => metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            }),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "peregrine"), kv("host.name", host)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "peregrine-agent".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Pushes samples to a collector.
pub struct OtlpExporter {
    cfg: OtlpMetricsSettings,
    host: String,
    start: SystemTime,
    http: Option<reqwest::blocking::Client>,
    grpc: Option<(
        tokio::runtime::Runtime,
        MetricsServiceClient<tonic::transport::Channel>,
    )>,
}

impl OtlpExporter {
    /// An exporter for `cfg` (checked here: an unusable endpoint is an error).
    pub fn new(cfg: OtlpMetricsSettings, host: &str) -> Result<OtlpExporter, String> {
        if !(cfg.endpoint.starts_with("http://") || cfg.endpoint.starts_with("https://")) {
            return Err(format!(
                "metrics_export.otlp.endpoint '{}' must start with http:// or https://",
                cfg.endpoint
            ));
        }
        Ok(OtlpExporter {
            cfg,
            host: host.to_string(),
            start: SystemTime::now(),
            http: None,
            grpc: None,
        })
    }

    fn send_http(&mut self, body: Vec<u8>) -> Result<(), String> {
        let client = match &self.http {
            Some(c) => c,
            None => self.http.insert(
                reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
        };
        let mut post = client
            .post(&self.cfg.endpoint)
            .header("content-type", "application/x-protobuf");
        for (k, v) in &self.cfg.headers {
            post = post.header(k.as_str(), v.as_str());
        }
        let resp = post.body(body).send().map_err(|e| e.to_string())?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("HTTP {s}")),
        }
    }

    fn send_grpc(&mut self, req: ExportMetricsServiceRequest) -> Result<(), String> {
        if self.grpc.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let ep = tonic::transport::Endpoint::from_shared(self.cfg.endpoint.clone())
                .map_err(|e| format!("invalid endpoint: {e}"))?
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(10));
            let channel = {
                let _ctx = rt.enter();
                ep.connect_lazy()
            };
            self.grpc = Some((rt, MetricsServiceClient::new(channel)));
        }
        let (rt, client) = self.grpc.as_mut().expect("made above");
        let mut r = tonic::Request::new(req);
        for (k, v) in &self.cfg.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("header '{k}' is not a valid gRPC metadata name"))?;
            let value = v
                .parse()
                .map_err(|_| format!("header '{k}' cannot be gRPC metadata"))?;
            r.metadata_mut().insert(key, value);
        }
        rt.block_on(client.export(r))
            .map(|_| ())
            .map_err(|s| format!("gRPC {:?}: {}", s.code(), s.message()))
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> String {
        format!("otlp:{}", self.cfg.endpoint)
    }

    fn export(&mut self, samples: &[Sample], now: SystemTime) -> Result<(), String> {
        let req = request(samples, &self.host, self.start, now);
        match self.cfg.protocol {
            Protocol::Http => self.send_http(req.encode_to_vec()),
            Protocol::Grpc => self.send_grpc(req),
        }
    }
}
