//! Query parameters, validated at the edge: each route names the parameters
//! it takes (others are refused), a parameter may be given once, values are
//! bounded, printable and range-checked; errors name the parameter.

use crate::problem::{bad_param, ApiError};
use peregrine_event::Priority;
use peregrine_store::{AlertQuery, Status};
use std::collections::HashMap;

/// Longest value of a parameter, in characters (`q`: 200).
pub const MAX_PARAM: usize = 1024;
/// Largest page.
pub const MAX_LIMIT: u32 = 1000;
/// Relative and absolute times reach back at most this far (100 years).
const MAX_BACK_SECS: i64 = 100 * 365 * 86400;
/// Largest Unix time accepted (nanoseconds must fit 64 bits: 2262).
const MAX_UNIX_SECS: i64 = i64::MAX / 1_000_000_000;
/// Fewest seconds per histogram bucket, and most buckets per range.
const MAX_BUCKETS: i64 = 10_000;

/// The filters of `/alerts` (and, without `limit`/`cursor`, `/stats`).
pub const FILTERS: &[&str] = &[
    "from",
    "to",
    "priority",
    "min_priority",
    "rule",
    "host",
    "container",
    "image",
    "namespace",
    "status",
    "q",
];

fn unhex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn decode_part(part: &str) -> Result<String, String> {
    let b = part.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(unhex);
                let lo = b.get(i + 2).copied().and_then(unhex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err("a '%' not followed by two hex digits".into()),
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".into())
}

/// Split and percent-decode a query string strictly.
pub fn decode(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k =
            decode_part(k).map_err(|e| bad_param("query", format!("a parameter name is {e}")))?;
        let v = decode_part(v).map_err(|e| {
            let name: String = k.chars().take(64).collect();
            bad_param(&name, e)
        })?;
        out.push((k, v));
    }
    Ok(out)
}

