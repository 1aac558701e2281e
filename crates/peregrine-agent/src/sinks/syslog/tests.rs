use super::*;
use crate::alert::Alert;
use crate::sinks::{Sink, SinkConfig, SinkError};
use peregrine_rules::Priority;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use std::collections::BTreeMap;

fn alert() -> Alert {
    let mut f = BTreeMap::new();
    f.insert("user.name".to_string(), "root".to_string());
    Alert {
        time: "2026-11-25T13:00:00.000000000Z".into(),
        rule: "Read | shadow".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "h1".into(),
        output: "a=b \"q\"".into(),
        output_fields: f,
        tags: vec![],
        id: "x1".into(),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

#[test]
fn rfc5424_and_cef() {
    let m = format(SyslogFormat::Rfc5424, 16, &alert());
    assert!(
        m.starts_with("<132>1 2026-11-25T13:00:00.000000000Z h1 peregrine "),
        "{m}"
    );
    assert!(
        m.contains("[peregrine@32473 rule=\"Read | shadow\" priority=\"Warning\" id=\"x1\"] {"),
        "{m}"
    );
    let c = format(SyslogFormat::Cef, 16, &alert());
    assert!(c.starts_with("CEF:0|Peregrine|Peregrine|"), "{c}");
    assert!(
        c.contains("|Read \\| shadow|Read \\| shadow|5|rt=1795611600000 "),
        "{c}"
    );
    assert!(c.contains("msg=a\\=b \"q\""), "{c}");
    assert!(c.contains("duser=root"), "{c}");
}

#[test]
fn udp_delivery() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = SyslogTarget::parse(&format!("udp://{}", rx.local_addr().unwrap())).unwrap();
    let mut s = SyslogSink::open(&t, SyslogFormat::Rfc5424, 16, Priority::Debug).unwrap();
    s.send(&alert()).unwrap();
    let mut buf = [0u8; 4096];
    let n = rx.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<132>1 "));
}

#[test]
fn tcp_delivery_is_buffered_through_an_outage() {
    let dir = std::env::temp_dir().join(format!("pg-syslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut s = SinkConfig::parse(&format!("syslog:tcp://{addr},format=cef,buffer={}", dir.display()))
        .unwrap()
        .build()
        .unwrap();
    s.send(&alert()).unwrap();
    s.flush().unwrap();
    // The delivery thread's first attempt fails (nobody listens); on a
    // loaded machine it may take more than a moment to make it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.failures() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        s.buffered_bytes() > 0,
        "kept on disk while the collector is down"
    );
    assert!(s.failures() > 0);
    let l = std::net::TcpListener::bind(&addr).unwrap();
    let (mut c, _) = l.accept().unwrap();
    let mut buf = vec![0u8; 4096];
    let n = std::io::Read::read(&mut c, &mut buf).unwrap();
    let got = String::from_utf8_lossy(&buf[..n]).to_string();
    let (len, rest) = got.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.len());
    assert!(rest.starts_with("CEF:0|"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.buffered_bytes() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.buffered_bytes(), 0, "acknowledged once written");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn targets_parse() {
    assert_eq!(
        SyslogTarget::parse("unix:///dev/log"),
        Some(SyslogTarget::Unix("/dev/log".into()))
    );
    assert!(SyslogTarget::parse("ftp://x").is_none());
}

#[test]
fn shorthand_and_map_reach_the_same_config() {
    let want = SinkConfig::Syslog(SyslogConfig {
        target: SyslogTarget::Tcp("127.0.0.1:6514".into()),
        format: SyslogFormat::Cef,
        facility: 4,
        min_priority: Priority::Error,
        buffer_dir: Some("/tmp/sb".into()),
        batch: 10,
        buffer_max_bytes: 1 << 30,
    });
    assert_eq!(
        SinkConfig::parse("syslog:tcp://127.0.0.1:6514,format=cef,facility=4,min=error,buffer=/tmp/sb,batch=10").unwrap(),
        want
    );
    let typed: SinkConfig = serde_json::from_str(
        r#"{"type": "syslog", "target": "tcp://127.0.0.1:6514", "format": "cef", "facility": 4,
            "min": "error", "buffer": "/tmp/sb", "batch": 10}"#,
    )
    .unwrap();
    assert_eq!(typed, want);
    let SinkConfig::Syslog(d) = SinkConfig::parse("syslog:udp://127.0.0.1:514").unwrap() else {
        panic!()
    };
    assert_eq!((d.format, d.facility, d.buffer_dir), (SyslogFormat::Rfc5424, 16, None));
}

#[test]
fn bad_syslog_specs_name_the_problem() {
    for (spec, want) in [
        ("syslog:ftp://x", "syslog target must be"),
        ("syslog", "syslog target must be"),
        ("syslog:udp://h:1,facility=24", "facility '24' is not 0..23"),
        ("syslog:udp://h:1,format=json", "format 'json': expected rfc5424 or cef"),
        ("syslog:udp://h:1,buffer=/tmp/x", "apply to syslog over tcp:// only"),
        ("syslog:tcp://h:1,header=A:b", "syslog has no option 'header'"),
    ] {
        let e = SinkConfig::parse(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{spec}: {e}");
    }
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "syslog", "target": "udp://h:1", "format": "json"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("syslog") && e.contains("json"), "{e}");
}

#[test]
fn unix_socket_delivery_and_healthcheck() {
    let path = std::env::temp_dir().join(format!("pg-syslog-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let cfg = SinkConfig::parse(&format!("syslog:unix://{}", path.display())).unwrap();
    match cfg.healthcheck() {
        Err(SinkError::Unhealthy { sink, reason, .. }) => {
            assert_eq!(sink, format!("syslog:unix://{}", path.display()));
            assert!(reason.contains("No such file"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let rx = UnixDatagram::bind(&path).unwrap();
    cfg.healthcheck().unwrap();
    let mut s = cfg.build().unwrap();
    s.send(&alert()).unwrap();
    let mut buf = [0u8; 4096];
    let n = rx.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<132>1 "));
    drop(rx);
    std::fs::remove_file(&path).ok();
}

#[test]
fn tcp_healthcheck_connects() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = SinkConfig::parse(&format!("syslog:tcp://{addr},buffer=/tmp/unused")).unwrap();
    cfg.healthcheck().unwrap();
    drop(l);
    match cfg.healthcheck() {
        Err(SinkError::Unhealthy { meanwhile, .. }) => {
            assert!(meanwhile.contains("buffered in /tmp/unused"), "{meanwhile}")
        }
        other => panic!("{other:?}"),
    }
}
