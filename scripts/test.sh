#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian bookworm machine or an existing checkout:
# installs what is missing, checks the Prometheus rules (promtool's unit tests of every alert)
# and the Helm chart (helm lint, kubeconform),
# builds (plus an ASan/UBSan build), runs every libFuzzer target briefly (scripts/fuzz.sh, clang),
# checks formatting, starts the
# local Kafka + PostgreSQL stack, runs the unit and integration tests of both builds (those of
# ingest and worker once more on a three-broker cluster), a short seeded chaos run through the
# whole pipeline on a stack of its own (loadtest/chaos/run_chaos.py --quick), and the
# main job (scripts/main_job.py --check: one day through all five services) and the load
# scenarios SC1-SC4 at 2 % of their size (loadtest/run_scenarios.py --check), both scraped by a
# local Prometheus whose rules' queries are then checked (scripts/check_prometheus_queries.py);
# finally builds the container images and runs the main job through the compose stack
# (scripts/check-compose.sh), which it takes down again.
# Idempotent; leaves the local stack running (deploy/local/stack.sh down stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

started=$SECONDS
phase_start=$SECONDS
timings=()
phase() {
  timings+=("$(printf '%-28s %5ds' "$1" $((SECONDS - phase_start)))")
  phase_start=$SECONDS
}
say() { printf '\n== %s\n' "$*"; }

say "dependencies"
bash scripts/install-deps.sh all containers fuzz
phase "install dependencies"

say "formatting (clang-format)"
bash scripts/format.sh --check
phase "format check"

say "Prometheus rules and alerts (promtool)"
bash scripts/check-prometheus.sh
phase "prometheus rules"

# The Helm chart: helm lint --strict, and helm template of its values files validated by
# kubeconform (strict) against schemas made offline; helm and kubeconform from the Go proxy.
say "Helm chart (helm lint, kubeconform)"
bash scripts/check-helm.sh
phase "helm chart"

say "build (release, warnings as errors)"
bash scripts/build.sh release
phase "build release"

say "build (AddressSanitizer + UndefinedBehaviorSanitizer)"
bash scripts/build.sh asan -DTRACKER_BUILD_LOADTEST=OFF
phase "build asan"

# libFuzzer targets (fuzz/): every reader of outside bytes, 10 s each under clang's ASan + UBSan;
# a crash, leak, hang, failed invariant or UB report fails the run (inputs in build-fuzz/artifacts/).
say "fuzz targets (libFuzzer, 10 s each)"
if ! bash scripts/fuzz.sh --seconds 10; then
  status=1
fi
phase "fuzz (short)"

say "local stack (Kafka + PostgreSQL)"
bash deploy/local/stack.sh up
stack_env=$(bash deploy/local/stack.sh env)
eval "$stack_env"
export KAFKA_BROKERS DATABASE_URL TRACKER_TEST_DATABASE_URL TRACKER_PROMETHEUS_URL \
  TRACKER_PROMETHEUS_TARGETS
phase "stack up"

# A real Prometheus with the project's rules; the main job and the load scenarios register the
# services they start with it, and the queries of every rule are checked against what it saw.
say "Prometheus (local, loopback)"
bash deploy/local/stack.sh prometheus-start
phase "prometheus up"

# Leak checking stays on; librdkafka's and OpenSSL's process-lifetime allocations are not leaks
# of ours and are listed in the suppressions file.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
run_ctest() {
  local dir=$1 label=$2 title=$3
  say "$title"
  if ! ctest --test-dir "$dir" -L "$label" --output-on-failure --no-tests=error --timeout 300 \
    -j "$4"; then
    status=1
  fi
  phase "$title"
}
run_ctest build unit "unit tests (release)" 2

# The k6 scripts' signing, bodies and options, checked with node (k6 itself is not installed).
say "k6 script checks (node)"
if ! node loadtest/k6/test/run.mjs; then
  status=1
fi
phase "k6 script checks"
run_ctest build integration "integration tests (release)" 2

