use crate::alert::Alert;
use crate::sinks::SinkConfig;
use peregrine_rules::Priority;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn alert(id: &str) -> Alert {
    Alert {
        time: "2026-11-25T13:00:00.000000000Z".into(),
        rule: "R".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "h1".into(),
        output: format!("13:00:00.000000000: Warning line {id}"),
        output_fields: Default::default(),
        tags: vec![],
        id: id.into(),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-program-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The lines of `path` once there are `n` of them (5 s at most).
fn lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_run_per_alert_gets_the_alert_json_on_stdin() {
    let d = dir("once");
    let out = d.join("out");
    // Each run appends what it read plus its own pid: two runs, two pids.
    let cfg = SinkConfig::parse(&format!(
        "program:(cat; echo \" pid=$$\") >> {}",
        out.display()
    ))
    .unwrap();
    let mut sink = cfg.build().unwrap();
    sink.send(&alert("a1")).unwrap();
    sink.send(&alert("a2")).unwrap();
    sink.flush().unwrap();
    let got = lines(&out, 4);
    assert_eq!(got.len(), 4, "{got:?}");
    let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["id"], "a1");
    assert_eq!(first["rule"], "R");
    assert!(got[2].contains("\"id\":\"a2\""), "in order: {got:?}");
    assert_ne!(got[1], got[3], "a process per alert: {got:?}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn keep_alive_feeds_one_program_text_lines_and_restarts_it_once_gone() {
    let d = dir("kept");
    let out = d.join("out");
    let cfg = SinkConfig::from_map(
        serde_json::json!({
            "type": "program",
            "program": format!("echo start >> {0}; head -n 2 >> {0}", out.display()),
            "keep_alive": true,
            "format": "text",
        })
        .as_object()
        .unwrap()
        .clone(),
    )
    .unwrap();
    let mut sink = cfg.build().unwrap();
    sink.send(&alert("a1")).unwrap();
    sink.send(&alert("a2")).unwrap();
    sink.flush().unwrap();
    let got = lines(&out, 3);
    assert_eq!(
        got,
        [
            "start",
            "13:00:00.000000000: Warning line a1",
            "13:00:00.000000000: Warning line a2"
        ]
    );
    // `head` has exited after two lines: the next alert starts it again.
    std::thread::sleep(Duration::from_millis(200));
    let mut sent = sink.send(&alert("a3"));
    if sent.is_ok() {
        // The first write after the exit may still land in the pipe.
        sink.flush().ok();
        std::thread::sleep(Duration::from_millis(100));
        sent = sink.send(&alert("a4"));
    }
    sent.unwrap();
    drop(sink);
    let got = lines(&out, 4);
    assert_eq!(got.iter().filter(|l| *l == "start").count(), 2, "{got:?}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn shorthand_options_are_checked() {
    let e = SinkConfig::parse("program:").unwrap_err().to_string();
    assert!(e.contains("program needs a command"), "{e}");
    let e = SinkConfig::parse("program:cat,keep_alive=maybe")
        .unwrap_err()
        .to_string();
    assert!(e.contains("keep_alive 'maybe'"), "{e}");
    let e = SinkConfig::parse("program:cat,batch=3").unwrap_err().to_string();
    assert!(e.contains("program has no option 'batch'"), "{e}");
    match SinkConfig::parse("program:cat,keep_alive=true,format=text,min=error").unwrap() {
        SinkConfig::Program(c) => {
            assert!(c.keep_alive && !c.json);
            assert_eq!(c.min_priority, Priority::Error);
        }
        other => panic!("{other:?}"),
    }
}
