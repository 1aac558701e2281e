//! Parser of the Falco condition language.
//!
//! Scannerless recursive descent: what a token is depends on where it stands
//! (after `startswith` a bare value may contain `=` or `<`; after a field an
//! operator is expected). Precedence: `not` > `and` > `or`.

use crate::ast::*;

/// A syntax error at a character offset of the condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Character offset.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
    /// The text at the error, for locating it in the file.
    pub near: String,
}

/// Longest condition accepted (characters).
pub const MAX_CONDITION: usize = 1 << 20;
/// Deepest nesting of one condition (parentheses, `not`, transformers).
pub const MAX_DEPTH: usize = 200;

struct P<'a> {
    chars: Vec<char>,
    i: usize,
    depth: usize,
    _src: &'a str,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

fn is_bare_value(c: char) -> bool {
    !c.is_whitespace() && c != '(' && c != ')' && c != ',' && c != '"' && c != '\''
}

/// Parse a condition.
pub fn parse(cond: &str) -> Result<Expr, ParseError> {
    if cond.len() > MAX_CONDITION {
        return Err(ParseError {
            pos: 0,
            message: format!("condition longer than {MAX_CONDITION} characters"),
            near: String::new(),
        });
    }
    let mut p = P {
        chars: cond.chars().collect(),
        i: 0,
        depth: 0,
        _src: cond,
    };
    p.ws();
    if p.eof() {
        return Err(p.err("empty condition"));
    }
    let e = p.or()?;
    p.ws();
    if !p.eof() {
        if p.peek() == Some(')') {
            return Err(p.err("unbalanced ')'"));
        }
        return Err(p.err(&format!(
            "unexpected '{}': expected 'and', 'or' or the end",
            p.word_here()
        )));
    }
    Ok(e)
}

