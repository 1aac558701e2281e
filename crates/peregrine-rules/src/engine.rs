//! The rule engine: compiled rules indexed by event type.

use crate::compile::{compile_all, CompiledRule};
use crate::context::Context;
use crate::diag::{Diagnostic, LoadError};
use crate::eval::{evt_type_code, evt_type_name_of_code, Memo};
use crate::fields::{extract, lookup, Bound, FieldArg};
use crate::loader::{Loader, Priority};
use crate::program::{Entry, Program};
use peregrine_event::{EventKind, Syscall};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// A rule that matched an event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Match {
    /// Rule name.
    pub rule: String,
    /// Priority.
    pub priority: Priority,
    /// Rendered output.
    pub output: String,
    /// Values of the output's fields.
    pub output_fields: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// The by-code and by-name dispatch tables of items indexed by the event
/// types they can match (`by_type`) plus those matching any (`any_type`).
/// By name, only names the decoder can produce: a file naming thousands of
/// invented types next to many unrestricted items would otherwise make the
/// table (names × unrestricted items) grow quadratically. Shared by rules
/// and sequence steps.
pub(crate) fn dispatch_tables<T: Copy>(
    by_type: &HashMap<String, Vec<T>>,
    any_type: &[T],
) -> (Vec<Vec<T>>, HashMap<String, Vec<T>>) {
    let by_code = (0..127u32)
        .map(|code| {
            let mut v: Vec<T> = evt_type_name_of_code(code)
                .and_then(|name| by_type.get(name))
                .cloned()
                .unwrap_or_default();
            v.extend_from_slice(any_type);
            v
        })
        .collect();
    let by_name = by_type
        .iter()
        .filter(|(t, _)| kind_of_evt_type(t).is_some())
        .map(|(t, v)| (t.clone(), v.iter().chain(any_type).copied().collect()))
        .collect();
    (by_code, by_name)
}

/// Counts of what was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rules defined.
    pub rules: usize,
    /// Rules enabled and compiled.
    pub enabled: usize,
    /// Macros defined.
    pub macros: usize,
    /// Lists defined.
    pub lists: usize,
}

/// Compiled rules, ready to evaluate events.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<CompiledRule>,
    /// Every rule's condition as one flat program; `entries[i]` is rule i's.
    program: Program,
    entries: Vec<Entry>,
    by_type: HashMap<String, Vec<usize>>,
    /// The rules to evaluate for an event (its type's and the untyped
    /// ones), by [`evt_type_code`]: the per-event lookup.
    by_code: Vec<Vec<usize>>,
    /// The same by `evt.type` name, for events without a code.
    by_name: HashMap<String, Vec<usize>>,
    any_type: Vec<usize>,
    /// Rules of the `k8s_audit` source (never evaluated for syscalls).
    audit_rules: Vec<usize>,
    evt_type: Bound,
    memo_slots: usize,
    stats: Stats,
    warnings: Vec<Diagnostic>,
    per_file: Vec<(String, usize, usize, usize)>,
    /// Sequence rules (extension), evaluated apart from the rules.
    sequences: crate::sequence::Sequences,
}

/// Names Peregrine gives `evt.type` for each event kind.
pub fn evt_types_of(kind: EventKind) -> Vec<&'static str> {
    match kind {
        EventKind::Exec => vec!["execve"],
        EventKind::Fork => vec!["clone"],
        EventKind::Exit => vec!["procexit"],
        k => Syscall::ALL
            .iter()
            .filter(|s| s.kind() == k)
            .map(|s| s.name())
            .collect(),
    }
}

/// The event kind behind an `evt.type` name, if Peregrine captures it.
pub fn kind_of_evt_type(t: &str) -> Option<EventKind> {
    match t {
        "execve" | "execveat" => Some(EventKind::Exec),
        "clone" | "clone3" | "fork" | "vfork" => Some(EventKind::Fork),
        "procexit" => Some(EventKind::Exit),
        "umount" => Some(EventKind::Umount),
        other => other.parse::<Syscall>().ok().map(Syscall::kind),
    }
}

impl Engine {
    /// Load and compile rules paths in order (later files refine earlier
    /// ones): files, directories and embedded files, see
    /// [`Loader::load_path`].
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Engine, LoadError> {
        let mut loader = Loader::new();
        for p in paths {
            loader.load_path(p.as_ref());
        }
        Engine::from_loader(loader)
    }

