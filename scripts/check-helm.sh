#!/usr/bin/env bash
# Checks the Helm chart (deploy/helm/study-tracker) without a cluster and without the network
# beyond the first run's downloads:
#   - its copies of deploy/prometheus/rules and schemas/topics.json are current
#     (deploy/helm/sync-files.sh --check), and values.schema.json caps KEDA at the partitions;
#   - helm lint --strict and helm template with the default values, values-production.yaml and
#     ci/alternatives-values.yaml;
#   - kubeconform -strict validates every rendered manifest (KEDA's ScaledObject and
#     prometheus-operator's ServiceMonitor and PrometheusRule included: a kind without a schema
#     fails) against JSON schemas generated here, offline, from the OpenAPI spec of a pinned
#     Kubernetes release and from the pinned KEDA and prometheus-operator CRDs;
#   - the validator rejects a manifest with a misspelt field of each of those kinds, the
#     PrometheusRules carry the project's rules unchanged, the Slack app service is wired whole
#     where it is enabled (production and alternatives values: Deployment, Services, PDB, Ingress
#     paths, the notifier's TRACKER_TOKEN_ENCRYPTION_KEY) and absent where it is not (defaults),
#     no container sets a variable twice, and values that break the chart's limits (KEDA above
#     the partitions, one scheduler, a setting the chart owns, the app without its public URL)
#     fail to render.
# First run: installs helm and kubeconform with `go install` into .local/tools/bin, and generates
# the schemas into .local/helm-check/ from module zips of the Go module proxy (go env GOPROXY) and
# openapi2jsonschema from PyPI (a venv there); a few minutes. Later runs take seconds. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

HELM_VERSION=v4.3.2                    # helm.sh/helm/v4
KUBECONFORM_VERSION=v0.8.0             # github.com/yannh/kubeconform
KUBERNETES_VERSION=v1.34.4             # k8s.io/kubernetes: api/openapi-spec/swagger.json
KEDA_VERSION=v2.21.1                   # github.com/kedacore/keda/v2: config/crd/bases
PROMETHEUS_OPERATOR_VERSION=v0.85.0    # github.com/prometheus-operator/prometheus-operator
# openapi2jsonschema 0.9.1 from its source archive: the 0.9.1 wheel on PyPI lacks the module's
# util.py. Its declared PyYAML <6 does not build on current Pythons; 6.0.2 reads the same.
PYTHON_PINS=(PyYAML==6.0.2 jsonref==0.2 click==7.1.2 colorama==0.4.6)
OPENAPI2JSONSCHEMA=openapi2jsonschema==0.9.1
BUILD_PINS=(poetry==2.5.1)             # its build backend, for the source archive

chart=deploy/helm/study-tracker
bin=$root/.local/tools/bin
cache=$root/.local/helm-check
venv=$cache/venv
k8s_schemas=$cache/schemas/$KUBERNETES_VERSION-standalone-strict
crd_schemas=$cache/schemas/crds-keda-$KEDA_VERSION-prometheus-operator-$PROMETHEUS_OPERATOR_VERSION
rendered=$cache/rendered
started=$SECONDS

