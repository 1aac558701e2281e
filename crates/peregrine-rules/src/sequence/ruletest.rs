//! Embedded tests of sequence rules: a list of events in order (each in
//! the rule-test event format, [`crate::ruletest`]) and whether the
//! sequence must alert on them.
//!
//! ```yaml
//! tests:
//!   - name: download, chmod, run
//!     expect: fire                 # or no_fire
//!     events:
//!       - {type: openat, proc: {name: curl}, fd: {name: /tmp/x, flags: O_WRONLY|O_CREAT}}
//!       - after: 2s                # event time since the previous event (default 1s)
//!         type: chmod
//!         proc: {name: chmod}
//!         fd: {name: /tmp/x}
//! ```

use super::Tracker;
use crate::diag::Diagnostic;
use crate::engine::Engine;
use crate::loader::{parse_duration, At};
use crate::ruletest::Outcome;
use crate::yaml::{Node, NodeKind};

/// Event time of a test's first event.
const T0: u64 = 1_700_000_000_000_000_000;

/// The events of one test with their times, or what is wrong.
fn events(t: &Node) -> Result<Vec<(u64, Node)>, (crate::diag::Pos, String)> {
    let list = t.get("events").and_then(|e| e.as_seq()).ok_or((
        t.pos,
        "a sequence test needs 'events', a list of events".into(),
    ))?;
    let mut out = Vec::new();
    let mut ts = T0;
    for (i, ev) in list.iter().enumerate() {
        let Some(map) = ev.as_map() else {
            return Err((ev.pos, "each event must be a mapping".into()));
        };
        let mut rest = Vec::new();
        let mut gap = if i == 0 { 0 } else { 1_000_000_000 };
        for (k, v) in map {
            if k.as_str() == Some("after") {
                gap = v.as_str().and_then(parse_duration).ok_or((
                    v.pos,
                    format!(
                        "'after' must be a duration such as 2s or 500ms, not {:?}",
                        v.as_str()
                    ),
                ))?;
            } else {
                rest.push((k.clone(), v.clone()));
            }
        }
        ts += gap;
        out.push((
            ts,
            Node {
                kind: NodeKind::Map(rest),
                pos: ev.pos,
                quoted: false,
            },
        ));
    }
    Ok(out)
}

/// Run the embedded tests of every sequence rule, adding to `outcomes` and
/// `diags` (malformed tests are diagnostics with their position).
pub fn run(engine: &Engine, outcomes: &mut Vec<Outcome>, diags: &mut Vec<Diagnostic>) {
    let seqs = engine.sequences();
    for seq in seqs.list() {
        let item = format!("sequence '{}'", seq.name);
        for t in &seq.tests {
            let src = &seq.at.source;
            let name = t
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("test at line {}", t.pos.line));
            let mut fail = |pos, msg: String| {
                diags.push(
                    Diagnostic::error(src, pos, format!("test '{name}': {msg}")).in_item(&item),
                )
            };
            let expect = match t.get("expect").and_then(|e| e.as_str()) {
                Some("fire") | Some("true") => true,
                Some("no_fire") | Some("false") => false,
                other => {
                    fail(
                        t.pos,
                        format!("expect must be fire or no_fire, not {other:?}"),
                    );
                    continue;
                }
            };
            let evs = match events(t) {
                Ok(e) => e,
                Err((pos, msg)) => {
                    fail(pos, msg);
                    continue;
                }
            };
            let mut tracker = Tracker::new(seqs);
            let mut memo = engine.memo();
            let mut fired = false;
            let mut broken = false;
            for (ts, ev) in &evs {
                match crate::ruletest::build(ev) {
                    Ok(mut ctx) => {
                        ctx.event.ts_ns = *ts;
                        let m = tracker.observe(seqs, &ctx, &mut memo);
                        fired |= m.iter().any(|m| m.rule == seq.name);
                    }
                    Err(msg) => {
                        fail(ev.pos, msg);
                        broken = true;
                        break;
                    }
                }
            }
            if broken {
                continue;
            }
            outcomes.push(Outcome {
                rule: seq.name.clone(),
                name: name.clone(),
                expect,
                fired,
                at: At {
                    source: src.clone(),
                    pos: t.pos,
                },
            });
        }
    }
}

/// Feed one event written in the rule-test format (with `ts`: its time in
/// seconds after the tests' first event) to `tracker`; the number of
/// sequences it completed. For tests of the tracker itself.
pub fn observe_yaml(
    tracker: &mut Tracker,
    engine: &Engine,
    yaml: &str,
    memo: &mut crate::eval::Memo,
) -> Result<usize, String> {
    let src = std::sync::Arc::new(crate::diag::Source {
        name: "event".into(),
        text: yaml.to_string(),
    });
    let doc = crate::yaml::parse(&src)
        .map_err(|d| d.to_string())?
        .pop()
        .ok_or("empty event")?;
    let mut rest = Vec::new();
    let mut ts = T0;
    for (k, v) in doc.as_map().ok_or("an event is a mapping")? {
        if k.as_str() == Some("ts") {
            let s: u64 = v
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or("ts: seconds")?;
            ts += s * 1_000_000_000;
        } else {
            rest.push((k.clone(), v.clone()));
        }
    }
    let ev = Node {
        kind: NodeKind::Map(rest),
        pos: doc.pos,
        quoted: false,
    };
    let mut ctx = crate::ruletest::build(&ev)?;
    ctx.event.ts_ns = ts;
    Ok(tracker.observe(engine.sequences(), &ctx, memo).len())
}
