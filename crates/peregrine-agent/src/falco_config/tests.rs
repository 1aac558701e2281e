use super::*;
use crate::sinks::SinkConfig;
use peregrine_rules::Priority;
use std::path::Path;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-falcocfg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A falco.yaml using most keys Peregrine reads (and two it ignores), loaded.
fn basic_config(tag: &str) -> (PathBuf, FalcoConfig) {
    let d = dir(tag);
    std::fs::create_dir_all(d.join("rules.d")).unwrap();
    std::fs::write(d.join("main_rules.yaml"), "[]").unwrap();
    let f = d.join("falco.yaml");
    std::fs::write(
        &f,
        format!(
            "rules_files:\n  - {0}/main_rules.yaml\n  - {0}/missing.yaml\n  - {0}/rules.d\n\
             json_output: true\npriority: warning\nengine: {{kind: modern_ebpf}}\n\
             json_include_output_property: false\njson_include_tags_property: false\n\
             webserver: {{enabled: true}}\nstdout_output: {{enabled: true}}\n\
             syslog_output: {{enabled: false}}\n\
             file_output: {{enabled: true, keep_alive: false, filename: {0}/events.txt}}\n\
             http_output: {{enabled: true, url: 'http://127.0.0.1:1/x', user_agent: me, mtls: true}}\n\
             program_output: {{enabled: true, keep_alive: 'true', program: 'cat >/dev/null'}}\n\
             time_format_iso_8601: true\n",
            d.display()
        ),
    )
    .unwrap();
    let c = load(&f).unwrap();
    (d, c)
}

