//! The `k8s_audit` source: Falco's k8s audit rules load unmodified and fire
//! on real audit events from Falco's test data (tests/data/k8s_audit/).
use peregrine_rules::fields::k8saudit::{parse_payload, AuditContext, AuditEvent};
use peregrine_rules::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn audit_rules() -> Engine {
    Engine::from_files(&[repo("rules/falco-upstream/k8s_audit_rules.yaml")])
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The audit events of a sample file (one JSON payload a line).
fn events(name: &str) -> Vec<AuditEvent> {
    let path = repo("crates/peregrine-rules/tests/data/k8s_audit").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| parse_payload(l.as_bytes()).unwrap_or_default())
        .map(|e| e.unwrap())
        .collect()
}

/// Rule name → how many events of the file fired it.
fn fired(e: &Engine, name: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (i, ev) in events(name).iter().enumerate() {
        for m in e.evaluate_audit(&AuditContext::new(ev, "node-1", i as u64 + 1)) {
            *out.entry(m.rule).or_default() += 1;
        }
    }
    out
}

/// What Falco's own tests expect of these samples (test/falco_k8s_audit_tests.yaml),
/// with only k8s_audit_rules.yaml loaded: rule → count, for every sample.
const EXPECTED: &[(&str, &[(&str, usize)])] = &[
    (
        "anonymous_creates_namespace_foo.json",
        &[
            ("Anonymous Request Allowed", 1),
            ("Create Disallowed Namespace", 1),
            ("K8s Namespace Created", 1),
        ],
    ),
    (
        "attach_cluster_admin_role.json",
        &[
            ("Attach to cluster-admin Role", 1),
            ("K8s ClusterRoleBinding Created", 1),
        ],
    ),
    ("attach_pod.json", &[("Attach/Exec Pod", 1)]),
    (
        "create_cluster_role_pod_exec.json",
        &[
            ("ClusterRole With Pod Exec Created", 1),
            ("K8s ClusterRole Created", 1),
        ],
    ),
    (
        "create_cluster_role_wildcard_resources.json",
        &[
            ("ClusterRole With Wildcard Created", 1),
            ("K8s ClusterRole Created", 1),
        ],
    ),
    (
        "create_cluster_role_wildcard_verbs.json",
        &[
            ("ClusterRole With Wildcard Created", 1),
            ("K8s ClusterRole Created", 1),
        ],
    ),
    (
        "create_cluster_role_write_privileges.json",
        &[
            ("ClusterRole With Write Privileges Created", 1),
            ("K8s ClusterRole Created", 1),
        ],
    ),
    ("create_clusterrole.json", &[("K8s ClusterRole Created", 1)]),
    (
        "create_clusterrolebinding.json",
        &[("K8s ClusterRoleBinding Created", 1)],
    ),
    ("create_configmap.json", &[("K8s ConfigMap Created", 1)]),
    (
        "create_configmap_no_sensitive_values.json",
        &[("K8s ConfigMap Created", 1)],
    ),
    (
        "create_configmap_sensitive_values.json",
        &[
            ("Create/Modify Configmap With Private Credentials", 6),
            ("K8s ConfigMap Created", 6),
        ],
    ),
    ("create_deployment.json", &[("K8s Deployment Created", 1)]),
    ("create_kube_system_secret.json", &[]),
    (
        "create_nginx_pod_hostnetwork.json",
        &[("Create HostNetwork Pod", 1)],
    ),
    (
        "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json",
        &[("Create Privileged Pod", 1)],
    ),
    ("create_nginx_pod_nohostnetwork.json", &[]),
    (
        "create_nginx_pod_privileged.json",
        &[("Create Privileged Pod", 1)],
    ),
    (
        "create_nginx_pod_privileged_2nd_container.json",
        &[("Create Privileged Pod", 1)],
    ),
    (
        "create_nginx_pod_sensitive_mount.json",
        &[("Create Sensitive Mount Pod", 1)],
    ),
    (
        "create_nginx_pod_sensitive_mount_2nd_container.json",
        &[("Create Sensitive Mount Pod", 1)],
    ),
    ("create_nginx_pod_unprivileged.json", &[]),
    ("create_nginx_pod_unsensitive_mount.json", &[]),
    (
        "create_nginx_service_nodeport.json",
        &[("Create NodePort Service", 1), ("K8s Service Created", 1)],
    ),
    (
        "create_nginx_service_nonodeport.json",
        &[("K8s Service Created", 1)],
    ),
    (
        "create_pod_kube_public_namespace.json",
        &[("Pod Created in Kube Namespace", 1)],
    ),
    (
        "create_pod_kube_system_namespace.json",
        &[("Pod Created in Kube Namespace", 1)],
    ),
    ("create_secret.json", &[("K8s Secret Created", 1)]),
    ("create_service.json", &[("K8s Service Created", 1)]),
    ("create_service_account_token_secret.json", &[]),
    (
        "create_serviceaccount.json",
        &[("K8s Serviceaccount Created", 1)],
    ),
    (
        "create_serviceaccount_kube_public_namespace.json",
        &[
            ("K8s Serviceaccount Created", 1),
            ("Service Account Created in Kube Namespace", 1),
        ],
    ),
    (
        "create_serviceaccount_kube_system_namespace.json",
        &[
            ("K8s Serviceaccount Created", 1),
            ("Service Account Created in Kube Namespace", 1),
        ],
    ),
    (
        "delete_cluster_role_kube_aggregator.json",
        &[
            ("K8s ClusterRole Deleted", 1),
            ("System ClusterRole Modified/Deleted", 1),
        ],
    ),
    ("delete_clusterrole.json", &[("K8s ClusterRole Deleted", 1)]),
    (
        "delete_clusterrolebinding.json",
        &[("K8s ClusterRoleBinding Deleted", 1)],
    ),
    ("delete_configmap.json", &[("K8s ConfigMap Deleted", 1)]),
    ("delete_deployment.json", &[("K8s Deployment Deleted", 1)]),
    ("delete_namespace_foo.json", &[("K8s Namespace Deleted", 1)]),
    ("delete_secret.json", &[("K8s Secret Deleted", 1)]),
    ("delete_service.json", &[("K8s Service Deleted", 1)]),
    (
        "delete_serviceaccount.json",
        &[("K8s Serviceaccount Deleted", 1)],
    ),
    ("exec_pod.json", &[("Attach/Exec Pod", 1)]),
    (
        "minikube_creates_namespace_foo.json",
        &[
            ("Create Disallowed Namespace", 1),
            ("K8s Namespace Created", 1),
        ],
    ),
    (
        "modify_cluster_role_node_problem_detector.json",
        &[("System ClusterRole Modified/Deleted", 1)],
    ),
    (
        "some-user_creates_namespace_foo.json",
        &[
            ("Create Disallowed Namespace", 1),
            ("Disallowed K8s User", 1),
            ("K8s Namespace Created", 1),
        ],
    ),
];

