//! Sigma `condition` expressions: `and`, `or`, `not`, parentheses, search
//! identifiers, `1 of X*`, `all of X*`, `1 of them`, `all of them`.
//! Aggregations (`| count() …`) and `near` are refused with a reason.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A search identifier.
    Id(String),
    /// Any/all of the identifiers matching a pattern (`them` = every one).
    Of {
        /// True for `all of`.
        all: bool,
        /// Pattern (`selection_*`, `them`).
        pattern: String,
    },
    /// Negation.
    Not(Box<Cond>),
    /// Conjunction.
    And(Box<Cond>, Box<Cond>),
    /// Disjunction.
    Or(Box<Cond>, Box<Cond>),
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct P {
    t: Vec<String>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.i).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let v = self.t.get(self.i).cloned();
        self.i += 1;
        v
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut l = self.and()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.i += 1;
            l = Cond::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut l = self.not()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.i += 1;
            l = Cond::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.i += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Cond, String> {
        let t = self.next().ok_or("condition ends too early")?;
        match t.as_str() {
            "(" => {
                let c = self.or()?;
                match self.next().as_deref() {
                    Some(")") => Ok(c),
                    _ => Err("unbalanced parenthesis in condition".into()),
                }
            }
            ")" => Err("unexpected ')' in condition".into()),
            q if q == "1" || q.eq_ignore_ascii_case("all") || q.eq_ignore_ascii_case("any") => {
                match self.next().as_deref() {
                    Some(of) if of.eq_ignore_ascii_case("of") => {}
                    _ => return Err(format!("'{q}' must be followed by 'of'")),
                }
                let pattern = self.next().ok_or("'of' needs a pattern or 'them'")?;
                Ok(Cond::Of {
                    all: q.eq_ignore_ascii_case("all"),
                    pattern,
                })
            }
            "|" => Err("aggregations (| count() …) are not supported".into()),
            id => {
                if id.eq_ignore_ascii_case("near") {
                    return Err("'near' correlations are not supported".into());
                }
                Ok(Cond::Id(id.to_string()))
            }
        }
    }
}

/// Parse a condition.
pub fn parse(s: &str) -> Result<Cond, String> {
    if s.contains('|') {
        return Err("aggregations (| count() …) are not supported".into());
    }
    let mut p = P { t: tokens(s), i: 0 };
    let c = p.or()?;
    if let Some(t) = p.peek() {
        return Err(format!("unexpected '{t}' in condition"));
    }
    Ok(c)
}

/// Does an `of` pattern (`selection_*`, `them`) match an identifier?
pub fn pattern_matches(pattern: &str, id: &str) -> bool {
    if pattern.eq_ignore_ascii_case("them") {
        return !id.starts_with('_');
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => id == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn precedence_and_of() {
        let c = parse("1 of sel_* and not (filter or all of f2_*)").unwrap();
        assert!(matches!(c, Cond::And(..)));
        assert!(parse("selection | count() > 5").is_err());
        assert!(parse("a and (b").is_err());
        assert!(parse("a b").is_err());
        assert!(pattern_matches("selection_*", "selection_apt"));
        assert!(!pattern_matches("selection_*", "filter"));
    }
}
