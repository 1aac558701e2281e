//! Partial matches of sequence rules and their progress, event by event.
//!
//! A partial match waits for its next step, keyed by what ties the steps
//! (the previous step's process, the container id or the user id) so that
//! an event finds the partial matches it may continue in a hash lookup per
//! level of its ancestry. Bounded: at most `max_partials` per sequence, the
//! oldest evicted. Time is the events' own (`evt.time`): a partial match
//! older than the window when the next step comes is dropped.

use super::{CompiledSequence, Sequences};
use crate::context::Context;
use crate::eval::{Check, Lit, Memo, Rhs};
use crate::fields::{extract, lookup, Bound, FieldArg};
use crate::loader::SeqBy;
use crate::Match;
use std::collections::{BTreeMap, HashMap};

/// How far out of order (in event time) events may arrive before an
/// expired partial match is swept: sweeps never change what matches.
const SWEEP_SLACK_NS: u64 = 10_000_000_000;
/// Events between sweeps of expired partial matches.
const SWEEP_EVERY: u64 = 4096;

/// Counters of one sequence rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqStats {
    /// Partial matches held now.
    pub active: usize,
    /// Partial matches evicted because the cap was reached.
    pub evictions: u64,
    /// Sequences completed (alerts raised).
    pub completions: u64,
    /// Partial matches dropped because their window passed.
    pub expired: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A process: (pid, start time).
    Proc(u32, u64),
    /// A container id or user id.
    Str(String),
}

#[derive(Debug, Clone)]
struct Partial {
    /// The step it waits for.
    next: usize,
    start_ns: u64,
    key: Key,
    caps: Vec<Option<String>>,
}

#[derive(Debug, Default)]
struct SeqState {
    /// By id; ids grow, so the first is the oldest.
    partials: BTreeMap<u64, Partial>,
    /// Waiting partials by (step, key).
    index: HashMap<(usize, Key), Vec<u64>>,
    next_id: u64,
    stats: SeqStats,
}

impl SeqState {
    fn unindex(&mut self, id: u64, p: &Partial) {
        let k = (p.next, p.key.clone());
        if let Some(v) = self.index.get_mut(&k) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.index.remove(&k);
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Partial> {
        let p = self.partials.remove(&id)?;
        self.unindex(id, &p);
        Some(p)
    }

    /// Hold `p` (replacing an identical one: same step, key and values),
    /// evicting the oldest past `max`.
    fn insert(&mut self, p: Partial, max: usize) {
        let k = (p.next, p.key.clone());
        let same = self.index.get(&k).and_then(|ids| {
            ids.iter()
                .copied()
                .find(|id| self.partials.get(id).is_some_and(|q| q.caps == p.caps))
        });
        if let Some(id) = same {
            self.remove(id);
        }
        while self.partials.len() >= max {
            let Some((&id, _)) = self.partials.iter().next() else {
                break;
            };
            self.remove(id);
            self.stats.evictions += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.index.entry(k).or_default().push(id);
        self.partials.insert(id, p);
    }

    fn sweep(&mut self, before_ns: u64) {
        let old: Vec<u64> = self
            .partials
            .iter()
            .filter(|(_, p)| p.start_ns < before_ns)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.remove(id);
            self.stats.expired += 1;
        }
    }
}

/// The state of every sequence rule of one engine.
pub struct Tracker {
    states: Vec<SeqState>,
    hits: Vec<super::StepRef>,
    events: u64,
    max_ts: u64,
    container_id: Bound,
    user_uid: Bound,
}

fn bound(name: &str) -> Bound {
    Bound {
        def: lookup(name).expect("field in catalogue"),
        arg: FieldArg::None,
    }
}

fn render(b: &Bound, ctx: &dyn Context) -> Option<String> {
    extract(b, ctx).map(|v| v.render())
}

impl Tracker {
    /// Empty state for `seqs`.
    pub fn new(seqs: &Sequences) -> Tracker {
        Tracker {
            states: seqs.list().iter().map(|_| SeqState::default()).collect(),
            hits: Vec::new(),
            events: 0,
            max_ts: 0,
            container_id: bound("container.id"),
            user_uid: bound("user.uid"),
        }
    }

    /// Counters of each sequence, in the order of [`Sequences::list`].
    pub fn stats(&self) -> Vec<SeqStats> {
        self.states
            .iter()
            .map(|s| SeqStats {
                active: s.partials.len(),
                ..s.stats
            })
            .collect()
    }

