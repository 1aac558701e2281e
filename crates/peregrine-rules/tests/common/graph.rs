//! Random rules files shaped to stress expansion: lists built from lists,
//! macros naming macros (diamonds, chains, cycles), YAML anchors and
//! aliases, exceptions naming lists — drawn from any source of numbers (a
//! seeded generator in the property test, the fuzzer's bytes in fuzz/).
#![allow(dead_code)]

/// Numbers to draw from.
pub trait Draw {
    /// The next number.
    fn next(&mut self) -> u64;
    /// A number below `n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Xorshift: a small seeded generator.
pub struct Seeded(pub u64);

impl Draw for Seeded {
    fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A rules file drawn from `d`.
pub fn rules_file(d: &mut dyn Draw) -> String {
    let lists = 1 + d.below(12) as usize;
    let macros = 1 + d.below(12) as usize;
    let mut s = String::new();
    // Up to past the expansion depth limit.
    let chain = 1 + d.below(200) as usize;
    match d.below(8) {
        0 | 1 => macro_diamond(&mut s, chain, d.below(3) as usize + 2),
        2 | 3 => list_diamond(&mut s, chain, d.below(3) as usize + 2),
        4 => alias_bomb(&mut s, 1 + d.below(12) as usize, 1 + d.below(12) as usize),
        _ => {}
    }
    let mut anchors = Vec::new();
    for i in 0..lists {
        let n = 1 + d.below(6);
        let items: Vec<String> = (0..n)
            .map(|_| {
                if d.one_in(2) {
                    format!("l{}", d.below(lists as u64 + 2))
                } else {
                    format!("v{}", d.below(20))
                }
            })
            .collect();
        let items = if !anchors.is_empty() && d.one_in(5) {
            format!("*y{}", anchors[d.below(anchors.len() as u64) as usize])
        } else if d.one_in(4) {
            anchors.push(i);
            format!("&y{i} [{}]", items.join(", "))
        } else {
            format!("[{}]", items.join(", "))
        };
        s.push_str(&format!("- list: l{i}\n  items: {items}\n"));
        if d.one_in(6) {
            let to = d.below(i as u64 + 1);
            let v = d.below(20);
            s.push_str(&format!(
                "- list: l{to}\n  items: [v{v}, l{i}]\n  append: true\n"
            ));
        }
    }
    for i in 0..macros {
        // Mostly earlier macros; now and then any (a cycle, or undefined).
        let refs = if d.one_in(10) { macros + 1 } else { i };
        let e = expr(d, 3, lists, refs);
        s.push_str(&format!("- macro: m{i}\n  condition: {e}\n"));
    }
    for i in 0..1 + d.below(4) {
        let e = expr(d, 3, lists, macros);
        s.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: evt.type = execve and {e}\n  output: o %proc.name\n  priority: INFO\n"
        ));
        if d.one_in(2) {
            s.push_str(&format!(
                "  exceptions:\n    - name: x\n      fields: proc.pname\n      comps: in\n      values: [l{}, v1]\n",
                d.below(lists as u64)
            ));
        }
    }
    if d.one_in(8) && !s.is_empty() {
        // A byte out of place.
        let at = d.below(s.len() as u64) as usize;
        let c = b"()[]{}&*:-' \n,"[d.below(14) as usize] as char;
        if s.is_char_boundary(at) {
            s.insert(at, c);
        }
    }
    s
}

fn expr(d: &mut dyn Draw, depth: u32, lists: usize, macros: usize) -> String {
    let leaf = |d: &mut dyn Draw| match d.below(4) {
        0 if macros > 0 => format!("m{}", d.below(macros as u64)),
        1 => format!(
            "proc.name in (l{}, v{})",
            d.below(lists as u64 + 1),
            d.below(20)
        ),
        2 => format!("proc.name pmatch (l{})", d.below(lists as u64)),
        _ => format!("proc.name = v{}", d.below(20)),
    };
    if depth == 0 || d.one_in(3) {
        return leaf(d);
    }
    let a = expr(d, depth - 1, lists, macros);
    let b = expr(d, depth - 1, lists, macros);
    match d.below(3) {
        0 => format!("({a} and {b})"),
        1 => format!("({a} or {b})"),
        _ => format!("not {a}"),
    }
}

/// d_i uses d_{i-1} `fan` times.
fn macro_diamond(s: &mut String, n: usize, fan: usize) {
    s.push_str("- macro: d0\n  condition: proc.name = v1\n");
    for i in 1..n {
        let uses = vec![format!("d{}", i - 1); fan].join(" or ");
        s.push_str(&format!("- macro: d{i}\n  condition: ({uses})\n"));
    }
    s.push_str(&format!(
        "- rule: diamond\n  desc: d\n  condition: evt.type = execve and d{}\n  output: o\n  priority: INFO\n",
        n - 1
    ));
}

/// k_i names k_{i-1} `fan` times.
fn list_diamond(s: &mut String, n: usize, fan: usize) {
    s.push_str("- list: k0\n  items: [v1, v2]\n");
    for i in 1..n {
        let uses = vec![format!("k{}", i - 1); fan].join(", ");
        s.push_str(&format!("- list: k{i}\n  items: [{uses}, w{i}]\n"));
    }
    s.push_str(&format!(
        "- rule: lists\n  desc: d\n  condition: evt.type = execve and proc.name in (k{})\n  output: o\n  priority: INFO\n",
        n - 1
    ));
}

/// a_i is a sequence of `fan` aliases of a_{i-1}.
fn alias_bomb(s: &mut String, n: usize, fan: usize) {
    s.push_str("- list: a0\n  items: &a0 [v1, v2, v3]\n");
    for i in 1..n {
        let uses = vec![format!("*a{}", i - 1); fan].join(", ");
        s.push_str(&format!("- list: a{i}\n  items: &a{i} [{uses}]\n"));
    }
}