say() { echo "check-helm: $*"; }
die() { echo "check-helm: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- tools ------------------------------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "go not found (needed to install helm and kubeconform)"
proxy=$(go env GOPROXY | cut -d, -f1)
[[ $proxy == http* ]] || die "GOPROXY ($(go env GOPROXY)) names no module proxy to download from"

# go_tool <module> <package> <version>: installs the package's binary into $bin unless the one
# there was built from that module version.
go_tool() {
  local module=$1 package=$2 version=$3 name
  name=$(basename "$package")
  if [[ -x $bin/$name ]] &&
    go version -m "$bin/$name" 2>/dev/null | awk '$1 == "mod" {print $2, $3}' | grep -qx "$module $version"; then
    return
  fi
  say "installing $name $version (go install $package@$version)"
  mkdir -p "$bin"
  GOBIN=$bin go install "$package@$version"
}
go_tool helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm "$HELM_VERSION"
go_tool github.com/yannh/kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
helm=$bin/helm
kubeconform=$bin/kubeconform
# Helm's own state stays in the cache, away from the user's.
export HELM_CACHE_HOME=$cache/helm/cache HELM_CONFIG_HOME=$cache/helm/config HELM_DATA_HOME=$cache/helm/data

# A venv with PyYAML (the checks below parse YAML) and openapi2jsonschema, rebuilt when a pin
# changes.
pins="${PYTHON_PINS[*]} $OPENAPI2JSONSCHEMA ${BUILD_PINS[*]}"
if [[ ! -x $venv/bin/openapi2jsonschema || "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]]; then
  say "creating $venv ($pins)"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  printf '%s\n' "${BUILD_PINS[@]}" >"$work/build-constraints.txt"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_PINS[@]}"
  PIP_CONSTRAINT=$work/build-constraints.txt "$venv/bin/pip" install --quiet \
    --disable-pip-version-check --no-deps --no-binary openapi2jsonschema "$OPENAPI2JSONSCHEMA"
  echo "$pins" >"$venv/.pins"
fi
python=$venv/bin/python

# fetch_module <module> <version> <dest> <path in the module>...: downloads the module's zip
# from the proxy and extracts only the named files (flat) into <dest>.
fetch_module() {
  local module=$1 version=$2 dest=$3 zip
  shift 3
  zip=$work/$(echo "$module" | tr / _)@$version.zip
  say "downloading $module@$version from $proxy"
  curl -fsSL --retry 3 -o "$zip" "$proxy/$module/@v/$version.zip" ||
    die "could not download $module@$version from $proxy"
  mkdir -p "$dest"
  "$python" - "$zip" "$module@$version" "$dest" "$@" <<'PY'
import os, sys, zipfile
zip_path, prefix, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(zip_path) as z:
    for path in wanted:
        with z.open(f"{prefix}/{path}") as src, open(os.path.join(dest, os.path.basename(path)), "wb") as out:
            out.write(src.read())
PY
  rm -f "$zip"
}

# --- schemas ----------------------------------------------------------------------------------
# Kubernetes: openapi2jsonschema in kubeconform's layout, <version>-standalone-strict/<kind>-<group>-<version>.json.
if [[ ! -e $k8s_schemas/.complete ]]; then
  fetch_module k8s.io/kubernetes "$KUBERNETES_VERSION" "$work/k8s" api/openapi-spec/swagger.json
  say "generating Kubernetes $KUBERNETES_VERSION JSON schemas (openapi2jsonschema, about a minute)"
  out=$(basename "$k8s_schemas")
  (cd "$work/k8s" &&
    "$venv/bin/openapi2jsonschema" -o "$out" --expanded --kubernetes --stand-alone --strict swagger.json \
      >"$work/openapi2jsonschema.log" 2>&1) ||
    { tail -20 "$work/openapi2jsonschema.log" >&2; die "openapi2jsonschema failed"; }
  for kind in deployment-apps-v1 service-v1 job-batch-v1 poddisruptionbudget-policy-v1 \
    horizontalpodautoscaler-autoscaling-v2 ingress-networking-v1; do
    [[ -s $work/k8s/$out/$kind.json ]] || die "openapi2jsonschema wrote no $kind.json"
  done
  rm -f "$work/k8s/$out/_definitions.json" "$work/k8s/$out/all.json"
  rm -rf "$k8s_schemas"
  mkdir -p "$(dirname "$k8s_schemas")"
  mv "$work/k8s/$out" "$k8s_schemas"
  touch "$k8s_schemas/.complete"
fi

# CRDs: kubeconform's own converter (scripts/openapi2jsonschema.py of the pinned kubeconform),
# same file names, additional properties refused at the root too.
if [[ ! -e $crd_schemas/.complete ]]; then
  fetch_module github.com/yannh/kubeconform "$KUBECONFORM_VERSION" "$work/tools" scripts/openapi2jsonschema.py
  fetch_module github.com/kedacore/keda/v2 "$KEDA_VERSION" "$work/crds" \
    config/crd/bases/keda.sh_scaledobjects.yaml config/crd/bases/keda.sh_triggerauthentications.yaml
  fetch_module github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" "$work/crds" \
    example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml \
    example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml
  say "generating CRD JSON schemas (KEDA $KEDA_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION)"
  mkdir -p "$work/crd-schemas"
  (cd "$work/crd-schemas" &&
    FILENAME_FORMAT='{kind}-{group}-{version}' DENY_ROOT_ADDITIONAL_PROPERTIES=1 \
      "$python" "$work/tools/openapi2jsonschema.py" "$work"/crds/*.yaml >/dev/null)
  for kind in scaledobject-keda-v1alpha1 servicemonitor-monitoring-v1 prometheusrule-monitoring-v1; do
    [[ -s $work/crd-schemas/$kind.json ]] || die "no $kind.json was generated"
  done
  rm -rf "$crd_schemas"
  mkdir -p "$(dirname "$crd_schemas")"
  mv "$work/crd-schemas" "$crd_schemas"
  touch "$crd_schemas/.complete"
fi
say "helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION; schemas: Kubernetes $KUBERNETES_VERSION" \
  "($(find "$k8s_schemas" -name '*.json' | wc -l) kinds), KEDA $KEDA_VERSION, prometheus-operator" \
  "$PROMETHEUS_OPERATOR_VERSION ($(find "$crd_schemas" -name '*.json' | wc -l) CRD versions)"

# --- the chart's copies and its replica cap -----------------------------------------------------
bash deploy/helm/sync-files.sh --check
"$python" - schemas/topics.json "$chart/values.schema.json" <<'PY'
import json, sys
topics = {t["name"]: t["partitions"] for t in json.load(open(sys.argv[1]))["topics"]}
schema = json.load(open(sys.argv[2]))
consumers = {"worker": "slack-events", "summarizer": "summary-requests", "notifier": "slack-outbox"}
cap = schema["definitions"]["keda"]["properties"]["maxReplicaCount"]["maximum"]
problems = []
for service, topic in consumers.items():
    if topics.get(topic) != cap:
        problems.append(f"values.schema.json caps {service}'s KEDA maxReplicaCount at {cap}, "
                        f"but {topic} has {topics.get(topic)} partitions in schemas/topics.json")
    replicas = schema["properties"][service]["properties"]["replicas"]["maximum"]
    if replicas != topics.get(topic):
        problems.append(f"values.schema.json caps {service}.replicas at {replicas}, "
                        f"but {topic} has {topics.get(topic)} partitions")
# The app consumes two topics; its replicas are capped at the fewer partitions.
app_cap = schema["properties"]["app"]["properties"]["replicas"]["maximum"]
app_partitions = min(topics.get("slack-events", 0), topics.get("slack-commands", 0))
if app_cap != app_partitions:
    problems.append(f"values.schema.json caps app.replicas at {app_cap}, but slack-events and "
                    f"slack-commands have {app_partitions} partitions (the fewer)")
for p in problems:
    print("check-helm:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# --- lint and render ----------------------------------------------------------------------------
variants=(default production alternatives)
declare -A variant_values=(
  [default]=""
  [production]="$chart/values-production.yaml"
  [alternatives]="$chart/ci/alternatives-values.yaml"
)
mkdir -p "$rendered"
for variant in "${variants[@]}"; do
  args=()
  [[ -n ${variant_values[$variant]} ]] && args=(-f "${variant_values[$variant]}")
  "$helm" lint --strict --quiet "$chart" "${args[@]}" >"$work/lint.log" 2>&1 ||
    { cat "$work/lint.log" >&2; die "helm lint --strict failed ($variant values)"; }
  "$helm" template study-tracker "$chart" --namespace study-tracker \
    --kube-version "$KUBERNETES_VERSION" "${args[@]}" >"$rendered/$variant.yaml" ||
    die "helm template failed ($variant values)"
done
say "helm lint --strict and helm template: ${variants[*]} values"

# --- validate -----------------------------------------------------------------------------------
# Local schemas only; the proxy variables make any attempt to reach the network fail loudly.
validate() {
  HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY='' \
    "$kubeconform" -strict -summary -output json -verbose \
    -kubernetes-version "${KUBERNETES_VERSION#v}" \
    -schema-location "$cache/schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$crd_schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$@"
}
files=()
for variant in "${variants[@]}"; do files+=("$rendered/$variant.yaml"); done
status=0
validate "${files[@]}" >"$work/kubeconform.json" || status=$?
"$python" - "$work/kubeconform.json" "$status" "${variants[@]}" <<'PY'
import collections, json, os, sys
report = json.load(open(sys.argv[1]))
status, variants = int(sys.argv[2]), sys.argv[3:]
counts = {v: collections.Counter() for v in variants}
bad = []
for r in report["resources"]:
    variant = os.path.basename(r["filename"]).removesuffix(".yaml")
    counts[variant][f'{r["kind"]} ({r["version"]})'] += 1
    if r["status"] != "statusValid":
        bad.append(f'{variant}: {r["kind"]} {r["name"]}: {r["status"]} {r["msg"]}')
kinds = sorted(set().union(*counts.values()))
width = max(len(k) for k in kinds)
print(f'check-helm: kubeconform -strict, per kind and values file:')
print(f'  {"kind (apiVersion)":<{width}}  ' + "  ".join(f"{v:>12}" for v in variants))
for kind in kinds:
    print(f"  {kind:<{width}}  " + "  ".join(f"{counts[v][kind]:>12}" for v in variants))
s = report["summary"]
print(f'check-helm: {sum(s.values())} resources: {s["valid"]} valid, {s["invalid"]} invalid, '
      f'{s["errors"]} errors, {s["skipped"]} skipped')
for line in bad:
    print("check-helm:", line, file=sys.stderr)
sys.exit(1 if bad or status or s["valid"] != sum(s.values()) else 0)
PY

# The validator itself: a misspelt field of each kind the chart renders must be refused, so that
# a valid result above means the schemas were strict and present, not skipped.
cat >"$work/misspelt.yaml" <<'EOF'
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: misspelt}
spec:
  scaleTargetRef: {name: worker}
  maxReplicaCountt: 3
  triggers: [{type: kafka, metadata: {topic: slack-events}}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: misspelt}
spec:
  selector: {}
  endpoints: [{port: ops, intervall: 30s}]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: misspelt}
spec:
  groups: [{name: g, rules: [{alert: A, expr: up, fore: 5m}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: misspelt}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, securityContxt: {}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: misspelt}
spec: {maxUnavailable: 1, selector: {}, unhealthyPodEvictionPolicyy: AlwaysAllow}
EOF
validate "$work/misspelt.yaml" >"$work/misspelt.json" && die "kubeconform accepted misspelt manifests"
"$python" - "$work/misspelt.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
wrong = [r for r in report["resources"] if r["status"] != "statusInvalid"]
for r in wrong:
    print(f'check-helm: a misspelt {r["kind"]} was {r["status"]}, not invalid: {r["msg"]}', file=sys.stderr)
if wrong or len(report["resources"]) != 5:
    sys.exit(1)
print(f'check-helm: kubeconform refuses a misspelt field in each of {len(report["resources"])} kinds '
      '(ScaledObject, ServiceMonitor, PrometheusRule, Deployment, PodDisruptionBudget)')
PY

# The PrometheusRules say what deploy/prometheus/rules says (runbook links prefixed).
"$python" - "$rendered/production.yaml" "$chart/values-production.yaml" deploy/prometheus/rules <<'PY'
import pathlib, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
base = yaml.safe_load(open(sys.argv[2]))["metrics"]["prometheusRule"]["runbookBaseUrl"].rstrip("/")
files = sorted(pathlib.Path(sys.argv[3]).glob("*.yml"))
rendered = {d["metadata"]["name"].rsplit("-", 1)[-1]: d["spec"]["groups"] for d in docs}
problems, rules = [], 0
for path in files:
    groups = yaml.safe_load(path.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            rules += 1
            if base and "runbook" in rule.get("annotations", {}):
                rule["annotations"]["runbook"] = f'{base}/{rule["annotations"]["runbook"]}'
    if rendered.get(path.stem) != groups:
        problems.append(f"the PrometheusRule for {path.name} differs from the file")
for p in problems:
    print("check-helm:", p, file=sys.stderr)
if problems or len(docs) != len(files):
    sys.exit(1)
print(f"check-helm: {len(docs)} PrometheusRules carry the {rules} rules of deploy/prometheus/rules")
PY

# The Slack app service: whole where its values enable it, absent where they do not; and no
# container anywhere names a variable twice (the later would silently win).
pairs=()
for variant in "${variants[@]}"; do pairs+=("$variant=${variant_values[$variant]}"); done
"$python" - "$chart" "$rendered" "${pairs[@]}" <<'PY'
import os, sys, yaml
chart, rendered = sys.argv[1], sys.argv[2]
overrides = dict(arg.split("=", 1) for arg in sys.argv[3:])  # variant -> its values file, or ""
variants = list(overrides)
base = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
problems, enabled_in = [], []

def env_of(deployment):
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

for variant in variants:
    app = dict(base["app"])
    if overrides[variant]:
        app.update((yaml.safe_load(open(overrides[variant])) or {}).get("app", {}))
    enabled = app["enabled"]
    docs = [d for d in yaml.safe_load_all(open(os.path.join(rendered, f"{variant}.yaml"))) if d]
    def component(d):
        return d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
    def one(kind, name_suffix, comp):
        found = [d for d in docs if d["kind"] == kind and component(d) == comp
                 and d["metadata"]["name"].endswith(name_suffix)]
        return found[0] if len(found) == 1 else None
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                names = [e["name"] for e in c.get("env", [])]
                for n in sorted({n for n in names if names.count(n) > 1}):
                    name = d["metadata"]["name"]
                    problems.append(f"{variant}: {d['kind']} {name} sets {n} twice")
    notifier = env_of(one("Deployment", "-notifier", "notifier"))
    app_objects = [f"{d['kind']} {d['metadata']['name']}" for d in docs if component(d) == "app"]
    if not enabled:
        if app_objects:
            problems.append(f"{variant}: app.enabled is false, but {', '.join(app_objects)} "
                            "rendered")
        if "TRACKER_TOKEN_ENCRYPTION_KEY" in notifier:
            problems.append(f"{variant}: the notifier gets TRACKER_TOKEN_ENCRYPTION_KEY without "
                            "the app")
        if notifier["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"].get("optional"):
            problems.append(f"{variant}: SLACK_BOT_TOKEN is optional for the notifier without "
                            "the app")
        continue
    enabled_in.append(variant)
    deployment = one("Deployment", "-app", "app")
    if deployment is None:
        problems.append(f"{variant}: app.enabled, but no app Deployment")
        continue
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if container["args"] != ["app"]:
        problems.append(f"{variant}: the app container's args are {container['args']}")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    if ports != {"http": app["port"], "ops": app["opsPort"]}:
        problems.append(f"{variant}: the app container's ports are {ports}")
    env = env_of(deployment)
    values = {"TRACKER_APP_PUBLIC_URL": app["publicUrl"], "SLACK_CLIENT_ID": app["clientId"],
              "TRACKER_APP_PORT": str(app["port"]), "TRACKER_OPS_PORT": str(app["opsPort"]),
              "TRACKER_APP_GROUP": app["consumerGroup"], "TRACKER_OPS_ADDRESS": "0.0.0.0",
              "TRACKER_APP_ADDRESS": "0.0.0.0"}
    for name, value in values.items():
        if env.get(name, {}).get("value") != value:
            problems.append(f"{variant}: the app's {name} is {env.get(name)}, not {value!r}")
    secret = app["existingSecret"] or base["slack"]["existingSecret"]
    for name, key in (("SLACK_CLIENT_SECRET", app["clientSecretKey"]),
                      ("TRACKER_TOKEN_ENCRYPTION_KEY", app["tokenEncryptionKeyKey"])):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        if ref != {"name": secret, "key": key}:
            problems.append(f"{variant}: the app's {name} comes from {ref}, not {secret}/{key}")
    pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    if env.get("TRACKER_APP_INSTANCE", {}).get("valueFrom") != pod_name:
        problems.append(f"{variant}: the app's TRACKER_APP_INSTANCE is not the pod's name")
    for name in ("KAFKA_BROKERS", "TRACKER_LOG_LEVEL", "TRACKER_MIGRATE_ON_START",
                 "TRACKER_SHUTDOWN_GRACE", "SLACK_BOT_TOKEN"):
        if name not in env:
            problems.append(f"{variant}: the app gets no {name}")
    if "DATABASE_URL" not in env:
        problems.append(f"{variant}: the app gets no DATABASE_URL")
    if notifier.get("TRACKER_TOKEN_ENCRYPTION_KEY") != env.get("TRACKER_TOKEN_ENCRYPTION_KEY"):
        problems.append(f"{variant}: the notifier's TRACKER_TOKEN_ENCRYPTION_KEY is not the app's")
    if not notifier["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"].get("optional"):
        problems.append(f"{variant}: SLACK_BOT_TOKEN is required of the notifier with the app on")
    service = one("Service", "-app", "app")
    ops = one("Service", "-app-ops", "app")
    if service is None or [p["targetPort"] for p in service["spec"]["ports"]] != ["http"]:
        problems.append(f"{variant}: no app Service to port http")
    if ops is None or ops["metadata"]["labels"].get("study-tracker/ops") != "true":
        problems.append(f"{variant}: no app ops Service the ServiceMonitor selects")
    if one("PodDisruptionBudget", "-app", "app") is None:
        problems.append(f"{variant}: no app PodDisruptionBudget")
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
            want = {"/slack/events": "ingest", "/slack/commands": "ingest",
                    "/slack/interactivity": "ingest",
                    "/slack/install": "app", "/slack/oauth_redirect": "app"}
            for path, target in want.items():
                if not routes.get(path, "").endswith(f"-{target}"):
                    problems.append(f"{variant}: Ingress host {rule['host']} routes {path} to "
                                    f"{routes.get(path)}, not the {target} Service")
for p in problems:
    print("check-helm:", p, file=sys.stderr)
if problems:
    sys.exit(1)
if not enabled_in or len(enabled_in) == len(variants):
    print("check-helm: the app must be on in some values files and off in another", file=sys.stderr)
    sys.exit(1)
print(f"check-helm: the app is wired whole ({', '.join(enabled_in)} values) and absent "
      f"({', '.join(v for v in variants if v not in enabled_in)}); no variable is set twice")
PY

# --- values the chart must refuse ---------------------------------------------------------------
# must_fail <what> <expected message> <helm template arguments...>
must_fail() {
  local what=$1 expected=$2
  shift 2
  if "$helm" template study-tracker "$chart" --kube-version "$KUBERNETES_VERSION" "$@" \
    >/dev/null 2>"$work/refused.log"; then
    die "rendered although $what"
  fi
  grep -q -- "$expected" "$work/refused.log" ||
    { cat "$work/refused.log" >&2; die "$what: refused, but without '$expected'"; }
}
production=(-f "$chart/values-production.yaml")
must_fail "worker.keda.maxReplicaCount (7) exceeds slack-events' 6 partitions" \
  "maxReplicaCount': maximum: got 7, want 6" "${production[@]}" --set worker.keda.maxReplicaCount=7
must_fail "notifier.keda.maxReplicaCount (8) exceeds the partitions, schema skipped" \
  "slack-outbox has 6 partitions" "${production[@]}" --set notifier.keda.maxReplicaCount=8 \
  --skip-schema-validation
must_fail "summarizer.replicas (9) exceeds the partitions, schema skipped" \
  "summary-requests has 6 partitions" --set summarizer.replicas=9 --skip-schema-validation
must_fail "scheduler.replicas is 1, schema skipped" "run two or more" \
  --set scheduler.replicas=1 --skip-schema-validation
must_fail "worker.env names a variable the chart sets" "TRACKER_WORKER_GROUP" \
  --set worker.env.TRACKER_WORKER_GROUP=other
must_fail "a duration has no unit" "TRACKER_BATCH_LINGER" --set-string worker.env.TRACKER_BATCH_LINGER=20
must_fail "the root filesystem is writable" "readOnlyRootFilesystem" \
  --set securityContext.readOnlyRootFilesystem=false
must_fail "the app is enabled without its public URL" "app.publicUrl is empty" \
  --set app.enabled=true --set app.clientId=1.2
must_fail "the app is enabled without its client id" "app.clientId is empty" \
  --set app.enabled=true --set app.publicUrl=https://tracker.example.com
must_fail "app.replicas (7) exceeds the partitions, schema skipped" \
  "slack-events has 6 partitions" "${production[@]}" --set app.replicas=7 --skip-schema-validation
must_fail "app.env names a variable the chart sets" "TRACKER_TOKEN_ENCRYPTION_KEY" \
  "${production[@]}" --set app.env.TRACKER_TOKEN_ENCRYPTION_KEY=k1:x
say "refused: KEDA or replicas above the partitions (schema and template), one scheduler, a" \
  "setting the chart owns, a duration without unit, a writable root filesystem, the app" \
  "without its public URL or client id"

say "OK in $((SECONDS - started)) s"