    /// Look at the next event (every event, in order): the sequences it
    /// completes, as matches rendered on it.
    pub fn observe(&mut self, seqs: &Sequences, ctx: &dyn Context, memo: &mut Memo) -> Vec<Match> {
        let ts = ctx.event().ts_ns;
        self.events += 1;
        self.max_ts = self.max_ts.max(ts);
        if self.events.is_multiple_of(SWEEP_EVERY) {
            for (s, st) in seqs.list().iter().zip(self.states.iter_mut()) {
                let before = self.max_ts.saturating_sub(s.within_ns + SWEEP_SLACK_NS);
                st.sweep(before);
            }
        }
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        seqs.for_each_step(ctx, memo, |r| hits.push(r));
        // Later steps first, so that one event moves a partial match one
        // step only.
        hits.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = Vec::new();
        let mut i = 0;
        while i < hits.len() {
            let si = hits[i].0 as usize;
            let mut done: Option<Partial> = None;
            while i < hits.len() && hits[i].0 as usize == si {
                let step = hits[i].1 as usize;
                if let Some(p) = self.step(&seqs.list()[si], si, step, ctx) {
                    if done.as_ref().is_none_or(|d| p.start_ns < d.start_ns) {
                        done = Some(p);
                    }
                }
                i += 1;
            }
            if let Some(p) = done {
                out.push(render_match(&seqs.list()[si], &p, ctx));
            }
        }
        self.hits = hits;
        out
    }

    fn key_of(&self, by: SeqBy, ctx: &dyn Context) -> Key {
        match by {
            SeqBy::ProcessTree => match ctx.process(0) {
                Some(p) => Key::Proc(p.pid, p.start_ns),
                None => Key::Proc(ctx.event().process.pid, 0),
            },
            SeqBy::Container => Key::Str(render(&self.container_id, ctx).unwrap_or_default()),
            SeqBy::User => Key::Str(render(&self.user_uid, ctx).unwrap_or_default()),
        }
    }

    /// The keys an event continues partial matches of: for a process tree
    /// the event's process and each ancestor.
    fn keys_of(&self, by: SeqBy, ctx: &dyn Context) -> Vec<Key> {
        if by != SeqBy::ProcessTree {
            return vec![self.key_of(by, ctx)];
        }
        let mut keys = Vec::new();
        let mut level = 0;
        while let Some(p) = ctx.process(level) {
            keys.push(Key::Proc(p.pid, p.start_ns));
            level += 1;
        }
        if keys.is_empty() {
            keys.push(self.key_of(by, ctx));
        }
        keys
    }

    /// Apply one satisfied step; the partial match it completes, if any.
    fn step(
        &mut self,
        seq: &CompiledSequence,
        si: usize,
        step: usize,
        ctx: &dyn Context,
    ) -> Option<Partial> {
        let ts = ctx.event().ts_ns;
        let def = &seq.steps[step];
        let capture = |caps: &mut Vec<Option<String>>| {
            for (var, b) in &def.captures {
                caps[*var] = render(b, ctx);
            }
        };
        if step == 0 {
            let mut caps = vec![None; seq.vars.len()];
            capture(&mut caps);
            let p = Partial {
                next: 1,
                start_ns: ts,
                key: self.key_of(seq.by, ctx),
                caps,
            };
            self.states[si].insert(p, seq.max_partials);
            return None;
        }
        let keys = self.keys_of(seq.by, ctx);
        let new_key = self.key_of(seq.by, ctx);
        let st = &mut self.states[si];
        let mut ids = Vec::new();
        for k in keys {
            if let Some(v) = st.index.get(&(step, k)) {
                ids.extend_from_slice(v);
            }
        }
        let mut done: Option<Partial> = None;
        for id in ids {
            let Some(p) = st.partials.get(&id) else {
                continue;
            };
            if ts.saturating_sub(p.start_ns) > seq.within_ns {
                st.remove(id);
                st.stats.expired += 1;
                continue;
            }
            if !def
                .correlations
                .iter()
                .all(|cl| cl.iter().any(|c| correlates(c, &p.caps, ctx)))
            {
                continue;
            }
            let mut p = st.remove(id).expect("held");
            capture(&mut p.caps);
            p.next = step + 1;
            if p.next == seq.steps.len() {
                st.stats.completions += 1;
                if done.as_ref().is_none_or(|d| p.start_ns < d.start_ns) {
                    done = Some(p);
                }
            } else {
                p.key = new_key.clone();
                st.insert(p, seq.max_partials);
            }
        }
        done
    }
}

/// Does the event's field compare with the captured value as the step says?
fn correlates(c: &super::Correlation, caps: &[Option<String>], ctx: &dyn Context) -> bool {
    let Some(Some(value)) = caps.get(c.var) else {
        return false;
    };
    Check {
        field: c.field.clone(),
        transformers: c.transformers.clone(),
        op: c.op,
        rhs: Rhs::Lit(Lit::new(value)),
        any_ancestor: crate::eval::is_any_ancestor(&c.field),
    }
    .eval(ctx)
}

/// The alert of a completed sequence: its output on the last event, with
/// `${name}` replaced by the captured values (also in the fields, as
/// `capture.NAME`).
fn render_match(seq: &CompiledSequence, p: &Partial, ctx: &dyn Context) -> Match {
    let (mut output, mut output_fields) = seq.output.render(ctx);
    for (i, name) in seq.vars.iter().enumerate() {
        let v = p.caps[i].clone().unwrap_or_else(|| "<NA>".into());
        output = output.replace(&format!("${{{name}}}"), &v);
        output_fields.insert(format!("capture.{name}"), v);
    }
    Match {
        rule: seq.name.clone(),
        priority: seq.priority,
        output,
        output_fields,
        tags: seq.tags.clone(),
    }
}
