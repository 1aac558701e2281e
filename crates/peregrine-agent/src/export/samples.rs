//! The samples of a Prometheus/OpenMetrics text exposition, as the agent's
//! registry writes it: `# TYPE` lines give each family's kind, sample lines
//! are `name{label="value",…} number`. Written by hand because it reads
//! only our own registry's output (a few hundred lines a minute), not
//! arbitrary expositions.

/// A family's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter (samples named `<family>_total`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram (`_bucket`, `_sum`, `_count` samples).
    Histogram,
    /// Anything else (info, unknown).
    Other,
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The family (`peregrine_events`).
    pub family: String,
    /// The sample's own name (`peregrine_events_total`, `…_bucket`).
    pub name: String,
    /// The family's kind.
    pub kind: Kind,
    /// Labels, in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// Every sample of `text`; lines that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut kinds: Vec<(String, Kind)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(f), Some(k)) = (it.next(), it.next()) {
                let kind = match k {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    "histogram" => Kind::Histogram,
                    _ => Kind::Other,
                };
                kinds.push((f.to_string(), kind));
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((name, labels, value)) = split(line) else {
            continue;
        };
        let (family, kind) = kinds
            .iter()
            .rev()
            .find(|(f, _)| {
                name == f.as_str()
                    || name
                        .strip_prefix(f.as_str())
                        .is_some_and(|s| s.starts_with('_'))
            })
            .cloned()
            .unwrap_or((name.to_string(), Kind::Other));
        out.push(Sample {
            family,
            name: name.to_string(),
            kind,
            labels,
            value,
        });
    }
    out
}

/// Labels of a sample, in order.
type Labels = Vec<(String, String)>;

/// `name{labels} value [timestamp]`.
fn split(line: &str) -> Option<(&str, Labels, f64)> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) if i > 0 => line.split_at(i),
        _ => return None,
    };
    let (labels, rest) = if let Some(body) = rest.strip_prefix('{') {
        let (labels, used) = parse_labels(body)?;
        (labels, &body[used..])
    } else {
        (Vec::new(), rest)
    };
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((name, labels, value))
}

/// Labels up to and including the closing `}`: (labels, bytes used).
fn parse_labels(s: &str) -> Option<(Labels, usize)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b',' || b[i] == b' ') {
            i += 1;
        }
        if i < b.len() && b[i] == b'}' {
            return Some((out, i + 1));
        }
        let eq = i + s[i..].find('=')?;
        let key = s[i..eq].to_string();
        if b.get(eq + 1) != Some(&b'"') {
            return None;
        }
        let mut j = eq + 2;
        let mut val = String::new();
        loop {
            match *b.get(j)? {
                b'\\' => {
                    match *b.get(j + 1)? {
                        b'n' => val.push('\n'),
                        c => val.push(c as char),
                    }
                    j += 2;
                }
                b'"' => break,
                _ => {
                    let ch = s[j..].chars().next()?;
                    val.push(ch);
                    j += ch.len_utf8();
                }
            }
        }
        out.push((key, val));
        i = j + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_kinds_labels_and_escapes() {
        let text = "# HELP peregrine_events Events.\n# TYPE peregrine_events counter\nperegrine_events_total{kind=\"exec\"} 5\nperegrine_events_total{kind=\"open\"} 7\n# TYPE peregrine_queue_depth gauge\nperegrine_queue_depth 0\n# TYPE peregrine_alerts counter\nperegrine_alerts_total{rule=\"Say \\\"hi\\\", \\\\ ok\",priority=\"Warning\"} 2\n# TYPE peregrine_eval_seconds histogram\nperegrine_eval_seconds_bucket{le=\"0.5\"} 3\nperegrine_eval_seconds_sum 0.25\nperegrine_eval_seconds_count 3\n# EOF\n";
        let s = parse(text);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0].family, "peregrine_events");
        assert_eq!(s[0].kind, Kind::Counter);
        assert_eq!(s[0].labels, vec![("kind".into(), "exec".into())]);
        assert_eq!(s[2].kind, Kind::Gauge);
        assert_eq!(s[2].value, 0.0);
        assert_eq!(s[3].labels[0].1, "Say \"hi\", \\ ok");
        assert_eq!(s[3].labels[1], ("priority".into(), "Warning".into()));
        assert_eq!(
            (s[6].name.as_str(), s[6].kind),
            ("peregrine_eval_seconds_count", Kind::Histogram)
        );
        assert!(parse("garbage{\nx one\n{a=\"1\"} 2\nname{a=1} 3\n").is_empty());
    }
}
