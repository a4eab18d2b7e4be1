#!/usr/bin/env bash
# The compose stack of deploy/compose, end to end: makes the images (scripts/images.sh), writes
# deploy/compose/.env from env.example with fresh random secrets when there is none, brings the
# stack up with podman-compose, waits for the topics and the migrations, checks that HAProxy sees
# both ingest replicas and that Prometheus scrapes every replica with the project's rules loaded,
# runs the main job through the reverse proxy (scripts/main_job.py --compose --check), and takes
# the stack down again with its volumes (--keep leaves it running).
#
# Usage: scripts/check-compose.sh [--keep] [--no-images]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

keep=0
images=1
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    --no-images) images=0 ;;
    *) echo "check-compose: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { printf 'check-compose: %s\n' "$*" >&2; }
started=$SECONDS

if [[ $images -eq 1 ]]; then
  bash scripts/images.sh
fi
export CONTAINERS_CONF=$root/deploy/container/containers.conf

env_file=$root/deploy/compose/.env
if [[ ! -f $env_file ]]; then
  log "writing $env_file with new random secrets (from env.example)"
  umask 077
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Z_]+)=(.*change-me.*)$ ]]; then
      secret=$(openssl rand -hex 24)
      [[ ${BASH_REMATCH[1]} == SLACK_BOT_TOKEN ]] && secret=xoxb-$secret
      [[ ${BASH_REMATCH[1]} == OPENAI_API_KEY ]] && secret=sk-$secret
      [[ ${BASH_REMATCH[1]} == TRACKER_TOKEN_ENCRYPTION_KEY ]] && secret=k1:$(openssl rand -base64 32)
      printf '%s=%s\n' "${BASH_REMATCH[1]}" "$secret"
    else
      printf '%s\n' "$line"
    fi
  done <deploy/compose/env.example >"$env_file"
fi
setting() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }

project=study-tracker
compose() { (cd deploy/compose && podman-compose -p "$project" "$@"); }

show_logs() {
  local container
  for container in $(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'); do
    printf '\n--- %s (%s)\n' "$container" "$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$container")" >&2
    podman logs --tail 25 "$container" 2>&1 | cut -c1-300 >&2 || true
  done
}
finish() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    log "failed; the stack's containers:"
    show_logs
  fi
  if [[ $keep -eq 0 ]]; then
    log "taking the stack down (podman-compose down, volumes removed)"
    compose down -v >/dev/null 2>&1 || true
    podman volume rm -f "${project}_pgdata" "${project}_kafkadata" "${project}_promdata" >/dev/null 2>&1 || true
  fi
  log "done in $((SECONDS - started)) s (status $status)"
}
trap finish EXIT

# A stack left from an earlier run starts again from empty volumes.
compose down -v >/dev/null 2>&1 || true
log "podman-compose up -d"
up_started=$SECONDS
compose up -d >/dev/null

# The one-shot jobs: topics, then migrations, each must exit 0.
wait_job() {
  local container=${project}_$1_1 deadline=$((SECONDS + $2)) state
  while :; do
    state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$container" 2>/dev/null || echo missing)
    case $state in
      "exited 0") log "$1 done"; return 0 ;;
      exited*) log "$1 failed ($state)"; podman logs --tail 40 "$container" >&2; return 1 ;;
    esac
    ((SECONDS < deadline)) || { log "$1 not done within $2 s ($state)"; return 1; }
    sleep 2
  done
}
wait_job kafka-topics 180
wait_job migrate 180

# HAProxy: both ingest replicas up (its health checks ask each one's /readyz).
stats_port=$(setting TRACKER_COMPOSE_PROXY_STATS_PORT)
deadline=$((SECONDS + 120))
until [[ $(curl -fsS "http://127.0.0.1:${stats_port:-28404}/stats;csv" 2>/dev/null |
  awk -F, '$1 == "ingest" && ($2 == "ingest-1" || $2 == "ingest-2") && $18 == "UP"' | wc -l) -eq 2 ]]; do
  ((SECONDS < deadline)) || { log "HAProxy does not see both ingest replicas up"; exit 1; }
  sleep 2
done
log "HAProxy: ingest-1 and ingest-2 up; stack up in $((SECONDS - up_started)) s"

python3 scripts/main_job.py --compose "$env_file" --check

# Prometheus: every replica scraped and up, the project's rules loaded.
prom_port=$(setting TRACKER_COMPOSE_PROMETHEUS_PORT)
python3 - "${prom_port:-29090}" <<'PY'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1"
def get(path):
    with urllib.request.urlopen(base + path, timeout=5) as response:
        return json.load(response)["data"]
deadline = time.monotonic() + 90
while True:
    targets = get("/targets")["activeTargets"]
    down = [f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}"
            for t in targets if t["health"] != "up"]
    if targets and not down:
        break
    if time.monotonic() > deadline:
        sys.exit("check-compose: Prometheus targets not up:\n  " + "\n  ".join(down or ["none"]))
    time.sleep(3)
groups = get("/rules")["groups"]
alerts = sum(1 for g in groups for r in g["rules"] if r["type"] == "alerting")
records = sum(1 for g in groups for r in g["rules"] if r["type"] == "recording")
if not alerts or not records:
    sys.exit(f"check-compose: Prometheus loaded {alerts} alerts and {records} recording rules")
print(f"check-compose: Prometheus scrapes {len(targets)} targets, all up; "
      f"{alerts} alerts and {records} recording rules loaded", file=sys.stderr)
PY
