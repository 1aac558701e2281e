//! The Terraform modules and examples (deploy/terraform): every .tf file
//! parses (PyPI `python-hcl2`), every file a module reads exists, and every
//! chart value the Helm module sets is a key of the chart's values schema.
mod common;

use common::repo_str as repo;
use std::process::Command;

const CHECK: &str = r#"
import glob, json, os, re, sys
import hcl2
root = sys.argv[1]
tf = sorted(glob.glob(os.path.join(root, "deploy/terraform/**/*.tf"), recursive=True))
parsed = {}
for path in tf:
    with open(path) as f:
        parsed[path] = hcl2.load(f)
    # file()/templatefile() paths relative to the module exist.
    text = open(path).read()
    for ref in re.findall(r'(?:file|templatefile)\("\$\{path\.module\}/([^"]+)"', text):
        target = os.path.normpath(os.path.join(os.path.dirname(path), ref))
        if not os.path.exists(target):
            sys.exit(f"{path}: {ref} does not exist")
    # Examples use modules that exist.
    for block in parsed[path].get("module", []):
        for name, body in block.items():
            src = os.path.normpath(os.path.join(os.path.dirname(path), body["source"].strip('"')))
            if not os.path.isdir(src):
                sys.exit(f"{path}: module {name}: no {src}")
for need in ["modules/peregrine-helm/main.tf", "modules/peregrine-vm/main.tf",
             "examples/helm/main.tf", "examples/vm/main.tf"]:
    if os.path.join(root, "deploy/terraform", need) not in parsed:
        sys.exit(f"missing {need}")
# The chart values the Helm module sets are keys of values.schema.json.
schema = json.load(open(os.path.join(root, "deploy/helm/peregrine/values.schema.json")))
main = parsed[os.path.join(root, "deploy/terraform/modules/peregrine-helm/main.tf")]
values = main["locals"][0]["values"]
def walk(v, s, at):
    if not isinstance(v, dict) or "properties" not in s:
        return
    for k, sub in v.items():
        if k not in s["properties"]:
            sys.exit(f"chart has no value {at}{k}")
        walk(sub, s["properties"][k], f"{at}{k}.")
walk(values, schema, "")
print(len(tf), "files")
"#;

#[test]
fn terraform_files_parse_and_match_the_chart() {
    let out = Command::new("python3")
        .args(["-c", CHECK, &repo("")])
        .output()
        .expect("python3 with python-hcl2 (scripts/bootstrap.sh --test installs it)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let n: usize = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 10, "{n} .tf files");
}