#[test]
fn falcos_k8s_audit_rules_load_unmodified_with_zero_errors_and_warnings() {
    let e = audit_rules();
    assert!(e.warnings().is_empty(), "{:?}", e.warnings());
    assert_eq!(e.stats().rules, 48);
    assert_eq!(e.stats().enabled, 48);
    assert_eq!(e.audit_rule_count(), 48);
    assert!(e.rules().iter().all(|r| r.source == "k8s_audit"));
    // Audit rules ask nothing of the kernel: only the process lifecycle.
    assert_eq!(e.required_kinds().len(), 3);
    assert_eq!(e.rules_for_type("openat"), 0);
}

#[test]
fn every_real_sample_fires_what_falcos_tests_expect() {
    let e = audit_rules();
    for (file, want) in EXPECTED {
        let want: BTreeMap<String, usize> = want.iter().map(|(r, n)| (r.to_string(), *n)).collect();
        assert_eq!(fired(&e, file), want, "{file}");
    }
    // Every sample is in the table but the malformed one.
    let dir = repo("crates/peregrine-rules/tests/data/k8s_audit");
    let samples = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(samples, EXPECTED.len() + 2, "README.md, fal_01_003.json");
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    let path = repo("crates/peregrine-rules/tests/data/k8s_audit/fal_01_003.json");
    let text = std::fs::read(path).unwrap();
    let err = parse_payload(&text).unwrap_err();
    assert!(
        err.to_string().contains("not a Kubernetes audit event"),
        "{err}"
    );
    assert!(parse_payload(b"{\"kind\":\"EventList\",\"items\":3}").is_err());
    assert!(parse_payload(b"\xff").is_err());
}

