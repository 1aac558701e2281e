//! A YAML document tree that keeps the position of every node.
//!
//! Built from the event stream of `saphyr-parser` so that every rule, macro,
//! list and condition can be reported with its file, line and column.
//! Scalars keep their original text (Falco treats rule values as strings).

use crate::diag::{Diagnostic, Pos, Source};
use crate::limits::{MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_YAML_DEPTH};
use saphyr_parser::{Event, Marker, Parser, ScalarStyle};
use std::collections::HashMap;
use std::sync::Arc;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar, as written (plain scalars `~`/`null`/empty are [`NodeKind::Null`]).
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
    /// An empty value.
    Null,
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Value.
    pub kind: NodeKind,
    /// Where it starts.
    pub pos: Pos,
    /// Quoted or block scalar (never a null/bool keyword).
    pub quoted: bool,
}

impl Node {
    /// Scalar text, if a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }
    /// A boolean as Falco's files and our config write them: true/false,
    /// yes/no, on/off, in any case.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    /// Mapping entries, if a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }
    /// Sequence items, if a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// Value of a key in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
    /// A short name of the node's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Scalar(_) => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Null => "empty",
        }
    }
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
        index: m.index(),
    }
}

/// Size of a subtree: nodes and bytes of scalar text.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

impl Weight {
    fn add(&mut self, w: Weight) {
        self.nodes = self.nodes.saturating_add(w.nodes);
        self.bytes = self.bytes.saturating_add(w.bytes);
    }
}

enum Frame {
    Seq(Pos, usize, Vec<Node>, Weight),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>, Weight),
}

/// What anchors and aliases copied so far, bounded by
/// [`MAX_ALIAS_NODES`] and [`MAX_ALIAS_BYTES`]: an alias repeats its
/// anchor's whole subtree, so nested aliases multiply (a "billion laughs").
#[derive(Default)]
struct Copies {
    anchors: HashMap<usize, (Node, Weight)>,
    copied: Weight,
}

impl Copies {
    /// Count a copy of `w`; an error past the limits.
    fn charge(&mut self, src: &Arc<Source>, at: Pos, w: Weight) -> Result<(), Diagnostic> {
        self.copied.add(w);
        if self.copied.nodes > MAX_ALIAS_NODES || self.copied.bytes > MAX_ALIAS_BYTES {
            return Err(Diagnostic::error(
                src,
                at,
                format!(
                    "YAML anchors and aliases copy more than {MAX_ALIAS_NODES} nodes or \
                     {} MiB of text in this file",
                    MAX_ALIAS_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }
}

/// Parse every document of a YAML file.
///
/// Falco's YAML library accepts flow collections whose continuation lines
/// are not indented past their key (a closing `]` in column 3 under
/// `  items: [`), which YAML 1.2 forbids. Rules files written that way are
/// common, so on an indentation error the parse is retried with such lines
/// indented one column past their key; line numbers are unchanged.
pub fn parse(src: &Arc<Source>) -> Result<Vec<Node>, Diagnostic> {
    match parse_strict(src) {
        Err(e) if e.message.contains("indentation") => {
            let relaxed = relax_flow_indentation(&src.text);
            let alt = Arc::new(Source {
                name: src.name.clone(),
                text: relaxed,
            });
            parse_strict(&alt).map_err(|_| e)
        }
        other => other,
    }
}

/// Indent the lines of block-level flow collections past their key.
pub fn relax_flow_indentation(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut depth = 0i32;
    let mut min_indent = 0usize;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim_start_matches(' ');
        if depth > 0 {
            if indent < min_indent && !content.trim().is_empty() && !content.starts_with('#') {
                out.push_str(&" ".repeat(min_indent));
                out.push_str(content);
            } else {
                out.push_str(line);
            }
        } else {
            out.push_str(line);
            // Does a flow collection start as a value on this line?
            let value = content
                .strip_prefix("- ")
                .map(str::trim_start)
                .unwrap_or(content);
            let value = match value.find(": ") {
                Some(i) if !value.starts_with(['"', '\'']) => value[i + 2..].trim_start(),
                _ => value,
            };
            if !value.starts_with(['[', '{']) {
                continue;
            }
            min_indent = indent + 1;
            let start = line.len() - value.len().min(line.len());
            depth = 0;
            scan_depth(&line[start..], &mut depth);
            continue;
        }
        scan_depth(line, &mut depth);
    }
    out
}

fn scan_depth(s: &str, depth: &mut i32) {
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => break,
            (None, '[' | '{') => *depth += 1,
            (None, ']' | '}') => *depth -= 1,
            _ => {}
        }
    }
    if *depth < 0 {
        *depth = 0;
    }
}

fn parse_strict(src: &Arc<Source>) -> Result<Vec<Node>, Diagnostic> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut copies = Copies::default();
    for item in Parser::new_from_str(&src.text) {
        let (ev, span) = item.map_err(|e| {
            Diagnostic::error(src, pos(e.marker()), format!("invalid YAML: {}", e.info()))
        })?;
        let at = pos(&span.start);
        let done: Option<(Node, usize, Weight)> = match ev {
            Event::Scalar(v, style, anchor, _tag) => {
                let quoted = style != ScalarStyle::Plain;
                let weight = Weight {
                    nodes: 1,
                    bytes: v.len(),
                };
                let kind = if !quoted && matches!(v.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar(v.into_owned())
                };
                let node = Node {
                    kind,
                    pos: at,
                    quoted,
                };
                Some((node, anchor, weight))
            }
            Event::Alias(id) => {
                let Some((node, weight)) = copies.anchors.get(&id) else {
                    return Err(Diagnostic::error(
                        src,
                        at,
                        "YAML alias to an unknown anchor",
                    ));
                };
                let (node, weight) = (node.clone(), *weight);
                // Checked before the copy is made: `weight` may be huge.
                copies.charge(src, at, weight)?;
                Some((node, 0, weight))
            }
            Event::SequenceStart(anchor, _) => {
                enter(src, at, stack.len())?;
                stack.push(Frame::Seq(at, anchor, Vec::new(), one()));
                None
            }
            Event::MappingStart(anchor, _) => {
                enter(src, at, stack.len())?;
                stack.push(Frame::Map(at, anchor, Vec::new(), None, one()));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(p, anchor, items, w)) => {
                    Some((collection(NodeKind::Seq(items), p), anchor, w))
                }
                _ => return Err(Diagnostic::error(src, at, "malformed YAML sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(p, anchor, entries, None, w)) => {
                    Some((collection(NodeKind::Map(entries), p), anchor, w))
                }
                _ => return Err(Diagnostic::error(src, at, "malformed YAML mapping")),
            },
            _ => None,
        };
        if let Some((node, anchor, weight)) = done {
            if anchor != 0 {
                // The anchor keeps a copy of its node: counted too.
                copies.charge(src, node.pos, weight)?;
                copies.anchors.insert(anchor, (node.clone(), weight));
            }
            match stack.last_mut() {
                None => docs.push(node),
                Some(Frame::Seq(_, _, items, w)) => {
                    w.add(weight);
                    items.push(node)
                }
                Some(Frame::Map(_, _, entries, key, w)) => {
                    w.add(weight);
                    match key.take() {
                        None => *key = Some(node),
                        Some(k) => entries.push((k, node)),
                    }
                }
            }
        }
    }
    Ok(docs)
}