impl P<'_> {
    fn eof(&self) -> bool {
        self.i >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
    fn word_here(&self) -> String {
        self.chars[self.i..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(40)
            .collect()
    }
    fn err(&self, msg: &str) -> ParseError {
        ParseError {
            pos: self.i,
            message: msg.to_string(),
            near: self.word_here(),
        }
    }
    fn err_at(&self, pos: usize, msg: &str) -> ParseError {
        let near: String = self.chars[pos.min(self.chars.len())..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(40)
            .collect();
        ParseError {
            pos,
            message: msg.to_string(),
            near,
        }
    }
    /// Is the keyword `kw` next (followed by a non-identifier char)?
    fn keyword(&mut self, kw: &str) -> bool {
        let n = kw.chars().count();
        if self.i + n > self.chars.len() {
            return false;
        }
        let matches = self.chars[self.i..self.i + n]
            .iter()
            .copied()
            .eq(kw.chars());
        let boundary = self
            .chars
            .get(self.i + n)
            .is_none_or(|c| !is_ident(*c) && *c != '[');
        if matches && boundary {
            self.i += n;
            true
        } else {
            false
        }
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(&format!("condition nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut items = vec![self.and()?];
        loop {
            self.ws();
            if self.keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not()?];
        loop {
            self.ws();
            if self.keyword("and") {
                items.push(self.not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        if self.keyword("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end of condition: expected a check, a macro or '('")),
            Some('(') => {
                let open = self.i;
                self.i += 1;
                let e = self.or()?;
                self.ws();
                if self.peek() != Some(')') {
                    if self.eof() {
                        return Err(self.err_at(open, "unbalanced '(': missing ')'"));
                    }
                    return Err(self.err(&format!(
                        "unexpected '{}': expected ')', 'and' or 'or'",
                        self.word_here()
                    )));
                }
                self.i += 1;
                Ok(e)
            }
            Some(')') => Err(self.err("unexpected ')': expected a check or a macro")),
            Some(c) if is_ident(c) => self.check(),
            Some(_) => Err(self.err(&format!(
                "unexpected '{}': expected a field, a macro or '('",
                self.word_here()
            ))),
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(is_ident) {
            self.i += 1;
        }
        self.chars[start..self.i].iter().collect()
    }

    /// A field reference, possibly wrapped in transformers.
    fn field_ref(&mut self) -> Result<FieldRef, ParseError> {
        let pos = self.i;
        let name = self.ident();
        if name.is_empty() {
            return Err(self.err("expected a field name"));
        }
        if self.peek() == Some('(') {
            let Some(t) = Transformer::from_name(&name) else {
                return Err(self.err_at(pos, &format!("unknown transformer '{name}'")));
            };
            self.enter()?;
            self.i += 1;
            self.ws();
            let mut inner = self.field_ref()?;
            self.ws();
            if self.peek() != Some(')') {
                return Err(self.err(&format!("expected ')' to close {name}(")));
            }
            self.i += 1;
            self.depth -= 1;
            inner.transformers.push(t);
            inner.pos = pos;
            return Ok(inner);
        }
        let mut arg = None;
        if self.peek() == Some('[') {
            let open = self.i;
            self.i += 1;
            let start = self.i;
            while self.peek().is_some_and(|c| c != ']') {
                self.i += 1;
            }
            if self.eof() {
                return Err(self.err_at(open, "unclosed '[' in field argument"));
            }
            arg = Some(self.chars[start..self.i].iter().collect());
            self.i += 1;
        }
        Ok(FieldRef {
            name,
            arg,
            transformers: Vec::new(),
            pos,
        })
    }

    fn operator(&mut self) -> Option<Op> {
        let sym: String = self.chars[self.i..]
            .iter()
            .take_while(|c| matches!(c, '=' | '!' | '<' | '>'))
            .take(2)
            .collect();
        if !sym.is_empty() {
            if let Some(op) = Op::from_token(&sym) {
                self.i += sym.chars().count();
                return Some(op);
            }
            if let Some(op) = Op::from_token(&sym[..1]) {
                self.i += 1;
                return Some(op);
            }
            return None;
        }
        let save = self.i;
        let w = self.ident();
        match Op::from_token(&w) {
            Some(op) => Some(op),
            None => {
                self.i = save;
                None
            }
        }
    }

    fn check(&mut self) -> Result<Expr, ParseError> {
        let start = self.i;
        let field = self.field_ref()?;
        self.ws();
        let op_pos = self.i;
        let Some(op) = self.operator() else {
            // No operator: a macro reference (plain identifier only).
            if field.arg.is_none() && field.transformers.is_empty() {
                return Ok(Expr::Macro {
                    name: field.name,
                    pos: start,
                });
            }
            return Err(self.err_at(
                op_pos,
                &format!("expected an operator after '{}'", field.name),
            ));
        };
        if op == Op::Exists {
            return Ok(Expr::Check {
                field,
                op,
                value: None,
            });
        }
        self.ws();
        let value = if op.takes_list() {
            self.list(op)?
        } else {
            self.operand(op)?
        };
        Ok(Expr::Check {
            field,
            op,
            value: Some(value),
        })
    }

    fn quoted(&mut self) -> Result<Literal, ParseError> {
        let pos = self.i;
        let q = self.peek().unwrap_or('"');
        self.i += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err_at(pos, "unterminated quoted string")),
                Some(c) if c == q => {
                    self.i += 1;
                    break;
                }
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ ('\\' | '"' | '\'')) => s.push(c),
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c) => {
                            s.push('\\');
                            s.push(c);
                        }
                        None => return Err(self.err_at(pos, "unterminated quoted string")),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
        Ok(Literal {
            text: s,
            quoted: true,
            pos,
        })
    }

    fn bare(&mut self, stop_comma: bool) -> Literal {
        let pos = self.i;
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| is_bare_value(c) || (!stop_comma && c == ','))
        {
            self.i += 1;
        }
        Literal {
            text: self.chars[start..self.i].iter().collect(),
            quoted: false,
            pos,
        }
    }

    fn operand(&mut self, op: Op) -> Result<Operand, ParseError> {
        match self.peek() {
            Some('"') | Some('\'') => Ok(Operand::Value(self.quoted()?)),
            None | Some(')') => Err(self.err(&format!("expected a value after '{}'", op.as_str()))),
            Some('(') => Err(self.err(&format!(
                "'{}' takes a single value, not a list",
                op.as_str()
            ))),
            _ => {
                // val(field) compares with another field.
                if self.chars[self.i..].starts_with(&['v', 'a', 'l', '(']) {
                    self.i += 4;
                    self.ws();
                    let f = self.field_ref()?;
                    self.ws();
                    if self.peek() != Some(')') {
                        return Err(self.err("expected ')' to close val("));
                    }
                    self.i += 1;
                    return Ok(Operand::Field(f));
                }
                let lit = self.bare(false);
                if lit.text.is_empty() {
                    return Err(self.err(&format!("expected a value after '{}'", op.as_str())));
                }
                Ok(Operand::Value(lit))
            }
        }
    }

    fn list(&mut self, op: Op) -> Result<Operand, ParseError> {
        if self.peek() != Some('(') {
            // A bare list name: `proc.name in shell_binaries`.
            let lit = self.bare(true);
            if lit.text.is_empty() {
                return Err(self.err(&format!("expected '(' after '{}'", op.as_str())));
            }
            return Ok(Operand::List(vec![lit]));
        }
        let open = self.i;
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                None => return Err(self.err_at(open, "unbalanced '(' in list: missing ')'")),
                Some(')') => {
                    self.i += 1;
                    break;
                }
                Some(',') => {
                    self.i += 1;
                    continue;
                }
                Some('"') | Some('\'') => items.push(self.quoted()?),
                Some('(') => return Err(self.err("unexpected '(' inside a list")),
                _ => {
                    let lit = self.bare(true);
                    if lit.text.is_empty() {
                        return Err(self.err("invalid list item"));
                    }
                    items.push(lit);
                }
            }
        }
        Ok(Operand::List(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: &Expr) -> (&str, Op, &Option<Operand>) {
        match e {
            Expr::Check { field, op, value } => (field.name.as_str(), *op, value),
            other => panic!("not a check: {other:?}"),
        }
    }

    #[test]
    fn precedence_not_and_or() {
        let e = parse("a or b and not c").unwrap();
        match e {
            Expr::Or(v) => {
                assert!(matches!(&v[0], Expr::Macro { name, .. } if name == "a"));
                assert!(matches!(&v[1], Expr::And(w) if matches!(&w[1], Expr::Not(_))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn operators_and_values() {
        let e = parse("fd.name=/etc/passwd").unwrap();
        let (f, op, v) = check(&e);
        assert_eq!((f, op), ("fd.name", Op::Eq));
        assert!(matches!(v, Some(Operand::Value(l)) if l.text == "/etc/passwd"));
        let e = parse("evt.dir = <").unwrap();
        assert!(matches!(check(&e).2, Some(Operand::Value(l)) if l.text == "<"));
        let e = parse("proc.pname != <NA>").unwrap();
        assert!(matches!(check(&e).2, Some(Operand::Value(l)) if l.text == "<NA>"));
        let e = parse(r#"proc.cmdline startswith "sh -c \"x\"""#).unwrap();
        assert!(matches!(check(&e).2, Some(Operand::Value(l)) if l.text == "sh -c \"x\""));
        let e = parse("evt.rawres>=0").unwrap();
        assert_eq!(check(&e).1, Op::Ge);
        let e = parse("proc.aname[2] in (a, 'b c', in.proftpd, salt-call)").unwrap();
        match e {
            Expr::Check {
                field,
                value: Some(Operand::List(items)),
                ..
            } => {
                assert_eq!(field.arg.as_deref(), Some("2"));
                let t: Vec<_> = items.iter().map(|l| l.text.as_str()).collect();
                assert_eq!(t, ["a", "b c", "in.proftpd", "salt-call"]);
            }
            other => panic!("{other:?}"),
        }
        let e = parse("container.mount.dest[/var/run/docker.sock] exists").unwrap();
        assert_eq!(check(&e).1, Op::Exists);
        let e = parse("tolower(proc.name) = bash and proc.pname = val(proc.name)").unwrap();
        match e {
            Expr::And(v) => {
                assert!(
                    matches!(&v[0], Expr::Check { field, .. } if field.transformers == vec![Transformer::ToLower])
                );
                assert!(matches!(
                    &v[1],
                    Expr::Check {
                        value: Some(Operand::Field(_)),
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        let e = parse("proc.name in ()").unwrap();
        assert!(matches!(check(&e).2, Some(Operand::List(v)) if v.is_empty()));
        let e = parse("x.y in shell_binaries").unwrap();
        assert!(matches!(check(&e).2, Some(Operand::List(v)) if v.len() == 1));
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("proc.name = bash and (fd.name = x").unwrap_err();
        assert_eq!(e.pos, 21);
        assert!(e.message.contains("unbalanced"), "{}", e.message);
        let e = parse("proc.name startswith").unwrap_err();
        assert!(e.message.contains("expected a value"), "{}", e.message);
        let e = parse("a and").unwrap_err();
        assert!(e.message.contains("end of condition"));
        let e = parse("a b").unwrap_err();
        assert_eq!(e.pos, 2);
        let e = parse("proc.name = 'x").unwrap_err();
        assert!(e.message.contains("unterminated"));
        let e = parse("frob(proc.name) = x").unwrap_err();
        assert!(e.message.contains("unknown transformer"));
        assert!(parse("").is_err());
        assert!(parse(")").is_err());
        assert!(parse("a)").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
        let nots = "not ".repeat(10_000) + "a";
        assert!(parse(&nots).is_err());
    }
}
