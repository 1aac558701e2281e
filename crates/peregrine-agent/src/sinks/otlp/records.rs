//! Alerts to OTLP log records: one `ResourceLogs` per host
//! (`service.name=peregrine`, `host.name`, the configured resource
//! attributes), each alert a `LogRecord` with its time, its priority as
//! severity, its output as body and its fields as attributes.

use crate::alert::{parse_rfc3339, Alert};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use peregrine_rules::Priority;
use std::collections::BTreeMap;

/// The OTLP severity of a Falco priority (syslog levels onto the OTLP
/// ranges: Debug → DEBUG, Informational → INFO, Notice → INFO2, Warning →
/// WARN, Error → ERROR, Critical → FATAL, Alert → FATAL2, Emergency →
/// FATAL3).
pub fn severity(p: Priority) -> SeverityNumber {
    match p {
        Priority::Debug => SeverityNumber::Debug,
        Priority::Informational => SeverityNumber::Info,
        Priority::Notice => SeverityNumber::Info2,
        Priority::Warning => SeverityNumber::Warn,
        Priority::Error => SeverityNumber::Error,
        Priority::Critical => SeverityNumber::Fatal,
        Priority::Alert => SeverityNumber::Fatal2,
        Priority::Emergency => SeverityNumber::Fatal3,
    }
}

fn string(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.to_string())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

/// An output field's value: an integer when it is one, a string otherwise.
fn field(v: &str) -> AnyValue {
    match v.parse::<i64>() {
        Ok(i) => AnyValue {
            value: Some(any_value::Value::IntValue(i)),
        },
        Err(_) => string(v),
    }
}

/// The attributes of one alert: `rule`, `priority`, `source`, `tags` (an
/// array), `alert.id` (the receivers' dedup key), `alert.count`, the
/// container (`container.id`, `container.name`, `container.image.name`,
/// `container.privileged`, `k8s.namespace.name`, `k8s.pod.name`) and every
/// output field under its own name (`proc.name`, `fd.name`…).
fn attributes(a: &Alert) -> Vec<KeyValue> {
    let tags = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.tags.iter().map(|t| string(t)).collect(),
        })),
    };
    let mut out = vec![
        kv("rule", string(&a.rule)),
        kv("priority", string(a.priority.as_str())),
        kv("source", string(&a.source)),
        kv("tags", tags),
        kv("alert.id", string(&a.id)),
        kv(
            "alert.count",
            AnyValue {
                value: Some(any_value::Value::IntValue(a.count as i64)),
            },
        ),
    ];
    if let Some(c) = &a.container {
        out.push(kv("container.id", string(&c.id)));
        out.push(kv("container.name", string(&c.name)));
        out.push(kv("container.image.name", string(&c.image)));
        out.push(kv(
            "container.privileged",
            AnyValue {
                value: Some(any_value::Value::BoolValue(c.privileged)),
            },
        ));
        if let Some(ns) = &c.k8s_namespace {
            out.push(kv("k8s.namespace.name", string(ns)));
        }
        if let Some(pod) = &c.k8s_pod {
            out.push(kv("k8s.pod.name", string(pod)));
        }
    }
    out.extend(a.output_fields.iter().map(|(k, v)| kv(k, field(v))));
    out
}

/// One alert as a log record.
fn record(a: &Alert, observed_ns: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: parse_rfc3339(&a.time),
        observed_time_unix_nano: observed_ns,
        severity_number: severity(a.priority) as i32,
        severity_text: a.priority.as_str().to_string(),
        body: Some(string(&a.output)),
        attributes: attributes(a),
        event_name: "peregrine.alert".into(),
        ..Default::default()
    }
}

/// The export request carrying `alerts`, grouped by host; `resource` is
/// added to every resource's attributes.
pub fn export_request(alerts: &[Alert], resource: &[(String, String)]) -> ExportLogsServiceRequest {
    let observed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut by_host: BTreeMap<&str, Vec<LogRecord>> = BTreeMap::new();
    for a in alerts {
        by_host
            .entry(a.hostname.as_str())
            .or_default()
            .push(record(a, observed));
    }
    let resource_logs = by_host
        .into_iter()
        .map(|(host, log_records)| {
            let mut attrs = vec![
                kv("service.name", string("peregrine")),
                kv("host.name", string(host)),
            ];
            attrs.extend(resource.iter().map(|(k, v)| kv(k, string(v))));
            ResourceLogs {
                resource: Some(Resource {
                    attributes: attrs,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "peregrine".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}
