//! Audit events as the API server sends them: one `Event`, an `EventList`
//! (the webhook backend's body) or a JSON array of either.

use serde_json::Value as Json;

/// Why a payload held no usable audit event.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but neither an audit `Event` nor an `EventList`.
    #[error("not a Kubernetes audit event: expected kind Event or EventList")]
    NotAudit,
    /// An event without a usable `stageTimestamp`.
    #[error("audit event {index}: {reason}")]
    BadEvent {
        /// Position of the event in the payload (0-based).
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The event object.
    pub json: Json,
    /// `stageTimestamp`, ns since the epoch.
    pub ts_ns: u64,
}

impl AuditEvent {
    /// One event object (kind `Event`); its time is `stageTimestamp`.
    pub fn from_json(json: Json) -> Result<AuditEvent, String> {
        let ts = json
            .get("stageTimestamp")
            .and_then(Json::as_str)
            .ok_or_else(|| "no stageTimestamp".to_string())?;
        let ts_ns = parse_rfc3339_ns(ts).ok_or_else(|| format!("bad stageTimestamp '{ts}'"))?;
        Ok(AuditEvent { json, ts_ns })
    }

    /// The audit id, or "" when there is none.
    pub fn audit_id(&self) -> &str {
        self.json
            .get("auditID")
            .and_then(Json::as_str)
            .unwrap_or("")
    }
}

/// The events of a payload: an `Event`, an `EventList` or an array of
/// them. Events that cannot be used (no `stageTimestamp`) are returned as
/// errors beside the good ones, as the plugin logs and skips them.
pub fn parse_payload(bytes: &[u8]) -> Result<Vec<Result<AuditEvent, AuditError>>, AuditError> {
    let json: Json = serde_json::from_slice(bytes)?;
    let mut out = Vec::new();
    collect(json, &mut out)?;
    Ok(out)
}

fn collect(json: Json, out: &mut Vec<Result<AuditEvent, AuditError>>) -> Result<(), AuditError> {
    let push = |item: Json, out: &mut Vec<Result<AuditEvent, AuditError>>| {
        let index = out.len();
        out.push(
            AuditEvent::from_json(item).map_err(|reason| AuditError::BadEvent { index, reason }),
        );
    };
    match json {
        Json::Array(items) => {
            for item in items {
                collect(item, out)?;
            }
            Ok(())
        }
        Json::Object(mut obj) => match obj.get("kind").and_then(Json::as_str) {
            Some("EventList") => {
                match obj.remove("items") {
                    Some(Json::Array(items)) => {
                        for item in items {
                            push(item, out);
                        }
                    }
                    _ => return Err(AuditError::NotAudit),
                }
                Ok(())
            }
            Some("Event") => {
                push(Json::Object(obj), out);
                Ok(())
            }
            _ => Err(AuditError::NotAudit),
        },
        _ => Err(AuditError::NotAudit),
    }
}

/// RFC 3339 (`2018-10-26T13:42:46.808261Z`, offsets allowed) to ns since
/// the epoch.
pub(crate) fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut v: i64 = digits[..digits.len().min(9)].parse().ok()?;
        for _ in digits.len().min(9)..9 {
            v *= 10;
        }
        frac_ns = v;
    }
    let offset_s = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(&tz[..1], "+" | "-") && &tz[3..4] == ":" => {
            let oh: i64 = tz[1..3].parse().ok()?;
            let om: i64 = tz[4..6].parse().ok()?;
            let sign = if &tz[..1] == "-" { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns as u64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_epoch_nanoseconds() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("2018-10-26T13:42:46.808261Z"),
            Some(1_540_561_366_808_261_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2018-10-26T15:42:46.5+02:00"),
            Some(1_540_561_366_500_000_000)
        );
        assert_eq!(parse_rfc3339_ns("2018-10-26 13:42:46Z"), None);
        assert_eq!(parse_rfc3339_ns("2018-13-26T13:42:46Z"), None);
        assert_eq!(parse_rfc3339_ns("2018-10-26T13:42:46"), None);
    }

    #[test]
    fn payload_kinds() {
        let ev = r#"{"kind":"Event","auditID":"a","stageTimestamp":"2020-01-01T00:00:00Z"}"#;
        let list =
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{ev},{ev}]}}"#);
        assert_eq!(parse_payload(ev.as_bytes()).unwrap().len(), 1);
        assert_eq!(parse_payload(list.as_bytes()).unwrap().len(), 2);
        assert_eq!(
            parse_payload(format!("[{ev},{list}]").as_bytes())
                .unwrap()
                .len(),
            3
        );
        assert!(matches!(
            parse_payload(b"{\"kind\":\"Pod\"}"),
            Err(AuditError::NotAudit)
        ));
        assert!(matches!(parse_payload(b"{"), Err(AuditError::Json(_))));
        let bad = parse_payload(br#"{"kind":"Event","auditID":"a"}"#).unwrap();
        assert!(matches!(
            &bad[0],
            Err(AuditError::BadEvent { index: 0, .. })
        ));
    }
}
