#!/usr/bin/env bash
# What tracker_worker_consumer_lag_messages says after a restart on a caught-up topic.
#   bash loadtest/restart_lag.sh [--events N] WORKER_BINARY...
# Sends N signed events (default 20,000) through ingest into a new 6-partition topic, lets the
# first WORKER_BINARY consume them all, stops it, then starts each WORKER_BINARY in turn on the
# same group and prints its lag gauge 5 s after the start and after 200 more events for one user,
# and at the end the group's committed lag as Kafka's ConsumerGroupCommand sees it. Needs the
# local stack (deploy/local/stack.sh up) and a build (build/). Everything it starts it stops;
# each wait is bounded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
events=20000
if [[ ${1:-} == --events ]]; then
  events=$2
  shift 2
fi
[[ $# -ge 1 ]] || { echo "usage: restart_lag.sh [--events N] WORKER_BINARY..." >&2; exit 2; }
((events > 0 && events <= 1000000)) || { echo "restart_lag: --events 1..1000000" >&2; exit 2; }
eval "$(bash deploy/local/stack.sh env)"
java_tool() {
  timeout 60 java -cp ".local/kafka/libs/*" \
    -Dlog4j2.configurationFile=deploy/local/tools-log4j2.properties "$@"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
topic=lagprobe$(date +%s)
schema=lagprobe
ingest_port=$(free_port) ingest_ops=$(free_port) worker_ops=$(free_port)
logs=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --create \
  --topic "$topic" --partitions 6 --replication-factor 1 >/dev/null
psql "$DATABASE_URL" -qc "drop schema if exists $schema cascade" >/dev/null 2>&1 || true

send() {  # events users
  env KAFKA_BROKERS="$KAFKA_BROKERS" SLACK_SIGNING_SECRET=restart-lag TRACKER_INGEST_TOPIC="$topic" \
    TRACKER_INGEST_ADDRESS=127.0.0.1 TRACKER_INGEST_PORT="$ingest_port" TRACKER_OPS_PORT="$ingest_ops" \
    TRACKER_LOG_LEVEL=warn build/services/ingest/ingest >>"$logs/ingest.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ingest_ops/readyz" >/dev/null && break; sleep 0.1; done
  SLACK_SIGNING_SECRET=restart-lag build/loadtest/slack-load --target "127.0.0.1:$ingest_port" \
    --requests "$1" --users "$2" --connections "$(( $1 < 50 ? 1 : 50 ))" >/dev/null
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
start_worker() {
  env KAFKA_BROKERS="$KAFKA_BROKERS" DATABASE_URL="$DATABASE_URL" TRACKER_DB_SCHEMA="$schema" \
    TRACKER_WORKER_TOPIC="$topic" TRACKER_WORKER_GROUP="$topic" TRACKER_OPS_PORT="$worker_ops" \
    TRACKER_LOG_LEVEL=warn "$1" >>"$logs/worker.log" 2>&1 &
  worker=$!
  pids+=("$worker")
}
stop_worker() {
  kill "$worker"
  wait "$worker" 2>/dev/null || true
}
metric() { curl -s "http://127.0.0.1:$worker_ops/metrics" | awk -v name="$1" '$1 ~ "^"name {s += $2; n++} END {printf "%d %d\n", s, n}'; }
lag() { read -r sum series < <(metric tracker_worker_consumer_lag_messages); echo "$sum over $series partitions"; }

send "$events" 200
echo "$events events on $topic"
start_worker "$1"
for _ in $(seq 240); do
  sleep 0.5
  read -r consumed _ < <(metric tracker_worker_events_consumed_total) || consumed=0
  ((consumed >= events)) && break
done
sleep 2
echo "first life ($1): consumed $consumed, lag $(lag)"
stop_worker
for binary in "$@"; do
  start_worker "$binary"
  sleep 5
  echo "restarted $binary: after 5 s lag $(lag)"
  send 200 1
  sleep 3
  echo "  200 more events for one user, 3 s later: lag $(lag)"
  stop_worker
done
committed=$(java_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
  --bootstrap-server "$KAFKA_BROKERS" --describe --group "$topic" 2>/dev/null |
  awk 'NR > 1 && $6 ~ /^[0-9]+$/ {s += $6} END {print s + 0}')
echo "the group's committed lag (ConsumerGroupCommand): $committed"
psql "$DATABASE_URL" -qc "drop schema if exists $schema cascade" >/dev/null 2>&1 || true
