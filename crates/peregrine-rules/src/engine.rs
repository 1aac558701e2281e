//! The rule engine: compiled rules indexed by event type.

use crate::compile::{compile, CompiledRule};
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
    evt_type: Bound,
    memo_slots: usize,
    stats: Stats,
    warnings: Vec<Diagnostic>,
    per_file: Vec<(String, usize, usize, usize)>,
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
    /// Load and compile files in order (later files refine earlier ones).
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Engine, LoadError> {
        let mut loader = Loader::new();
        for p in paths {
            loader.load_file(p.as_ref());
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
        let (rules, memo_slots, mut warnings) = compile(loader)?;
        stats.enabled = rules.len();
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any_type = Vec::new();
        for (i, r) in rules.iter().enumerate() {
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
        let by_code = (0..127u32)
            .map(|code| {
                let mut v: Vec<usize> = evt_type_name_of_code(code)
                    .and_then(|name| by_type.get(name))
                    .cloned()
                    .unwrap_or_default();
                v.extend(&any_type);
                v
            })
            .collect();
        let by_name = by_type
            .iter()
            .map(|(t, v)| (t.clone(), v.iter().chain(&any_type).copied().collect()))
            .collect();
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
            evt_type: Bound {
                def: lookup("evt.type").expect("evt.type"),
                arg: FieldArg::None,
            },
            memo_slots,
            stats,
            warnings,
            per_file,
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
        crate::analysis::open_path_prefixes(&self.rules, access)
    }

    /// Does some loaded rule read the process environment (`proc.env`)?
    /// The sensor copies it at exec only then.
    pub fn needs_env(&self) -> bool {
        crate::analysis::uses_field(&self.rules, crate::fields::Fid::ProcEnv)
    }

    /// The event kinds some loaded rule needs (for the kernel filter).
    pub fn required_kinds(&self) -> BTreeSet<EventKind> {
        if !self.any_type.is_empty() {
            return EventKind::ALL.iter().copied().collect();
        }
        let mut kinds: BTreeSet<EventKind> = self
            .by_type
            .keys()
            .filter_map(|t| kind_of_evt_type(t))
            .collect();
        // Process lifecycle always feeds the process table.
        kinds.extend([EventKind::Exec, EventKind::Fork, EventKind::Exit]);
        kinds
    }
}
