//! The OTLP sink: alerts as OpenTelemetry log records, exported over
//! OTLP/HTTP (protobuf) or OTLP/gRPC to an OpenTelemetry Collector (which
//! forwards to CloudWatch, Azure Monitor, Datadog…), through the shared disk
//! buffer with retries.

mod config;
mod records;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{OtlpConfig, OtlpProtocol, OtlpSettings};
pub use records::export_request;
pub use sink::OtlpSink;
