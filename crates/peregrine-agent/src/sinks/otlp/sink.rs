//! Delivery of OTLP export requests: every alert is first appended to the
//! shared disk queue; the delivery thread turns each batch into one
//! `ExportLogsServiceRequest` and sends it over OTLP/HTTP (protobuf body)
//! or OTLP/gRPC, retrying with backoff until the collector accepts it.

use super::records::export_request;
use super::{OtlpConfig, OtlpProtocol};
use crate::alert::Alert;
use crate::sinks::shared::tcp_reachable;
use crate::sinks::{BufferedSink, Component, Sink, SinkError, Transport};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// The gRPC client and the runtime it runs on, made on the delivery thread
/// at the first export (a runtime must not be dropped inside another).
struct GrpcClient {
    rt: tokio::runtime::Runtime,
    client: LogsServiceClient<Channel>,
}

/// Sends batches to an OTLP endpoint.
struct OtlpTransport {
    cfg: OtlpConfig,
    http: Option<reqwest::blocking::Client>,
    grpc: Option<GrpcClient>,
}

impl OtlpTransport {
    fn request(lines: &[String], cfg: &OtlpConfig) -> ExportLogsServiceRequest {
        let alerts: Vec<Alert> = lines
            .iter()
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::error!(sink = %cfg.endpoint, error = %e, "unreadable buffered alert skipped");
                    None
                }
            })
            .collect();
        export_request(&alerts, &cfg.resource)
    }

    fn send_http(&mut self, req: ExportLogsServiceRequest) -> Result<(), String> {
        let client = match &self.http {
            Some(c) => c,
            None => self.http.insert(
                reqwest::blocking::Client::builder()
                    .timeout(self.cfg.timeout)
                    .build()
                    .map_err(|e| format!("cannot build an HTTP client: {e}"))?,
            ),
        };
        let mut post = client
            .post(&self.cfg.endpoint)
            .header("content-type", "application/x-protobuf");
        for (k, v) in &self.cfg.headers {
            post = post.header(k.as_str(), v.as_str());
        }
        let resp = post
            .body(req.encode_to_vec())
            .send()
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.bytes().unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        if let Ok(r) = ExportLogsServiceResponse::decode(body.as_ref()) {
            partial(&self.cfg, r);
        }
        Ok(())
    }

    fn send_grpc(&mut self, req: ExportLogsServiceRequest) -> Result<(), String> {
        let g = match &mut self.grpc {
            Some(g) => g,
            None => self.grpc.insert(grpc_client(&self.cfg)?),
        };
        let mut r = tonic::Request::new(req);
        for (k, v) in &self.cfg.headers {
            let (k, v) = metadata(k, v)?;
            r.metadata_mut().insert(k, v);
        }
        let resp = g
            .rt
            .block_on(g.client.export(r))
            .map_err(|s| format!("gRPC {:?}: {}", s.code(), s.message()))?;
        partial(&self.cfg, resp.into_inner());
        Ok(())
    }
}

/// Log the records the collector says it rejected (resending them would
/// be rejected again).
fn partial(cfg: &OtlpConfig, r: ExportLogsServiceResponse) {
    if let Some(p) = r.partial_success {
        if p.rejected_log_records > 0 {
            tracing::warn!(sink = %cfg.endpoint, rejected = p.rejected_log_records,
                reason = %p.error_message, "the collector rejected some alerts");
        }
    }
}

/// A header as gRPC metadata (names lower-cased).
fn metadata(
    k: &str,
    v: &str,
) -> Result<(MetadataKey<tonic::metadata::Ascii>, MetadataValue<tonic::metadata::Ascii>), String> {
    let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("header '{k}' is not a valid gRPC metadata name"))?;
    let value = v
        .parse()
        .map_err(|_| format!("header '{k}' has a value gRPC metadata cannot carry"))?;
    Ok((key, value))
}

fn grpc_client(cfg: &OtlpConfig) -> Result<GrpcClient, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let mut ep = Endpoint::from_shared(cfg.endpoint.clone())
        .map_err(|e| format!("invalid endpoint: {e}"))?
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout);
    if cfg.endpoint.starts_with("https://") {
        ep = ep
            .tls_config(ClientTlsConfig::new().with_webpki_roots())
            .map_err(|e| format!("TLS: {e}"))?;
    }
    let channel = {
        let _ctx = rt.enter();
        ep.connect_lazy()
    };
    Ok(GrpcClient {
        rt,
        client: LogsServiceClient::new(channel),
    })
}

impl Transport for OtlpTransport {
    fn max_batch(&self) -> usize {
        self.cfg.batch.max(1)
    }
    fn deliver(&mut self, lines: &[String]) -> Result<(), String> {
        let req = Self::request(lines, &self.cfg);
        if req.resource_logs.is_empty() {
            return Ok(());
        }
        match self.cfg.protocol {
            OtlpProtocol::Http => self.send_http(req),
            OtlpProtocol::Grpc => self.send_grpc(req),
        }
    }
}

/// The OTLP sink: a [`BufferedSink`] exporting log records.
pub struct OtlpSink;

impl OtlpSink {
    /// Check the headers, open the buffer and start delivering (clients
    /// are made on the delivery thread; the healthcheck is
    /// [`Component::healthcheck`]).
    pub fn start(cfg: OtlpConfig) -> Result<BufferedSink, SinkError> {
        let name = cfg.name();
        if cfg.protocol == OtlpProtocol::Grpc {
            for (k, v) in &cfg.headers {
                metadata(k, v).map_err(|reason| SinkError::Config {
                    spec: name.clone(),
                    reason,
                })?;
            }
        }
        BufferedSink::start(
            name,
            cfg.min_priority,
            &cfg.buffer_dir,
            cfg.buffer_max_bytes,
            Box::new(OtlpTransport {
                cfg: cfg.clone(),
                http: None,
                grpc: None,
            }),
        )
    }
}

impl Component for OtlpConfig {
    fn name(&self) -> String {
        let p = match self.protocol {
            OtlpProtocol::Http => "http",
            OtlpProtocol::Grpc => "grpc",
        };
        format!("otlp:{} ({p})", self.endpoint)
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(OtlpSink::start(self.clone())?))
    }
    /// The collector's port accepts a TCP connection (an export of nothing
    /// would be counted by some collectors as a request).
    fn healthcheck(&self) -> Result<(), SinkError> {
        let check = || -> Result<(), String> {
            let url = reqwest::Url::parse(&self.endpoint).map_err(|e| e.to_string())?;
            let host = url.host_str().ok_or("no host")?;
            let port = url.port_or_known_default().ok_or("no port")?;
            tcp_reachable(host, port)
        };
        check().map_err(|reason| SinkError::Unhealthy {
            sink: self.name(),
            reason,
            meanwhile: format!(
                "alerts are buffered in {} until it answers",
                self.buffer_dir.display()
            ),
        })
    }
}
