//! Output templates: `text %field text %field[arg]`.

use crate::context::Context;
use crate::fields::{bind, extract, Bound};
use std::collections::BTreeMap;

/// A piece of a template.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A field, with its name as written.
    Field(String, Bound),
}

/// A compiled output template.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Pieces in order.
    pub segments: Vec<Segment>,
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl Template {
    /// Compile; errors give the character offset and the message.
    pub fn compile(text: &str) -> Result<Template, (usize, String)> {
        let chars: Vec<char> = text.chars().collect();
        let mut segs = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c != '%' || i + 1 >= chars.len() || !chars[i + 1].is_ascii_alphabetic() {
                lit.push(c);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            let mut name = String::new();
            while i < chars.len() && is_field_char(chars[i]) {
                name.push(chars[i]);
                i += 1;
            }
            // A trailing dot belongs to the text ("%proc.name.").
            while name.ends_with('.') {
                name.pop();
                i -= 1;
            }
            let mut arg = None;
            if i < chars.len() && chars[i] == '[' {
                let close = chars[i..].iter().position(|&c| c == ']');
                match close {
                    Some(off) => {
                        arg = Some(chars[i + 1..i + off].iter().collect::<String>());
                        i += off + 1;
                    }
                    None => return Err((i, format!("unclosed '[' after %{name}"))),
                }
            }
            let bound = bind(&name, arg.as_deref()).map_err(|e| (start + 1, e))?;
            if !lit.is_empty() {
                segs.push(Segment::Text(std::mem::take(&mut lit)));
            }
            let written = match &arg {
                Some(a) => format!("{name}[{a}]"),
                None => name,
            };
            segs.push(Segment::Field(written, bound));
        }
        if !lit.is_empty() {
            segs.push(Segment::Text(lit));
        }
        Ok(Template { segments: segs })
    }

    /// Render the text and the `output_fields` map (absent values: `<NA>`).
    pub fn render(&self, ctx: &dyn Context) -> (String, BTreeMap<String, String>) {
        let mut out = String::new();
        let mut fields = BTreeMap::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Field(name, b) => {
                    let v = extract(b, ctx)
                        .map(|v| v.render())
                        .unwrap_or_else(|| "<NA>".into());
                    out.push_str(&v);
                    fields.insert(name.clone(), v);
                }
            }
        }
        (out.trim().to_string(), fields)
    }
}
