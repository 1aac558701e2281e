//! Sequence rules (Peregrine extension): "A then B [then C] within T, by
//! process tree, container or user". Each step is a condition compiled by
//! the ordinary compiler (macros, lists, the flat [`Program`]); a step may
//! compare a field with a value captured by an earlier step (`fd.name =
//! ${path}`). [`Sequences`] finds the steps an event satisfies, a
//! [`Tracker`] keeps the bounded partial matches and says when one
//! completes. Everything depends on the events only (their order and
//! their timestamps), so a replay of a capture raises what the live agent
//! raised.
//!
//! The file syntax is in [`crate::loader::SequenceDef`] and docs/RULES.md.

pub mod compile;
pub mod ruletest;
mod tracker;

pub use tracker::{SeqStats, Tracker};

use crate::ast::{Op, Transformer};
use crate::compile::CompiledRule;
use crate::context::Context;
use crate::eval::{evt_type_code, Memo, Node};
use crate::fields::{extract, lookup, Bound, FieldArg};
use crate::loader::{At, Priority, SeqBy};
use crate::output::Template;
use crate::program::{Entry, Program};
use std::collections::{BTreeSet, HashMap};

/// A step's comparison of a field with an earlier step's captured value.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// The field of this step's event.
    pub field: Bound,
    /// Transformers on the field, innermost first.
    pub transformers: Vec<Transformer>,
    /// Operator.
    pub op: Op,
    /// Index of the captured value in [`CompiledSequence::vars`].
    pub var: usize,
}

/// One compiled step.
#[derive(Debug, Clone)]
pub struct CompiledStep {
    /// The condition without its comparisons with captured values.
    pub condition: Node,
    /// Event types it can match; `None`: any.
    pub event_types: Option<BTreeSet<String>>,
    /// Values this step captures: (index in `vars`, field).
    pub captures: Vec<(usize, Bound)>,
    /// Comparisons with earlier captures: every clause must hold, each by
    /// one of its comparisons.
    pub correlations: Vec<Vec<Correlation>>,
    /// Where the step is written.
    pub at: At,
}

/// A sequence rule ready to run.
#[derive(Debug, Clone)]
pub struct CompiledSequence {
    /// Name (the alerts' rule name).
    pub name: String,
    /// Description.
    pub desc: String,
    /// What ties the steps together.
    pub by: SeqBy,
    /// Longest time from the first step's event to the last one's, ns.
    pub within_ns: u64,
    /// Steps in order.
    pub steps: Vec<CompiledStep>,
    /// Names of the captured values, by index.
    pub vars: Vec<String>,
    /// Output template (rendered on the last event; `${name}` replaced).
    pub output: Template,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Partial matches held at most.
    pub max_partials: usize,
    /// Embedded tests (raw).
    pub tests: Vec<crate::yaml::Node>,
    /// Where it is defined.
    pub at: At,
}

/// A step of a sequence: (sequence index, step index).
pub type StepRef = (u32, u32);

/// The enabled sequence rules with their steps' conditions in one program,
/// indexed by event type as the engine indexes rules.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    seqs: Vec<CompiledSequence>,
    program: Program,
    entries: Vec<Vec<Entry>>,
    by_code: Vec<Vec<StepRef>>,
    by_name: HashMap<String, Vec<StepRef>>,
    any_type: Vec<StepRef>,
    by_type: HashMap<String, Vec<StepRef>>,
}

impl Sequences {
    /// Index compiled sequences.
    pub fn new(seqs: Vec<CompiledSequence>) -> Sequences {
        let mut by_type: HashMap<String, Vec<StepRef>> = HashMap::new();
        let mut any_type = Vec::new();
        let mut program = Program::default();
        let mut entries = Vec::new();
        for (si, s) in seqs.iter().enumerate() {
            let mut e = Vec::new();
            for (ti, st) in s.steps.iter().enumerate() {
                let r = (si as u32, ti as u32);
                match &st.event_types {
                    None => any_type.push(r),
                    Some(types) => {
                        for t in types {
                            by_type.entry(t.clone()).or_default().push(r);
                        }
                    }
                }
                e.push(program.add(&st.condition));
            }
            entries.push(e);
        }
        program.finish();
        let (by_code, by_name) = crate::engine::dispatch_tables(&by_type, &any_type);
        Sequences {
            seqs,
            program,
            entries,
            by_code,
            by_name,
            any_type,
            by_type,
        }
    }

    /// The compiled sequences.
    pub fn list(&self) -> &[CompiledSequence] {
        &self.seqs
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Event types some step needs (`None`: every type).
    pub fn event_types(&self) -> Option<BTreeSet<&str>> {
        if !self.any_type.is_empty() {
            return None;
        }
        Some(self.by_type.keys().map(String::as_str).collect())
    }

    /// Every step as a rule, for the analyses of what the kernel must send
    /// ([`crate::analysis`]).
    pub fn as_rules(&self) -> Vec<CompiledRule> {
        let mut out = Vec::new();
        for s in &self.seqs {
            for (i, st) in s.steps.iter().enumerate() {
                out.push(CompiledRule {
                    name: format!("{} (step {})", s.name, i + 1),
                    desc: s.desc.clone(),
                    priority: s.priority,
                    tags: s.tags.clone(),
                    source: "syscall".into(),
                    condition: st.condition.clone(),
                    output: Template::default(),
                    event_types: st.event_types.clone(),
                    at: st.at.clone(),
                    tests: Vec::new(),
                    threshold: None,
                    actions: Default::default(),
                    block: None,
                });
            }
        }
        out
    }

    /// Call `f` with every step whose condition (without its comparisons
    /// with captured values) holds for the event, in sequence then step
    /// order.
    pub fn for_each_step(&self, ctx: &dyn Context, memo: &mut Memo, mut f: impl FnMut(StepRef)) {
        if self.seqs.is_empty() {
            return;
        }
        let code = evt_type_code(ctx.event()) as usize;
        let steps: &[StepRef] = match self.by_code.get(code) {
            Some(s) => s,
            None => {
                let t = Bound {
                    def: lookup("evt.type").expect("evt.type"),
                    arg: FieldArg::None,
                };
                match extract(&t, ctx) {
                    Some(crate::context::Value::Str(s)) => {
                        self.by_name.get(s.as_ref()).unwrap_or(&self.any_type)
                    }
                    _ => return,
                }
            }
        };
        if steps.is_empty() {
            return;
        }
        memo.reset();
        for &(si, ti) in steps {
            if self
                .program
                .eval(self.entries[si as usize][ti as usize], ctx, memo)
            {
                f((si, ti));
            }
        }
    }
}