#[test]
fn exec_into_a_pod_renders_falcos_output_with_its_fields() {
    let e = audit_rules();
    let ev = &events("exec_pod.json")[0];
    let m = e.evaluate_audit(&AuditContext::new(ev, "node-1", 1));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].priority, peregrine_rules::Priority::Notice);
    assert_eq!(
        m[0].output,
        "Attach/Exec to pod (user=minikube-user pod=nginx-deployment-7998647bdf-phvq7 \
         resource=pods ns=default action=exec command=bash)"
    );
    assert_eq!(m[0].output_fields["ka.uri.param[command]"], "bash");
    assert_eq!(m[0].output_fields["ka.target.subresource"], "exec");
    assert_eq!(m[0].tags, ["k8s"]);
}

#[test]
fn privileged_pod_and_wildcard_role_outputs_list_their_values() {
    let e = audit_rules();
    let ev = &events("create_nginx_pod_privileged_2nd_container.json")[0];
    let m = e.evaluate_audit(&AuditContext::new(ev, "n", 1));
    let hit = m
        .iter()
        .find(|m| m.rule == "Create Privileged Pod")
        .unwrap();
    assert_eq!(
        hit.output_fields["ka.req.pod.containers.image"],
        "(nginx,mysql:latest)"
    );
    assert_eq!(hit.output_fields["ka.req.pod.initContainers.image"], "<NA>");
    let ev = &events("create_cluster_role_wildcard_verbs.json")[0];
    let m = e.evaluate_audit(&AuditContext::new(ev, "n", 1));
    let hit = m
        .iter()
        .find(|m| m.rule == "ClusterRole With Wildcard Created")
        .unwrap();
    assert_eq!(hit.output_fields["ka.target.name"], "some-reader");
    assert!(
        hit.output_fields["ka.req.role.rules"]
            .starts_with(r#"({"apiGroups":[""],"resources":["pods"],"verbs":["*"]},"#),
        "{}",
        hit.output_fields["ka.req.role.rules"]
    );
}

/// One engine with Falco's syscall rules and its audit rules: each source's
/// rules see only their own events.
#[test]
fn sources_are_kept_apart() {
    let e = Engine::from_files(&[
        repo("rules/falco-upstream/falco_rules.yaml"),
        repo("rules/falco-upstream/k8s_audit_rules.yaml"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.audit_rule_count(), 48);
    assert_eq!(e.stats().enabled, 48 + 25);
    // Every rule of every sample is an audit rule.
    let audit_names: Vec<&str> = e
        .rules()
        .iter()
        .filter(|r| r.source == "k8s_audit")
        .map(|r| r.name.as_str())
        .collect();
    for (file, _) in EXPECTED {
        for ev in events(file) {
            for m in e.evaluate_audit(&AuditContext::new(&ev, "n", 1)) {
                assert!(audit_names.contains(&m.rule.as_str()), "{file}: {}", m.rule);
            }
        }
    }
    // A syscall event reaches no audit rule, even "All K8s Audit Events"-style ones.
    let ev = peregrine_event::Event {
        ts_ns: 1,
        kind: peregrine_event::EventKind::Exit,
        syscall: None,
        process: Default::default(),
        data: peregrine_event::EventData::Exit { code: 0, signal: 0 },
    };
    let syscall_only =
        Engine::from_files(&[repo("rules/falco-upstream/falco_rules.yaml")]).unwrap();
    let ctx = peregrine_rules::context::EventOnly(&ev);
    assert_eq!(
        e.evaluate(&ctx).iter().map(|m| &m.rule).collect::<Vec<_>>(),
        syscall_only
            .evaluate(&ctx)
            .iter()
            .map(|m| &m.rule)
            .collect::<Vec<_>>()
    );
    let always = "- rule: any audit\n  desc: d\n  condition: ka.verb exists\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
    let e = Engine::from_str("a.yaml", always).unwrap();
    assert!(e.evaluate(&ctx).is_empty());
    assert_eq!(e.required_kinds().len(), 3);
}

#[test]
fn fields_of_the_other_source_are_load_errors() {
    let rule = |cond: &str, out: &str, source: &str| {
        format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: {out}\n  priority: INFO\n  source: {source}\n")
    };
    for (text, field) in [
        (rule("proc.name = sh", "o", "k8s_audit"), "proc.name"),
        (rule("ka.verb = get", "o %fd.name", "k8s_audit"), "fd.name"),
        (rule("ka.verb = get", "o", "syscall"), "ka.verb"),
        (
            rule("proc.name = sh", "o %jevt.value[/verb]", "syscall"),
            "jevt.value",
        ),
    ] {
        let err = Engine::from_str("x.yaml", &text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("field '{field}' does not exist for event source")),
            "{err}"
        );
    }
    // evt.time and friends mean the same for both.
    Engine::from_str(
        "x.yaml",
        &rule(
            "ka.verb = get",
            "at %evt.time on %evt.hostname",
            "k8s_audit",
        ),
    )
    .unwrap();
}

/// Field semantics on a hand-made event (list `in` is "all in the set",
/// `intersects` "any", JSON pointers, query parameters, image repositories).
#[test]
fn field_semantics() {
    let ev = AuditEvent::from_json(serde_json::json!({
        "kind": "Event", "auditID": "x", "stageTimestamp": "2024-05-01T10:00:00.5Z",
        "verb": "create", "user": {"username": "alice", "groups": ["dev", "ops"]},
        "requestURI": "/api/v1/namespaces/a/pods/p/exec?command=ls&command=-l&container=c%201",
        "objectRef": {"resource": "pods", "namespace": "a", "name": "p"},
        "sourceIPs": ["10.0.0.1", "10.0.0.2"],
        "responseStatus": {"code": 201},
        "responseObject": {"metadata": {"name": "p"}},
        "requestObject": {"spec": {
            "hostNetwork": true,
            "securityContext": {"runAsUser": 1000},
            "containers": [
                {"name": "a", "image": "docker.io/nginx:1.25@sha256:ab", "command": ["sh", "-c"],
                 "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN"]}},
                 "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}]},
                {"name": "b", "image": "busybox", "securityContext": {"runAsUser": 0}}
            ],
            "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}, {"name": "w", "emptyDir": {}}]
        }}
    }))
    .unwrap();
    assert_eq!(ev.ts_ns, 1_714_557_600_500_000_000);
    let e = |cond: &str| {
        let text = format!("- rule: r\n  desc: d\n  condition: >-\n    {cond}\n  output: o\n  priority: INFO\n  source: k8s_audit\n");
        let e = Engine::from_str("t.yaml", &text).unwrap_or_else(|e| panic!("{cond}: {e}"));
        !e.evaluate_audit(&AuditContext::new(&ev, "n", 1)).is_empty()
    };
    let cases: &[(&str, bool)] = &[
        ("ka.user.groups in (dev, ops, qa)", true),
        ("ka.user.groups in (dev)", false),
        ("ka.user.groups intersects (dev)", true),
        (
            "ka.req.pod.containers.image.repository in (docker.io/nginx, busybox)",
            true,
        ),
        (
            "ka.req.pod.containers.image.repository in (busybox, nginx)",
            false,
        ),
        ("ka.req.pod.containers.image.repository[1] = busybox", true),
        ("ka.req.pod.containers.privileged intersects (true)", true),
        ("ka.req.pod.containers.privileged[1] exists", false),
        ("ka.req.container.privileged = true", true),
        ("ka.req.pod.containers.command intersects ('sh -c')", true),
        ("ka.req.pod.containers.host_port in (80, 8081)", true),
        ("ka.req.pod.containers.eff_run_as_user in (1000, 0)", true),
        ("ka.req.pod.containers.eff_run_as_user intersects (0)", true),
        (
            "ka.req.pod.containers.add_capabilities intersects ('[\"NET_ADMIN\"]')",
            true,
        ),
        ("ka.req.pod.volumes.hostpath intersects (/etc)", true),
        ("ka.req.volume.hostpath[/e*] = true", true),
        ("ka.req.volume.hostpath[/proc] = false", true),
        (
            "ka.req.pod.volumes.volume_type in (hostPath, emptyDir)",
            true,
        ),
        ("ka.req.pod.host_network = true", true),
        ("ka.req.pod.host_pid exists", false),
        ("ka.uri.param[command] = ls", true),
        ("ka.uri.param[container] = 'c 1'", true),
        ("ka.target.pod.name = p", true),
        ("ka.response.code = 201", true),
        ("ka.sourceips[1] = 10.0.0.2", true),
        (
            "jevt.value[/requestObject/spec/containers/0/name] = a",
            true,
        ),
        ("jevt.value[/responseStatus] = '{\"code\":201}'", true),
        ("jevt.value[/nothing] exists", false),
        ("jevt.rawtime = 1714557600500000000", true),
        ("jevt.obj contains '\"auditID\": \"x\"'", true),
        ("ka.req.binding.subjects exists", false),
    ];
    for (cond, want) in cases {
        assert_eq!(e(cond), *want, "{cond}");
    }
}

