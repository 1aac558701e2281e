//! Condition syntax tree. Positions are character offsets in the condition.

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=` / `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `icontains`
    IContains,
    /// `bcontains` (hex bytes)
    BContains,
    /// `startswith`
    StartsWith,
    /// `bstartswith` (hex bytes)
    BStartsWith,
    /// `endswith`
    EndsWith,
    /// `glob`
    Glob,
    /// `iglob`
    IGlob,
    /// `regex`
    Regex,
    /// `in (…)`
    In,
    /// `intersects (…)`
    Intersects,
    /// `pmatch (…)`: path prefix match
    PMatch,
    /// `exists`
    Exists,
}

impl Op {
    /// Parse an operator word or symbol.
    pub fn from_token(t: &str) -> Option<Op> {
        Some(match t {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "bcontains" => Op::BContains,
            "startswith" => Op::StartsWith,
            "bstartswith" => Op::BStartsWith,
            "endswith" => Op::EndsWith,
            "glob" => Op::Glob,
            "iglob" => Op::IGlob,
            "regex" => Op::Regex,
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "pmatch" => Op::PMatch,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
    /// Takes a parenthesised list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
            Op::Exists => "exists",
        }
    }
}

/// A value transformer applied to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transformer {
    /// `tolower(…)`
    ToLower,
    /// `toupper(…)`
    ToUpper,
    /// `b64(…)`: base64 decode
    B64,
    /// `basename(…)`
    Basename,
    /// `len(…)`
    Len,
}

impl Transformer {
    /// Parse a transformer name.
    pub fn from_name(s: &str) -> Option<Transformer> {
        Some(match s {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            _ => return None,
        })
    }
}

/// A field reference, possibly transformed: `tolower(proc.aname[2])`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    /// Field name (`proc.aname`).
    pub name: String,
    /// Argument in brackets (`2`).
    pub arg: Option<String>,
    /// Transformers, innermost first.
    pub transformers: Vec<Transformer>,
    /// Offset in the condition.
    pub pos: usize,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// Text.
    pub text: String,
    /// Was quoted (never a list name).
    pub quoted: bool,
    /// Offset in the condition.
    pub pos: usize,
}

/// Right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A single value.
    Value(Literal),
    /// A list of values (items may name lists to expand).
    List(Vec<Literal>),
    /// Another field: `val(proc.pname)`.
    Field(FieldRef),
}

/// A condition expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A macro reference.
    Macro {
        /// Macro name.
        name: String,
        /// Offset in the condition.
        pos: usize,
    },
    /// `field op operand`.
    Check {
        /// Left side.
        field: FieldRef,
        /// Operator.
        op: Op,
        /// Right side (`None` for `exists`).
        value: Option<Operand>,
    },
}