/// Checked parameters: each known, given once, printable and bounded.
pub fn params(
    raw: Vec<(String, String)>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for (k, v) in raw {
        if !allowed.contains(&k.as_str()) {
            let name: String = k.chars().take(64).collect();
            let list = if allowed.is_empty() {
                "this route takes no query parameters".to_string()
            } else {
                format!("known: {}", allowed.join(", "))
            };
            return Err(bad_param(&name, format!("unknown parameter ({list})")));
        }
        if v.chars().count() > MAX_PARAM {
            return Err(bad_param(&k, format!("longer than {MAX_PARAM} characters")));
        }
        if v.chars().any(char::is_control) {
            return Err(bad_param(&k, "control characters are not allowed"));
        }
        if out.contains_key(&k) {
            return Err(bad_param(&k, "given more than once"));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// A time parameter: RFC 3339, Unix seconds, or relative (`-15m`, `-24h`,
/// `-7d`), nanoseconds.
pub fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Some(rel) = v.strip_prefix('-') {
        let Some(unit) = rel.chars().last() else {
            return Err(bad_param(
                name,
                "'-' alone is not a relative time like -24h",
            ));
        };
        let num = &rel[..rel.len() - unit.len_utf8()];
        if num.is_empty() || num.len() > 12 || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_param(
                name,
                format!("'{v}' is not a relative time like -24h"),
            ));
        }
        let n: i64 = num.parse().map_err(|_| bad_param(name, "out of range"))?;
        let unit_secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => {
                return Err(bad_param(
                    name,
                    format!("unit of '{v}' must be s, m, h or d"),
                ))
            }
        };
        let secs = n.saturating_mul(unit_secs);
        if secs > MAX_BACK_SECS {
            return Err(bad_param(
                name,
                format!("'{v}' reaches back more than 100 years"),
            ));
        }
        return Ok(peregrine_store::now_ns() - secs * 1_000_000_000);
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return match v.parse::<i64>() {
            Ok(secs) if secs <= MAX_UNIX_SECS => Ok(secs * 1_000_000_000),
            _ => Err(bad_param(
                name,
                format!("'{v}' is after {MAX_UNIX_SECS} (2262-04-11)"),
            )),
        };
    }
    crate::rfc3339::parse(v).map_err(|why| {
        bad_param(
            name,
            format!(
                "'{}' is not RFC 3339, Unix seconds or a relative time ({why})",
                v.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn priority(name: &str, v: &str) -> Result<Priority, ApiError> {
    Priority::parse(v).ok_or_else(|| bad_param(name, format!("unknown priority '{v}'")))
}

/// A page size 1..=1000 (no silent clamping).
fn limit(v: &str) -> Result<u32, ApiError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad_param(
            "limit",
            format!("'{v}' is not a whole number 1..={MAX_LIMIT}"),
        )),
    }
}

/// Parameters whose empty value means "not given" (free-text filters);
/// any other parameter given empty is refused.
const EMPTY_OK: &[&str] = &["rule", "host", "container", "image", "namespace", "q"];

/// The alert filters of `p` (already checked by [`params`]).
pub fn alert_query(p: &HashMap<String, String>) -> Result<AlertQuery, ApiError> {
    if let Some((k, _)) = p
        .iter()
        .find(|(k, v)| v.is_empty() && !EMPTY_OK.contains(&k.as_str()))
    {
        return Err(bad_param(
            k,
            "empty value (leave the parameter out instead)",
        ));
    }
    let s = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
    let q = s("q");
    if let Some(q) = &q {
        if q.chars().count() > 200 {
            return Err(bad_param("q", "longer than 200 characters"));
        }
    }
    let from_ns = s("from").map(|v| parse_time("from", &v)).transpose()?;
    let to_ns = s("to").map(|v| parse_time("to", &v)).transpose()?;
    if let (Some(f), Some(t)) = (from_ns, to_ns) {
        if f > t {
            return Err(bad_param("from", "'from' is after 'to'"));
        }
    }
    Ok(AlertQuery {
        from_ns,
        to_ns,
        min_priority: s("min_priority")
            .map(|v| priority("min_priority", &v))
            .transpose()?,
        priorities: match s("priority") {
            Some(v) => v
                .split(',')
                .map(|x| priority("priority", x))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        rule: s("rule"),
        host: s("host"),
        container: s("container"),
        image: s("image"),
        k8s_namespace: s("namespace"),
        status: s("status")
            .map(|v| {
                Status::parse(&v).ok_or_else(|| {
                    bad_param(
                        "status",
                        format!("'{v}': expected open, acknowledged or resolved"),
                    )
                })
            })
            .transpose()?,
        text: q,
        limit: s("limit").map(|v| limit(&v)).transpose()?,
        cursor: s("cursor"),
    })
}

/// The time range a query covers, in ns: its `from` (default the last
/// 24 hours) to its `to` (default now).
pub fn range(q: &AlertQuery) -> (i64, i64) {
    let now = peregrine_store::now_ns();
    let from = q.from_ns.unwrap_or(now - 86_400_000_000_000);
    (from, q.to_ns.unwrap_or(now).max(from))
}

/// The histogram bucket of `/stats`: given (seconds, at most 10,000 buckets
/// over the range) or about 60 bars over the range (default: 24 h).
pub fn bucket(p: &HashMap<String, String>, q: &AlertQuery) -> Result<i64, ApiError> {
    let (from, to) = range(q);
    let range_secs = (to - from) / 1_000_000_000;
    match p.get("bucket") {
        None => Ok((range_secs / 60).max(1)),
        Some(b) => {
            let n = b
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_BACK_SECS).contains(n))
                .ok_or_else(|| {
                    bad_param(
                        "bucket",
                        format!("'{b}' is not seconds 1..={MAX_BACK_SECS}"),
                    )
                })?;
            if range_secs / n > MAX_BUCKETS {
                return Err(bad_param(
                    "bucket",
                    format!("{n} s buckets make more than {MAX_BUCKETS} over the range"),
                ));
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_parameters() {
        assert_eq!(parse_time("from", "10").ok(), Some(10_000_000_000));
        assert!(parse_time("from", "2026-01-01T00:00:00Z").unwrap() > 0);
        assert!(parse_time("from", "-24h").unwrap() < peregrine_store::now_ns());
        for bad in [
            "-24x",
            "yesterday",
            "99999999999999999",
            "-1é",
            "-é",
            "-",
            "-h",
            "-+5h",
            "-99999999999d",
            "2026-13-01T00:00:00Z",
        ] {
            let e = parse_time("from", bad).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("from"), "{bad}");
        }
    }

    #[test]
    fn parameters_are_known_single_and_printable() {
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(params(p("prio", "x"), FILTERS).is_err());
        assert!(params(p("q", "a\0b"), FILTERS).is_err());
        let twice = [p("q", "a"), p("q", "b")].concat();
        assert_eq!(
            params(twice, FILTERS).unwrap_err().param.as_deref(),
            Some("q")
        );
        for l in ["0", "1001", "-1", "ten"] {
            let m = params(p("limit", l), &["limit"]).unwrap();
            assert!(alert_query(&m).is_err(), "{l}");
        }
    }
}