/// Every field on every sample, and on thousands of mutated samples: values
/// or absence, never a panic (hostile audit payloads are bad input).
#[test]
fn every_field_survives_every_sample_and_mutations() {
    use peregrine_rules::fields::k8saudit::K8S_AUDIT_FIELDS;
    use peregrine_rules::fields::{bind, extract, ArgKind};
    let bound: Vec<_> = K8S_AUDIT_FIELDS
        .iter()
        .flat_map(|f| match f.arg {
            ArgKind::None => vec![bind(f.name, None)],
            ArgKind::OptIndex => vec![bind(f.name, None), bind(f.name, Some("1"))],
            _ => vec![
                bind(f.name, Some("/requestObject/spec/containers/0/image")),
                bind(f.name, Some("command")),
                bind(f.name, Some("")),
                bind(f.name, Some("/~1x~0")),
            ],
        })
        .map(|b| b.unwrap())
        .collect();
    let extract_all = |ev: &AuditEvent| {
        let ctx = AuditContext::new(ev, "n", 1);
        bound.iter().filter(|b| extract(b, &ctx).is_some()).count()
    };
    let dir = repo("crates/peregrine-rules/tests/data/k8s_audit");
    let mut lines = Vec::new();
    for (file, _) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let mut present = 0;
    for l in &lines {
        for ev in parse_payload(l.as_bytes()).unwrap() {
            present += extract_all(&ev.unwrap());
        }
    }
    assert!(present > 1000, "{present} values");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let junk = b"{}[]\",:0-1.e tnf\\u";
    for _ in 0..3000 {
        let mut bytes = lines[(next() as usize) % lines.len()].as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = junk[(next() as usize) % junk.len()],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, junk[(next() as usize) % junk.len()]),
            }
        }
        if let Ok(items) = parse_payload(&bytes) {
            for ev in items.into_iter().flatten() {
                extract_all(&ev);
            }
        }
    }
}