#[test]
fn rules_files_and_priority_translate_and_other_keys_are_listed() {
    let (d, c) = basic_config("basic-rules");
    assert_eq!(
        c.settings.rules,
        vec![d.join("main_rules.yaml"), d.join("rules.d")],
        "the missing entry is skipped, as Falco skips it"
    );
    assert!(
        c.notes.iter().any(|n| n.contains("missing.yaml")),
        "{:?}",
        c.notes
    );
    assert_eq!(
        c.ignored,
        vec!["engine".to_string(), "webserver".to_string()]
    );
    let unmet = c
        .notes
        .iter()
        .find(|n| n.starts_with("read but not honoured"))
        .unwrap();
    assert!(unmet.contains("http_output.mtls"), "{unmet}");
    assert!(!unmet.contains("time_format_iso_8601"), "{unmet}");
    assert!(c.settings.time_format_iso_8601);
    assert_eq!(c.settings.min_priority, Priority::Warning);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn outputs_translate_with_falcos_shape() {
    let (d, c) = basic_config("basic-outputs");
    let o = &c.settings.outputs;
    assert_eq!(o.len(), 4, "{o:?}");
    match &o[0] {
        SinkConfig::File(fc) => {
            assert_eq!(fc.path, d.join("events.txt"));
            assert_eq!(fc.max_bytes, 0, "Falco does not rotate");
            assert!(!fc.text, "json_output: true");
            let want = crate::sinks::shared::JsonShape {
                output: false,
                tags: false,
                ..Default::default()
            };
            assert_eq!(fc.shape, want, "json_include_* reach the file output");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&o[1], SinkConfig::Stdout(s) if s.json));
    assert!(
        matches!(&o[2], SinkConfig::Program(p) if p.keep_alive && p.json && p.program == "cat >/dev/null")
    );
    match &o[3] {
        SinkConfig::Webhook(w) => {
            assert_eq!(w.url, "http://127.0.0.1:1/x");
            assert_eq!(
                w.headers,
                vec![("User-Agent".to_string(), "me".to_string())]
            );
            assert_eq!(w.batch, 1, "one alert per request, as Falco posts");
            assert!(!w.shape.output && !w.shape.tags && w.shape.output_fields);
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn config_files_merge_with_falcos_strategies() {
    let d = dir("merge");
    let conf = d.join("config.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(d.join("a.yaml"), "[]").unwrap();
    std::fs::write(d.join("b.yaml"), "[]").unwrap();
    std::fs::write(d.join("c.yaml"), "[]").unwrap();
    let main = d.join("falco.yaml");
    std::fs::write(
        &main,
        format!(
            "config_files:\n  - {0}/config.d\n  - path: {0}/extra.yaml\n    strategy: add-only\n  - {0}/absent.d\n\
             rules_files: [{0}/a.yaml]\npriority: debug\nstdout_output: {{enabled: true}}\n",
            d.display()
        ),
    )
    .unwrap();
    // Lexical order: 10-rules appends to rules_files, 20-outputs replaces
    // stdout_output (a map) and the priority.
    std::fs::write(
        conf.join("10-rules.yaml"),
        format!("rules_files: [{}/b.yaml]\n", d.display()),
    )
    .unwrap();
    std::fs::write(
        conf.join("20-outputs.yaml"),
        "stdout_output: {enabled: false}\npriority: error\n",
    )
    .unwrap();
    // add-only: only keys not set yet.
    std::fs::write(
        d.join("extra.yaml"),
        format!(
            "priority: debug\nrules_files: [{}/c.yaml]\njson_output: true\n",
            d.display()
        ),
    )
    .unwrap();
    let c = load(&main).unwrap();
    assert_eq!(c.settings.rules, vec![d.join("a.yaml"), d.join("b.yaml")]);
    assert!(
        c.settings.outputs.is_empty(),
        "stdout turned off: {:?}",
        c.settings.outputs
    );
    assert_eq!(c.files.len(), 4, "{:?}", c.files);
    // The priority from 20-outputs stands (add-only did not replace it),
    // json_output was added: visible once stdout is on again.
    std::fs::write(conf.join("30-on.yaml"), "stdout_output: {enabled: true}\n").unwrap();
    let c = load(&main).unwrap();
    assert!(matches!(&c.settings.outputs[0], SinkConfig::Stdout(s) if s.json));
    assert_eq!(c.settings.min_priority, Priority::Error);

    // An included file may not include others.
    std::fs::write(conf.join("40-nested.yaml"), "config_files: [/x]\n").unwrap();
    let e = load(&main).unwrap_err().to_string();
    assert!(
        e.contains("40-nested.yaml") && e.contains("included configuration file"),
        "{e}"
    );
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn errors_name_the_file_and_line() {
    let d = dir("errors");
    let f = d.join("falco.yaml");
    let err = |text: &str| {
        std::fs::write(&f, text).unwrap();
        load(&f).unwrap_err().to_string()
    };
    let name = f.display().to_string();
    let e = err("json_output: true\nstdout_output:\n  enabled: [1\n");
    assert!(e.starts_with(&format!("{name}:3:")), "{e}");
    let e = err("json_output: true\nfile_output:\n  enabled: maybe\n");
    assert!(e.starts_with(&format!("{name}:3:")), "{e}");
    let e = err("rules_file: /a.yaml\nrules_files: [/b.yaml]\n");
    assert!(e.contains("both 'rules_files' and 'rules_file'"), "{e}");
    let e = err("priority: loud\n");
    assert!(e.contains("Unknown priority \"loud\""), "{e}");
    let e = err("file_output: {enabled: true}\n");
    assert!(e.contains("file output enabled but no filename"), "{e}");
    let e = err("http_output: {enabled: true, url: ''}\n");
    assert!(e.contains("http output enabled but no url"), "{e}");
    let e = err("- a\n- b\n");
    assert!(e.contains("a mapping of keys"), "{e}");
    let e = load(&d.join("nope.yaml")).unwrap_err().to_string();
    assert!(e.contains("nope.yaml"), "{e}");
    // The older key still works, with a note.
    std::fs::write(d.join("r.yaml"), "[]").unwrap();
    std::fs::write(&f, format!("rules_file: {}/r.yaml\n", d.display())).unwrap();
    let c = load(&f).unwrap();
    assert_eq!(c.settings.rules, vec![d.join("r.yaml")]);
    assert!(c
        .notes
        .iter()
        .any(|n| n.contains("deprecated key 'rules_file'")));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn without_json_output_every_output_writes_the_text_line() {
    let d = dir("text");
    let f = d.join("falco.yaml");
    std::fs::write(
        &f,
        "stdout_output: {enabled: true}\nsyslog_output: {enabled: true}\n\
         file_output: {enabled: true, filename: /tmp/pg-events.txt}\n\
         http_output: {enabled: true, url: 'http://127.0.0.1:1/'}\n\
         program_output: {enabled: true, program: 'cat'}\n",
    )
    .unwrap();
    let c = load(&f).unwrap();
    let mut o = c.settings.outputs.clone();
    if Path::new("/dev/log").exists() {
        assert!(matches!(o.remove(2), SinkConfig::Syslog(_)));
    } else {
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("/dev/log does not exist")),
            "{:?}",
            c.notes
        );
    }
    assert!(matches!(&o[0], SinkConfig::File(x) if x.text));
    assert!(matches!(&o[1], SinkConfig::Stdout(x) if !x.json));
    assert!(matches!(&o[2], SinkConfig::Program(x) if !x.json && !x.keep_alive));
    assert!(matches!(&o[3], SinkConfig::Webhook(x) if x.format == crate::sinks::HttpFormat::Text));
    assert!(
        c.settings.rules.is_empty(),
        "no rules_files: the defaults apply"
    );
    std::fs::remove_dir_all(d).ok();
}
