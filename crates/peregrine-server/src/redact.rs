//! Secrets taken out of alerts before they are stored, so no page, search,
//! export or API answer shows them: an alert's output and output fields
//! and its ancestry's command lines carry whatever the process was given
//! (`--env '{"AWS_SECRET_ACCESS_KEY": …}'`, `mysql --password=…`,
//! `curl -H 'Authorization: Bearer …'`).
//!
//! A pattern is a regular expression; the text of its group named `secret`
//! (or, without one, the whole match) becomes `[redacted]`. The defaults
//! cover `NAME=value` and `"NAME": "value"` for names containing SECRET,
//! PASSWORD, TOKEN, API_KEY, ACCESS_KEY, PRIVATE_KEY or CREDENTIAL,
//! `--password`/`--token`/`--secret`/`--api-key` options, HTTP
//! `Authorization` values and AWS access key ids. Configured patterns come
//! on top of them.

use peregrine_event::Alert;
use regex::Regex;
use std::borrow::Cow;

/// What replaces a secret.
pub const MARK: &str = "[redacted]";

const NAME: &str = r"[A-Za-z0-9_.\-]*(?i:secret|password|passwd|token|api_?key|access_?key|private_?key|credential)[A-Za-z0-9_.\-]*";

fn defaults() -> Vec<String> {
    vec![
        format!(r#"\b{NAME}=(?P<secret>[^\s"',;&]+)"#),
        format!(r#""{NAME}"\s*:\s*"(?P<secret>[^"]*)""#),
        r#"(?i)--(?:password|passwd|token|secret|api-key|access-key)(?:=|\s+)(?P<secret>[^\s"']+)"#
            .to_string(),
        r#"(?i)\bauthorization:\s*(?:bearer|basic|token)\s+(?P<secret>[^\s"']+)"#.to_string(),
        r"\b(?P<secret>(?:AKIA|ASIA)[0-9A-Z]{16})\b".to_string(),
    ]
}

/// The compiled patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl Redactor {
    /// The default patterns plus `extra`; an invalid pattern is an error
    /// naming it.
    pub fn new(extra: &[String]) -> Result<Redactor, String> {
        let mut patterns = Vec::new();
        for p in defaults().iter().chain(extra) {
            let re = Regex::new(p).map_err(|e| format!("redaction pattern {p:?}: {e}"))?;
            patterns.push(re);
        }
        Ok(Redactor { patterns })
    }

    /// `text` with every secret replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for re in &self.patterns {
            if !re.is_match(&out) {
                continue;
            }
            let replaced = re
                .replace_all(&out, |c: &regex::Captures| {
                    let whole = c.get(0).expect("a match");
                    match c.name("secret") {
                        Some(s) => format!(
                            "{}{MARK}{}",
                            &whole.as_str()[..s.start() - whole.start()],
                            &whole.as_str()[s.end() - whole.start()..]
                        ),
                        None => MARK.to_string(),
                    }
                })
                .into_owned();
            out = Cow::Owned(replaced);
        }
        out
    }

    /// The alert with its secrets replaced; `None` when it had none.
    pub fn alert(&self, a: &Alert) -> Option<Alert> {
        let mut changed = false;
        let mut fix = |s: &str| -> Option<String> {
            match self.text(s) {
                Cow::Owned(o) => {
                    changed = true;
                    Some(o)
                }
                Cow::Borrowed(_) => None,
            }
        };
        let output = fix(&a.output);
        let fields: Vec<(String, String)> = a
            .output_fields
            .iter()
            .filter_map(|(k, v)| fix(v).map(|v| (k.clone(), v)))
            .collect();
        let cmdlines: Vec<(usize, String)> = a
            .ancestry
            .iter()
            .enumerate()
            .filter_map(|(i, p)| fix(&p.cmdline).map(|c| (i, c)))
            .collect();
        if !changed {
            return None;
        }
        let mut out = a.clone();
        if let Some(o) = output {
            out.output = o;
        }
        for (k, v) in fields {
            out.output_fields.insert(k, v);
        }
        for (i, c) in cmdlines {
            out.ancestry[i].cmdline = c;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(&[]).unwrap()
    }

    #[test]
    fn environment_secrets_in_json_and_assignments_are_redacted() {
        let t = r#"docker run --env '{"AWS_SECRET_ACCESS_KEY":"wJalrXUtnFEMI/K7MDENG","REGION":"eu-west-1"}' app"#;
        assert_eq!(
            r().text(t),
            r#"docker run --env '{"AWS_SECRET_ACCESS_KEY":"[redacted]","REGION":"eu-west-1"}' app"#
        );
        assert_eq!(
            r().text("env GITHUB_TOKEN=ghp_abc123 DB_PASSWORD=hunter2 HOME=/root make"),
            "env GITHUB_TOKEN=[redacted] DB_PASSWORD=[redacted] HOME=/root make"
        );
    }

    #[test]
    fn options_headers_and_key_ids_are_redacted() {
        assert_eq!(
            r().text("mysql --password=s3cr3t -u root"),
            "mysql --password=[redacted] -u root"
        );
        assert_eq!(
            r().text("curl -H 'Authorization: Bearer eyJhbGci.x.y' https://api"),
            "curl -H 'Authorization: Bearer [redacted]' https://api"
        );
        assert_eq!(
            r().text("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE"),
            "aws configure set aws_access_key_id [redacted]"
        );
    }

    #[test]
    fn ordinary_text_is_untouched_and_extra_patterns_apply() {
        let plain = "cat /etc/shadow (user=root file=/etc/shadow)";
        assert!(matches!(r().text(plain), Cow::Borrowed(_)));
        let with = Redactor::new(&[r"card=(?P<secret>\d{12,19})".into()]).unwrap();
        assert_eq!(
            with.text("pay card=4111111111111111 ok"),
            "pay card=[redacted] ok"
        );
        let bad = Redactor::new(&["(unclosed".into()]).unwrap_err();
        assert!(bad.contains("(unclosed"), "{bad}");
    }
}
