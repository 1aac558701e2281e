//! `${VAR}` in Falco configuration values: replaced by the variable's
//! value (nothing when unset); `$${VAR}` stands for a literal `${VAR}`.
//! As in Falco, a `$` followed by neither ends the substitution for the
//! rest of that value.

use serde_json::Value;

/// Expand every string value in `v`, recursively (keys are kept).
pub fn expand_tree(v: &mut Value, env: &dyn Fn(&str) -> Option<String>) {
    match v {
        Value::String(s) => *s = expand(s, env),
        Value::Array(items) => items.iter_mut().for_each(|i| expand_tree(i, env)),
        Value::Object(map) => map.values_mut().for_each(|i| expand_tree(i, env)),
        _ => {}
    }
}

/// Expand one value.
pub fn expand(value: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(name_end) = tail.strip_prefix("${").and_then(|t| t.find('}')) {
            let name = &tail[2..2 + name_end];
            out.push_str(&env(name).unwrap_or_default());
            rest = &tail[3 + name_end..];
        } else if tail.starts_with("$${") && tail.contains('}') {
            out.push_str("${");
            rest = &tail[3..];
        } else {
            // No `{…}` after the `$`: the rest stays as it is.
            out.push_str(tail);
            return out;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/root".into()),
            "URL" => Some("http://h:1/x".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_escapes_and_unset_ones() {
        assert_eq!(expand("${URL}", &env), "http://h:1/x");
        assert_eq!(expand("a ${HOME}/b ${HOME}", &env), "a /root/b /root");
        assert_eq!(expand("x${NOPE}y", &env), "xy");
        assert_eq!(expand("$${HOME}", &env), "${HOME}");
        assert_eq!(
            expand("cost $5 ${HOME}", &env),
            "cost $5 ${HOME}",
            "Falco stops at a bare $"
        );
        assert_eq!(expand("${HOME", &env), "${HOME");
        let mut v = serde_json::json!({"http_output": {"url": "${URL}"}, "list": ["${HOME}", 3]});
        expand_tree(&mut v, &env);
        assert_eq!(v["http_output"]["url"], "http://h:1/x");
        assert_eq!(v["list"][0], "/root");
        assert_eq!(v["list"][1], 3);
    }
}
