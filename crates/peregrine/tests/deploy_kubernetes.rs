//! The Helm chart (deploy/helm/peregrine) and the plain manifests
//! (deploy/kubernetes): rendered by the real Helm, validated offline against
//! the Kubernetes OpenAPI schemas (`kubernetes-validate --strict`), the
//! manifests up to date with the chart, and values.schema.json rejecting
//! values of the wrong type. `helm`, `kubernetes-validate` and `python3`
//! with `jsonschema` are installed by scripts/bootstrap.sh --test.
mod common;

use common::repo_str as repo;
use std::path::Path;
use std::process::{Command, Output};

fn chart() -> String {
    repo("deploy/helm/peregrine")
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/bootstrap.sh --test installs it)"))
}

fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm template` of the chart with the given values files.
fn render(values: &[&str]) -> String {
    let mut cmd = Command::new("helm");
    cmd.args([
        "template",
        "peregrine",
        &chart(),
        "--namespace",
        "peregrine",
    ]);
    for v in values {
        cmd.args(["-f", &repo(&format!("deploy/helm/peregrine/ci/{v}"))]);
    }
    ok(&mut cmd)
}

/// `kubernetes-validate --strict` of a manifest; returns its report.
fn validate(dir: &Path, name: &str, manifest: &str) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, manifest).unwrap();
    output(
        Command::new("kubernetes-validate")
            .arg("--strict")
            .arg(&path),
    )
}

fn assert_valid(dir: &Path, name: &str, manifest: &str) -> String {
    let out = validate(dir, name, manifest);
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} does not validate:\n{report}");
    assert!(!report.contains("ERROR"), "{report}");
    report
}

#[test]
fn helm_lints_the_chart_with_every_ci_values_file() {
    ok(Command::new("helm").args(["lint", "--strict", &chart()]));
    for v in [
        "full-values.yaml",
        "minimal-values.yaml",
        "sqlite-token-values.yaml",
    ] {
        let values = repo(&format!("deploy/helm/peregrine/ci/{v}"));
        ok(Command::new("helm").args(["lint", "--strict", &chart(), "-f", &values]));
    }
}

#[test]
fn rendered_chart_validates_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    // Default values: the agent DaemonSet and the server on SQLite.
    let default = render(&[]);
    let report = assert_valid(dir.path(), "default.yaml", &default);
    for kind in [
        "daemonset/peregrine-agent",
        "deployment/peregrine-server",
        "service/peregrine-server",
        "service/peregrine-agent",
        "persistentvolumeclaim/peregrine-server",
        "clusterrole/peregrine",
        "clusterrolebinding/peregrine",
        "serviceaccount/peregrine",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind} ")),
            "{kind}: {report}"
        );
    }
    assert!(default.contains("hostPID: true"));
    assert!(
        default.contains("- operator: Exists"),
        "tolerates every taint"
    );
    assert!(default.contains("drop: [ALL]") || default.contains("- ALL"));
    assert!(default.contains("runAsUser: 65532"), "server not root");
    // Every rule file the DaemonSet passes is one the image ships
    // (deploy/build-image.sh copies rules/ to /etc/peregrine/rules).
    let shipped: Vec<&str> = default
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --rules=/etc/peregrine/rules/"))
        .collect();
    assert!(shipped.len() >= 2, "{shipped:?}");
    for f in shipped {
        assert!(
            Path::new(&repo(&format!("rules/{f}"))).is_file(),
            "no rules/{f}"
        );
    }

    // Everything optional on.
    let full = render(&["full-values.yaml"]);
    let report = assert_valid(dir.path(), "full.yaml", &full);
    for kind in [
        "secret/peregrine-agent-token",
        "configmap/peregrine-rules",
        "configmap/peregrine-grafana-dashboard",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind} ")),
            "{kind}: {report}"
        );
    }
    assert!(full.contains("privileged: true"));
    assert!(full.contains("- --rules=/etc/peregrine/rules.d/my_rules.yaml"));
    assert!(full.contains("- --output=webhook:https://siem.example/ingest,min=warning"));
    assert!(full.contains("name: PEREGRINE_STORE"));
    assert!(full.contains("- --server=https://peregrine-server.peregrine.svc:8470"));
    assert!(full.contains("priorityClassName: system-node-critical"));
    // The CRD objects (no schema offline) are rendered with their content.
    assert!(full.contains("kind: ServiceMonitor"));
    assert!(full.contains("kind: PrometheusRule"));
    assert!(full.contains("alert: PeregrineKernelDrops"));
    assert!(full.contains("\"uid\": \"peregrine-overview\""));
    assert!(full.contains("grafana_dashboard: \"1\""));

    for v in ["minimal-values.yaml", "sqlite-token-values.yaml"] {
        assert_valid(dir.path(), v, &render(&[v]));
    }
    let minimal = render(&["minimal-values.yaml"]);
    assert!(!minimal.contains("kind: Deployment"), "server disabled");
    assert!(!minimal.contains("kind: ClusterRole"), "rbac disabled");

    // The validator does reject a wrong manifest.
    let broken = default.replacen("replicas: 1", "replicas: one", 1);
    assert_ne!(broken, default);
    let out = validate(dir.path(), "broken.yaml", &broken);
    assert!(
        !out.status.success(),
        "a string replica count passed validation"
    );
}

#[test]
fn plain_manifests_are_generated_from_the_chart_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    ok(Command::new("bash")
        .arg(repo("deploy/kubernetes/generate.sh"))
        .arg(dir.path()));
    for name in ["namespace.yaml", "peregrine.yaml"] {
        let fresh = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let committed =
            std::fs::read_to_string(repo(&format!("deploy/kubernetes/{name}"))).unwrap_or_default();
        assert!(
            fresh == committed,
            "deploy/kubernetes/{name} is out of date: run deploy/kubernetes/generate.sh"
        );
        assert_valid(dir.path(), &format!("check-{name}"), &committed);
    }
}

#[test]
fn values_schema_rejects_wrong_types() {
    // Helm validates values against values.schema.json before rendering.
    let cases = [
        ("agent.ringMiB", "\"big\"", "agent.ringMiB"),
        ("agent.privileged", "\"yes\"", "agent.privileged"),
        ("agent.tolerations", "\"all\"", "agent.tolerations"),
        ("agent.outputs", "[1]", "agent.outputs"),
        ("server.port", "70000", "server.port"),
        ("server.store.type", "\"mysql\"", "server.store.type"),
        ("customRules", "{\"x.yaml\": 5}", "customRules"),
        ("image.pullPolicy", "\"Sometimes\"", "image.pullPolicy"),
        ("agent.priorityClass", "\"x\"", "priorityClass"),
        ("agent.k8sAudit.port", "\"https\"", "agent.k8sAudit.port"),
        ("agent.enforce", "\"yes\"", "agent.enforce"),
    ];
    for (key, value, named) in cases {
        let out = output(Command::new("helm").args([
            "template",
            "peregrine",
            &chart(),
            "--set-json",
            &format!("{key}={value}"),
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}={value} was accepted");
        assert!(err.contains(named), "{key}={value}: {err}");
    }
    // The same schema, checked by an independent validator (Python
    // jsonschema): the default values pass, a wrong type does not.
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1] + "/values.schema.json"))
values = yaml.safe_load(open(sys.argv[1] + "/values.yaml"))
jsonschema.validate(values, schema)
values["agent"]["resources"] = "big"
try:
    jsonschema.validate(values, schema)
except jsonschema.ValidationError as e:
    print("rejected:", e.message)
    sys.exit(0)
sys.exit("a string for agent.resources was accepted")
"#;
    let out = ok(Command::new("python3").args(["-c", script, &chart()]));
    assert!(out.starts_with("rejected:"), "{out}");
}

#[test]
fn the_audit_webhook_and_enforcement_render_when_asked() {
    let full = format!("{}/ci/full-values.yaml", chart());
    let out = output(Command::new("helm").args(["template", "peregrine", &chart(), "-f", &full]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "- --enforce",
        "- --k8s-audit-listen=0.0.0.0:9765",
        "- --k8s-audit-tls-cert=/etc/peregrine/k8s-audit-tls/tls.crt",
        "- --k8s-audit-token-file=/etc/peregrine/k8s-audit-token/token",
        "- --rules=/etc/peregrine/rules/falco-upstream/k8s_audit_rules.yaml",
        "secretName: peregrine-audit-tls",
        "name: k8s-audit",
    ] {
        assert!(text.contains(want), "{want} not rendered");
    }
    // Off by default; on without a certificate it is refused, naming the key.
    let plain = output(Command::new("helm").args(["template", "peregrine", &chart()]));
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(!plain.contains("--k8s-audit") && !plain.contains("--enforce"));
    let out = output(Command::new("helm").args([
        "template",
        "peregrine",
        &chart(),
        "--set",
        "agent.k8sAudit.enabled=true",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent.k8sAudit.tlsSecret is required"));
}
