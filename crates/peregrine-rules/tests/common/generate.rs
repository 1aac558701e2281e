//! Generated rules files: many rules, macros and lists, with appends,
//! exceptions and macro chains, in the shape of real files.

/// A rules file of about `bytes` bytes.
pub fn rules_file(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 1024);
    s.push_str("- list: base\n  items: [sh, bash, /usr/bin/base]\n");
    s.push_str("- macro: m0\n  condition: proc.name in (base)\n");
    let mut i = 1;
    while s.len() < bytes {
        let prev = if i % 8 == 0 { 0 } else { i - 1 };
        s.push_str(&format!(
            "- list: l{i}\n  items: [a{i}, \"/usr/bin/x{i}\", base]\n\
             - macro: m{i}\n  condition: (proc.name in (l{i}) or m{prev})\n\
             - rule: r{i}\n  desc: rule {i}\n  condition: evt.type = execve and m{i} and not proc.pname = p{i}\n  \
             output: \"x{i} %proc.name\"\n  priority: WARNING\n  \
             exceptions:\n    - name: e\n      fields: [proc.name, proc.pname]\n      values: [[z{i}, y{i}]]\n"
        ));
        if i % 4 == 0 {
            s.push_str(&format!(
                "- rule: r{i}\n  condition: and proc.pid > 1\n  override:\n    condition: append\n\
                 - list: l{i}\n  items: [c{i}]\n  override:\n    items: append\n"
            ));
        }
        i += 1;
    }
    s
}
