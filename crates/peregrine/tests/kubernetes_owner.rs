//! End to end: the agent asks the Kubernetes API server for the workload
//! owning a pod (pod → ReplicaSet → Deployment) and rules and alerts see it.
//!
//! A real kube-apiserver cannot run on this machine (no etcd, no cluster):
//! the API server here is a loopback HTTP server answering the three GETs
//! the agent makes with real objects' shapes, and refusing any request
//! without the bearer token. The container is real (our containerd, CRI
//! labels as the kubelet sets them), and so are the exec and open.
mod common;

use common::{falco_rules, scratch, script, wait_for_alert, Peregrine};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "pg-test-token-3f9a";

/// The objects of a namespace `prod`: a pod owned by a ReplicaSet owned by
/// a Deployment (ownerReferences as the controllers write them).
fn object(path: &str) -> Option<&'static str> {
    Some(match path {
        "/api/v1/namespaces/prod/pods/payments-7d9f-x2x4q" => {
            r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"payments-7d9f-x2x4q","namespace":"prod","uid":"pod-uid-1",
               "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"payments-7d9f","uid":"rs-uid-2","controller":true,"blockOwnerDeletion":true}]}}"#
        }
        "/apis/apps/v1/namespaces/prod/replicasets/payments-7d9f" => {
            r#"{"kind":"ReplicaSet","apiVersion":"apps/v1","metadata":{"name":"payments-7d9f","namespace":"prod","uid":"rs-uid-2",
               "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"payments","uid":"deploy-uid-3","controller":true}]}}"#
        }
        "/apis/apps/v1/namespaces/prod/deployments/payments" => {
            r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"payments","namespace":"prod","uid":"deploy-uid-3"}}"#
        }
        _ => return None,
    })
}

/// Serve the fake API on `listener`; the (path, authorized) of each request.
fn api_server(listener: TcpListener) -> Arc<Mutex<Vec<(String, bool)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut authorized = false;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    let h = h.trim().to_ascii_lowercase();
                    authorized |= h == format!("authorization: bearer {TOKEN}");
                }
                log.lock().unwrap().push((path.clone(), authorized));
                let (status, body) = match object(&path) {
                    _ if !authorized => ("401 Unauthorized", "{}"),
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", r#"{"kind":"Status","code":404}"#),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if conn.write_all(resp.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    seen
}

#[test]
fn a_pod_of_a_deployment_carries_its_workload_in_rules_and_alerts() {
    let out = script("scripts/start-containerd.sh");
    let socket = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let seen = api_server(listener);

    let dir = scratch("k8s-owner");
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let rules = dir.join("workload.yaml");
    std::fs::write(
        &rules,
        "- rule: Shadow read in a Deployment\n  desc: d\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and k8s.workload.kind = Deployment and k8smeta.deployment.name = payments\n  output: \"workload=%k8s.workload.kind/%k8s.workload.name rs=%k8smeta.rs.name pod=%k8smeta.pod.name ns=%k8smeta.ns.name\"\n  priority: WARNING\n",
    )
    .unwrap();
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!("kubernetes:\n  api: {api}\n  token_file: token\n  timeout_ms: 2000\n"),
    )
    .unwrap();
    let file = dir.join("alerts.jsonl");
    let agent = Peregrine::agent()
        .metrics()
        .rules(falco_rules())
        .rules(&rules)
        .output_file(&file)
        .args(["--containerd-socket", &socket, "--config"])
        .arg(&config)
        .start();

    let id = format!("{:032x}{:032x}", std::process::id(), 0x0b_e4e5_u64);
    let out = Command::new("ctr")
        .args(["-a", &socket, "-n", "k8s.io", "run", "--rm"])
        .args(["--label", "io.kubernetes.pod.name=payments-7d9f-x2x4q"])
        .args(["--label", "io.kubernetes.pod.namespace=prod"])
        .args(["--label", "io.kubernetes.container.name=api"])
        .args(["docker.io/library/peregrine-test:latest", &id])
        // The first events ask the API server (in the background); the read
        // comes a second later, as a workload's work does.
        .args([
            "/bin/sh",
            "-c",
            "sleep 1; touch /etc/shadow; cat /etc/shadow",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctr run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Shadow read in a Deployment" && v["container"]["id"] == id.as_str()
    });
    assert!(
        alert["output"].as_str().unwrap().ends_with(
            "workload=Deployment/payments rs=payments-7d9f pod=payments-7d9f-x2x4q ns=prod"
        ),
        "{}",
        alert["output"]
    );
    assert_eq!(alert["container"]["k8s_workload_kind"], "Deployment");
    assert_eq!(alert["container"]["k8s_workload"], "payments");
    // Falco's own rule on the same read carries the workload too.
    let falco = wait_for_alert(&file, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["container"]["id"] == id.as_str()
    });
    assert_eq!(falco["container"]["k8s_workload"], "payments");
    agent.stop();

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the API server was never asked");
    assert!(
        seen.iter().all(|(_, auth)| *auth),
        "a request without the token: {seen:?}"
    );
    // One pod's chain is asked once, not per event.
    let pod_gets = seen.iter().filter(|(p, _)| p.contains("/pods/")).count();
    assert_eq!(pod_gets, 1, "{seen:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_plain_http_api_off_loopback_is_a_configuration_error() {
    let dir = scratch("k8s-owner-bad");
    let config = dir.join("agent.yaml");
    std::fs::write(&config, "kubernetes:\n  api: http://10.96.0.1:80\n").unwrap();
    let out = common::peregrine()
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.yaml:2:") && err.contains("plain http only to a loopback address"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
