//! Bounds on what a rules file can make the loader do.
//!
//! Rules files are input like any other: a file of a few kilobytes must not
//! make `peregrine rules validate` (or an agent reloading its rules) use
//! gigabytes or overflow the stack. Macros and lists are compiled once and
//! shared, so sizes grow with the file; these limits bound what sharing
//! cannot: nesting depth, and values that lists built from lists and YAML
//! aliases multiply. Each is far above what Falco's upstream files and
//! Peregrine's own need (their peaks are in the tests); a file past one gets
//! an error naming the place, the item and the limit. See docs/RULES.md.

/// Deepest YAML nesting of sequences and mappings.
pub const MAX_YAML_DEPTH: usize = 256;

/// Nodes YAML aliases may add to one file (every alias counts the nodes of
/// what it repeats).
pub const MAX_ALIAS_NODES: usize = 1_000_000;

/// Bytes of scalar text YAML aliases may add to one file.
pub const MAX_ALIAS_BYTES: usize = 16 << 20;

/// Deepest nesting of one condition as written (parentheses, `not`,
/// transformers). Re-exported from the parser.
pub const MAX_CONDITION_DEPTH: usize = crate::parser::MAX_DEPTH;

/// Deepest nesting of a rule's condition once macros are expanded (each
/// macro reference counts, as do the levels of its own condition). A chain
/// of macros each naming the next is bounded by this too.
pub const MAX_EXPANDED_DEPTH: usize = 400;

/// Deepest chain of lists naming lists.
pub const MAX_LIST_DEPTH: usize = 32;

/// List values all expansions of lists (and list operands of conditions
/// and exceptions) may produce in one load, after removing duplicates —
/// plus one per byte of the files loaded, so that a large file of many
/// small lists is not refused.
pub const MAX_LIST_VALUES: usize = 1_000_000;

/// Event-type names above which a rule's `evt.type` test no longer indexes
/// it (it is then evaluated for every event, still correctly).
pub const MAX_INDEXED_EVENT_TYPES: usize = 1024;

/// Errors, and warnings, kept for one load (each); later ones are counted
/// in one last diagnostic (rendering each costs a look-up in its file).
pub const MAX_DIAGNOSTICS: usize = 100;