    /// Compile one rules text (tests, embedded rules).
    pub fn from_str(name: &str, text: &str) -> Result<Engine, LoadError> {
        let mut loader = Loader::new();
        loader.load_str(name, text);
        Engine::from_loader(loader)
    }

    /// Compile what a loader collected.
    pub fn from_loader(loader: Loader) -> Result<Engine, LoadError> {
        let mut stats = Stats {
            rules: loader.set.rules.len(),
            macros: loader.set.macros.len(),
            lists: loader.set.lists.len(),
            enabled: 0,
        };
        let per_file = loader.set.file_counts.clone();
        // Compile even after loader errors so that every problem is reported.
        let (rules, sequences, memo_slots, mut warnings) = compile_all(loader)?;
        stats.enabled = rules.len();
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any_type = Vec::new();
        let mut audit_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.source == crate::fields::k8saudit::SOURCE {
                audit_rules.push(i);
                continue;
            }
            match &r.event_types {
                None => {
                    warnings.push(
                        Diagnostic::warning(
                            &r.at.source,
                            r.at.pos,
                            "rule does not restrict evt.type: it is evaluated for every event",
                        )
                        .in_item(&format!("rule '{}'", r.name)),
                    );
                    any_type.push(i);
                }
                Some(types) => {
                    let captured: Vec<&String> = types
                        .iter()
                        .filter(|t| kind_of_evt_type(t).is_some())
                        .collect();
                    if captured.is_empty() {
                        warnings.push(
                            Diagnostic::warning(&r.at.source, r.at.pos, format!(
                                "rule needs event types Peregrine does not capture yet ({}): it will not fire",
                                types.iter().cloned().collect::<Vec<_>>().join(", ")
                            ))
                            .in_item(&format!("rule '{}'", r.name)),
                        );
                    }
                    for t in types {
                        by_type.entry(t.clone()).or_default().push(i);
                    }
                }
            }
        }
        let (by_code, by_name) = dispatch_tables(&by_type, &any_type);
        let mut program = Program::default();
        let entries = rules.iter().map(|r| program.add(&r.condition)).collect();
        program.finish();
        Ok(Engine {
            rules,
            program,
            entries,
            by_type,
            by_code,
            by_name,
            any_type,
            audit_rules,
            evt_type: Bound {
                def: lookup("evt.type").expect("evt.type"),
                arg: FieldArg::None,
            },
            memo_slots,
            stats,
            warnings,
            per_file,
            sequences: crate::sequence::Sequences::new(sequences),
        })
    }

    /// What was loaded.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Per file: (name, rules, macros, lists) as written in it.
    pub fn file_counts(&self) -> &[(String, usize, usize, usize)] {
        &self.per_file
    }

    /// Warnings from loading.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// How many rules are evaluated for an event of type `evt_type`.
    pub fn rules_for_type(&self, evt_type: &str) -> usize {
        self.by_type.get(evt_type).map(|v| v.len()).unwrap_or(0) + self.any_type.len()
    }

    /// Instructions and distinct checks of the compiled program.
    pub fn program_size(&self) -> (usize, usize) {
        self.program.size()
    }

    /// The compiled rules.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// The compiled sequence rules (see [`crate::sequence`]).
    pub fn sequences(&self) -> &crate::sequence::Sequences {
        &self.sequences
    }

    /// The rules, and every sequence step as a rule: what the analyses of
    /// what the kernel must send look at.
    fn analysed(&self) -> std::borrow::Cow<'_, [CompiledRule]> {
        if self.sequences.is_empty() {
            return std::borrow::Cow::Borrowed(&self.rules);
        }
        let mut all = self.rules.clone();
        all.extend(self.sequences.as_rules());
        std::borrow::Cow::Owned(all)
    }

    /// A memo sized for this engine (reuse it across events).
    pub fn memo(&self) -> Memo {
        Memo::new(self.memo_slots)
    }

    /// Call `f` with every rule whose condition holds for the event.
    pub fn for_each_match<'e>(&'e self, ctx: &dyn Context, f: impl FnMut(&'e CompiledRule)) {
        let mut memo = self.memo();
        self.for_each_match_memo(ctx, &mut memo, f)
    }

    /// Like [`Engine::for_each_match`] with a caller-owned memo (no allocation).
    pub fn for_each_match_memo<'e>(
        &'e self,
        ctx: &dyn Context,
        memo: &mut Memo,
        mut f: impl FnMut(&'e CompiledRule),
    ) {
        memo.reset();
        let code = evt_type_code(ctx.event()) as usize;
        let name;
        let rules: &[usize] = match self.by_code.get(code) {
            Some(rules) => rules,
            None => match extract(&self.evt_type, ctx) {
                Some(crate::context::Value::Str(s)) => {
                    name = s;
                    self.by_name.get(name.as_ref()).unwrap_or(&self.any_type)
                }
                _ => return,
            },
        };
        for &i in rules {
            if self.program.eval(self.entries[i], ctx, memo) {
                f(&self.rules[i]);
            }
        }
    }

    /// How many `k8s_audit` rules are loaded.
    pub fn audit_rule_count(&self) -> usize {
        self.audit_rules.len()
    }

    /// Call `f` with every `k8s_audit` rule whose condition holds for the
    /// audit event of `ctx` (an [`crate::fields::k8saudit::AuditContext`]).
    pub fn for_each_audit_match<'e>(
        &'e self,
        ctx: &dyn Context,
        memo: &mut Memo,
        mut f: impl FnMut(&'e CompiledRule),
    ) {
        memo.reset();
        for &i in &self.audit_rules {
            if self.program.eval(self.entries[i], ctx, memo) {
                f(&self.rules[i]);
            }
        }
    }

    /// Every matching `k8s_audit` rule with its rendered output.
    pub fn evaluate_audit(&self, ctx: &dyn Context) -> Vec<Match> {
        let mut out = Vec::new();
        let mut memo = self.memo();
        self.for_each_audit_match(ctx, &mut memo, |r| {
            let (output, output_fields) = r.output.render(ctx);
            out.push(Match {
                rule: r.name.clone(),
                priority: r.priority,
                output,
                output_fields,
                tags: r.tags.clone(),
            });
        });
        out
    }

    /// Every matching rule with its rendered output.
    pub fn evaluate(&self, ctx: &dyn Context) -> Vec<Match> {
        let mut out = Vec::new();
        self.for_each_match(ctx, |r| {
            let (output, output_fields) = r.output.render(ctx);
            out.push(Match {
                rule: r.name.clone(),
                priority: r.priority,
                output,
                output_fields,
                tags: r.tags.clone(),
            });
        });
        out
    }

    /// Path prefixes every successful open for `access` some loaded rule
    /// may match starts with (`None`: any may matter). See
    /// [`crate::analysis`].
    pub fn open_path_prefixes(&self, access: crate::analysis::Access) -> Option<Vec<String>> {
        crate::analysis::open_path_prefixes(&self.analysed(), access)
    }

    /// Does some loaded rule read the process environment (`proc.env`)?
    /// The sensor copies it at exec only then.
    pub fn needs_env(&self) -> bool {
        crate::analysis::uses_field(&self.analysed(), crate::fields::Fid::ProcEnv)
    }

    /// The event kinds some loaded rule needs (for the kernel filter).
    pub fn required_kinds(&self) -> BTreeSet<EventKind> {
        let step_types = self.sequences.event_types();
        if !self.any_type.is_empty() || step_types.is_none() {
            return EventKind::ALL.iter().copied().collect();
        }
        let mut kinds: BTreeSet<EventKind> = self
            .by_type
            .keys()
            .map(String::as_str)
            .chain(step_types.into_iter().flatten())
            .filter_map(kind_of_evt_type)
            .collect();
        // Process lifecycle always feeds the process table.
        kinds.extend([EventKind::Exec, EventKind::Fork, EventKind::Exit]);
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::Engine;

    /// Invented event-type names do not multiply with unrestricted rules.
    #[test]
    fn invented_event_types_do_not_grow_the_dispatch_table() {
        let mut text = String::new();
        let names: Vec<String> = (0..2000).map(|i| format!("made_up_{i}")).collect();
        text.push_str(&format!(
            "- rule: invented\n  desc: d\n  condition: evt.type in ({}) and proc.name = x\n  output: o\n  priority: WARNING\n",
            names.join(", ")
        ));
        for i in 0..200 {
            text.push_str(&format!(
                "- rule: any {i}\n  desc: d\n  condition: proc.name = y{i}\n  output: o\n  priority: WARNING\n"
            ));
        }
        let e = Engine::from_str("invented.yaml", &text).expect("loads");
        let held: usize = e.by_name.values().map(Vec::len).sum();
        assert!(held <= 200, "by-name table holds {held} entries");
        assert_eq!(e.rules_for_type("made_up_7"), 201);
    }
}
