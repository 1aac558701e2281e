//! HTTP(S) sinks with a disk buffer: a generic JSON webhook and its
//! flavours (Slack, Elasticsearch `_bulk`, Splunk HEC, Loki push), which
//! differ only in the payload and the healthcheck endpoint.

mod config;
mod health;
mod payload;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{HttpFormat, WebhookConfig, WebhookSettings};
pub use payload::payload;
pub use sink::{http_client, WebhookSink};