# The main job of scripts/run.sh, checked: one day through all five services to Slack.
say "main job (release)"
if ! python3 scripts/main_job.py --build build --check; then
  status=1
fi
phase "main job (release)"

# The report's load scenarios, shrunk to 2 % (rates and concurrency as in the full runs) and run
# at the same time; then the k6 scripts' functions against the same pipeline.
say "load scenarios SC1-SC4 at scale 0.02, and the k6 scripts' functions (release)"
if ! python3 loadtest/run_scenarios.py --build build --check --together --k6-check --scale 0.02 \
  --out "$root/.local/loadtest-ci" loadtest/scenarios/sc1.json loadtest/scenarios/sc1b.json \
  loadtest/scenarios/sc2.json loadtest/scenarios/sc3.json loadtest/scenarios/sc4.json; then
  status=1
fi
phase "load scenarios (release)"

# Two ingest replicas behind HAProxy under SC1 at 5 %, one SIGKILLed mid-run: every 200 is one
# row, and only requests the killed replica was serving may fail.
say "ingest replicas behind HAProxy, one killed (SC1 at scale 0.05)"
if ! python3 loadtest/replicas/run_replicas.py --build build --scale 0.05 --workers 2 \
  --out "$root/.local/replicas-ci"; then
  status=1
fi
phase "ingest replicas (release)"

say "every rule's and dashboard panel's query against what Prometheus scraped during the runs"
if ! python3 scripts/check_prometheus_queries.py \
  $(printf -- '--dashboard %s ' deploy/grafana/dashboards/*.json); then
  status=1
fi
phase "prometheus queries"
run_ctest build-asan unit "unit tests (asan)" 2
# One at a time under the sanitizers: two notifiers in a test must overlap in time
# (NotifierTest.TwoNotifiersTakingUpTheSameDeliveriesPostEachOnce), which a second test's load on
# two cores can prevent at ASan's speed.
run_ctest build-asan integration "integration tests (asan)" 1

# The ingest and worker integration tests again on a three-broker KRaft cluster beside the single
# broker (every topic with three replicas, min.insync.replicas=2); the tests that stop "the
# broker" stop and start all three nodes. The cluster is taken down afterwards.
say "integration tests of ingest and worker on three brokers (release)"
if bash deploy/local/stack.sh up --brokers 3; then
  if ! (eval "$(bash deploy/local/stack.sh env --brokers 3)" &&
    export KAFKA_BROKERS TRACKER_STACK_BROKERS &&
    ctest --test-dir build -L integration -R '^(Ingest|Worker)' --output-on-failure \
      --no-tests=error --timeout 300 -j2); then
    status=1
  fi
else
  status=1
fi
bash deploy/local/stack.sh down --brokers 3 || status=1
phase "integration, 3 brokers"

# The pipeline under faults on a three-broker stack of its own (loadtest/chaos/run_chaos.py
# --quick: services SIGKILLed, the partition leader SIGKILLed, PostgreSQL stopped): nothing
# acknowledged lost or doubled, no summary posted twice outside the notifier's documented window.
say "chaos, quick (a stack of its own, three brokers)"
if ! python3 loadtest/chaos/run_chaos.py --build build --quick --out "$root/.local/chaos-ci"; then
  status=1
fi
phase "chaos, quick"

# The images (podman; the base made with debootstrap) and the compose stack: Kafka, PostgreSQL,
# two ingest replicas behind HAProxy, two workers, two schedulers, summarizer, notifier,
# Prometheus; the main job through the proxy; then the stack is taken down.
say "container images (podman)"
if bash scripts/images.sh; then
  phase "container images"
  say "compose stack: the main job through the reverse proxy"
  if ! bash scripts/check-compose.sh --no-images; then
    status=1
  fi
  phase "compose stack"
else
  status=1
  phase "container images"
fi

say "timings"
printf '%s\n' "${timings[@]}"
printf '%-28s %5ds\n' "total" $((SECONDS - started))
if [[ $status -ne 0 ]]; then
  echo "FAILED: see the test output above" >&2
fi
exit $status
