use super::*;
use crate::alert::Alert;
use crate::sinks::{SinkConfig, SinkError};
use peregrine_rules::Priority;
use std::path::PathBuf;

fn alert(id: &str) -> Alert {
    Alert {
        time: "2026-11-25T13:00:00.000000000Z".into(),
        rule: "R".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "h1".into(),
        output: "o".into(),
        output_fields: Default::default(),
        tags: vec![],
        id: id.into(),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-file-sink-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn shorthand_and_map_reach_the_same_config() {
    let want = SinkConfig::File(FileConfig {
        path: "/tmp/a.json".into(),
        max_bytes: 1 << 20,
        keep: 2,
        text: false,
        shape: Default::default(),
        min_priority: Priority::Warning,
    });
    assert_eq!(
        SinkConfig::parse("file:/tmp/a.json,min=warning,max_mb=1,keep=2").unwrap(),
        want
    );
    let typed: SinkConfig = serde_json::from_str(
        r#"{"type": "file", "path": "/tmp/a.json", "max_mb": 1, "keep": 2, "min": "warning"}"#,
    )
    .unwrap();
    assert_eq!(typed, want);
    let SinkConfig::File(d) = SinkConfig::parse("file:/tmp/b").unwrap() else {
        panic!()
    };
    assert_eq!((d.max_bytes, d.keep), (100 << 20, 5));
}

#[test]
fn bad_file_specs_name_the_problem() {
    for (spec, want) in [
        ("file:", "file needs a path"),
        ("file", "file needs a path"),
        ("file:/tmp/x,keep=many", "keep 'many' is not a number"),
        ("file:/tmp/x,batch=5", "file has no option 'batch'"),
        ("file:/tmp/x,header=A:b", "file has no option 'header'"),
    ] {
        let e = SinkConfig::parse(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{spec}: {e}");
    }
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "file", "path": "/x", "rotate": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("file") && e.contains("`rotate`"), "{e}");
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "file"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `path`"), "{e}");
}

#[test]
fn writes_json_lines_and_rotates() {
    let d = dir("rotate");
    let path = d.join("alerts.jsonl");
    let cfg = SinkConfig::parse(&format!("file:{},keep=2", path.display())).unwrap();
    let SinkConfig::File(mut fc) = cfg else {
        panic!()
    };
    let one = serde_json::to_vec(&alert("a0")).unwrap().len() as u64 + 1;
    fc.max_bytes = one * 2; // two alerts per file
    let mut s = SinkConfig::File(fc).build().unwrap();
    for i in 0..7 {
        s.send(&alert(&format!("a{i}"))).unwrap();
    }
    s.flush().unwrap();
    let ids = |p: PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Alert>(l).unwrap().id)
            .collect()
    };
    assert_eq!(ids(path.clone()), vec!["a6"]);
    assert_eq!(ids(d.join("alerts.jsonl.1")), vec!["a4", "a5"]);
    assert_eq!(ids(d.join("alerts.jsonl.2")), vec!["a2", "a3"]);
    assert!(!d.join("alerts.jsonl.3").exists(), "keep=2");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn healthcheck_and_build_on_a_missing_directory() {
    let cfg = SinkConfig::parse("file:/nonexistent-dir/x.json").unwrap();
    match cfg.healthcheck() {
        Err(SinkError::Unhealthy { sink, reason, .. }) => {
            assert_eq!(sink, "file:/nonexistent-dir/x.json");
            assert!(reason.contains("/nonexistent-dir"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(cfg.build().is_err(), "an unwritable file is fatal");
    let d = dir("health");
    let ok = SinkConfig::parse(&format!("file:{}", d.join("new.jsonl").display())).unwrap();
    assert!(ok.healthcheck().is_ok());
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn text_format_writes_the_output_lines() {
    let d = dir("text");
    let path = d.join("events.txt");
    let cfg = SinkConfig::parse(&format!("file:{},format=text", path.display())).unwrap();
    let mut s = cfg.build().unwrap();
    let mut a = alert("t1");
    a.output = "13:00:00.000000000: Warning first".into();
    s.send(&a).unwrap();
    a.output = "13:00:01.000000000: Warning second".into();
    s.send(&a).unwrap();
    s.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "13:00:00.000000000: Warning first\n13:00:01.000000000: Warning second\n"
    );
    let e = SinkConfig::parse("file:/tmp/x,format=xml").unwrap_err().to_string();
    assert!(e.contains("format 'xml'"), "{e}");
    std::fs::remove_dir_all(d).ok();
}
