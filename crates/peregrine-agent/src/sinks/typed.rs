//! The typed map form of a sink (`{type: webhook, url: …, min: warning}`)
//! and `Deserialize` for [`SinkConfig`], which takes either that map or a
//! shorthand string, so the config file can use both.

use super::{registry, shared, SinkConfig, SinkError};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

impl SinkConfig {
    /// A sink from its typed map form: `type` names the kind; `min` and (for
    /// disk-buffered sinks) `buffer`, `batch`, `buffer_max_mb` are the shared
    /// options; every other key belongs to the sink's own settings, and a key
    /// it does not have is an error naming the sink and the key.
    pub fn from_map(mut map: Map<String, Value>) -> Result<SinkConfig, SinkError> {
        let name = match map.remove("type") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(SinkError::Config {
                    spec: other.to_string(),
                    reason: "`type` must be a sink name".into(),
                })
            }
            None => {
                return Err(SinkError::Config {
                    spec: Value::Object(map).to_string(),
                    reason: format!("missing `type` (one of: {})", registry::names()),
                })
            }
        };
        let bad = |reason: String| SinkError::Config {
            spec: name.clone(),
            reason,
        };
        let kind = registry::lookup(&name).ok_or_else(|| {
            bad(format!(
                "unknown sink '{name}' (expected one of: {})",
                registry::names()
            ))
        })?;
        let shared = shared::Shared::from_map(&name, &mut map, kind.buffered).map_err(bad)?;
        (kind.typed)(&name, map, shared).map_err(bad)
    }
}

struct SinkVisitor;

impl<'de> Visitor<'de> for SinkVisitor {
    type Value = SinkConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sink: a string such as \"webhook:URL,min=warning\" or a map with `type`")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<SinkConfig, E> {
        SinkConfig::parse(s).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<SinkConfig, A::Error> {
        let map: Map<String, Value> =
            serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(access))?;
        SinkConfig::from_map(map).map_err(de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for SinkConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SinkConfig, D::Error> {
        d.deserialize_any(SinkVisitor)
    }
}