fn one() -> Weight {
    Weight { nodes: 1, bytes: 0 }
}

fn collection(kind: NodeKind, pos: Pos) -> Node {
    Node {
        kind,
        pos,
        quoted: false,
    }
}

/// A collection opens at `depth` levels: an error past [`MAX_YAML_DEPTH`].
fn enter(src: &Arc<Source>, at: Pos, depth: usize) -> Result<(), Diagnostic> {
    if depth >= MAX_YAML_DEPTH {
        return Err(Diagnostic::error(
            src,
            at,
            format!("YAML nested deeper than {MAX_YAML_DEPTH} levels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(t: &str) -> Arc<Source> {
        Arc::new(Source {
            name: "t.yaml".into(),
            text: t.into(),
        })
    }

    #[test]
    fn keeps_positions_and_raw_scalars() {
        let docs = parse(&src(
            "- rule: a\n  priority: 0644\n  enabled: false\n  x: ~\n",
        ))
        .unwrap();
        let top = docs[0].as_seq().unwrap();
        let r = &top[0];
        assert_eq!(r.get("rule").unwrap().as_str(), Some("a"));
        assert_eq!(r.get("priority").unwrap().as_str(), Some("0644"));
        assert_eq!(r.get("priority").unwrap().pos.line, 2);
        assert_eq!(r.get("priority").unwrap().pos.col, 13);
        assert_eq!(r.get("x").unwrap().kind, NodeKind::Null);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse(&src("- rule: a\n  condition: [unclosed\n")).unwrap_err();
        assert!(e.pos.line >= 2, "{e}");
        assert!(e.message.contains("invalid YAML"));
    }

    #[test]
    fn under_indented_flow_sequences_are_accepted_like_falco() {
        let text = "- list: a\n  items: [\n    \"x\",\n    \"y\"\n  ]\n- list: b\n  items: [z]\n";
        let docs = parse(&src(text)).unwrap();
        let top = docs[0].as_seq().unwrap();
        assert_eq!(top[0].get("items").unwrap().as_seq().unwrap().len(), 2);
        assert_eq!(top[1].get("list").unwrap().pos.line, 6);
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let docs = parse(&src("a: &x [1, 2]\nb: *x\n")).unwrap();
        assert_eq!(docs[0].get("b").unwrap().as_seq().unwrap().len(), 2);
    }

    /// Ten levels of ten aliases each would be 10^10 nodes: refused at the
    /// alias that crosses the limit, before anything is copied.
    #[test]
    fn an_alias_bomb_is_refused_with_its_place() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&src(&text)).unwrap_err();
        assert!(e.message.contains("aliases copy more than"), "{e}");
        assert!((5..=10).contains(&e.pos.line), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_at_its_place() {
        // Block sequences: `- - - x` nests one level per dash.
        let text = "- ".repeat(MAX_YAML_DEPTH + 1) + "x\n";
        let e = parse(&src(&text)).unwrap_err();
        assert!(e.message.contains("nested deeper than 256"), "{e}");
        assert_eq!(e.pos.col, 2 * MAX_YAML_DEPTH + 1, "{e}");
        assert!(parse(&src(&("- ".repeat(MAX_YAML_DEPTH) + "x\n"))).is_ok());
        // Flow collections: the YAML parser's own limit, an error too.
        let flow = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(parse(&src(&flow)).is_err());
    }
}
