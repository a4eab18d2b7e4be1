#!/usr/bin/env bash
# ingest against the machine's ceiling, in one run: for 50, 1,000 and 5,000 keep-alive
# connections, slack-load sends the same Slack-signed event_callback requests first to
# hello-server (a Beast server that answers 200 at once) and then to the ingest service, which
# answers only after the real local Kafka broker acknowledged each event (acks=all). Loopback
# only; every run is bounded in count and time; the servers are stopped on exit.
#
#   loadtest/ingest/ingest-bench.sh [BUILD_DIR]   (default build; needs slack-load,
#                                                   hello-server and ingest built there)
# The local stack must be up (deploy/local/stack.sh up). TRACKER_IO_THREADS (default 1) sets
# ingest's event-loop threads. Writes loadtest/results/ingest-io<threads>.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${1:-build}
load=$build/loadtest/slack-load
hello=$build/loadtest/hello-server
ingest=$build/services/ingest/ingest
for bin in "$load" "$hello" "$ingest"; do
  [[ -x $bin ]] || { echo "ingest-bench: $bin not built" >&2; exit 2; }
done
stack_env=$(bash deploy/local/stack.sh env)
eval "$stack_env"
export KAFKA_BROKERS
SLACK_SIGNING_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export SLACK_SIGNING_SECRET
ulimit -n "$(ulimit -Hn)"
io_threads=${TRACKER_IO_THREADS:-1}
export TRACKER_IO_THREADS=$io_threads
report=loadtest/results/ingest-io$io_threads.md

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ingest-bench: nothing listening on $1" >&2
  return 1
}

hello_port=$(free_port)
"$hello" --port "$hello_port" --threads 1 >"$work/hello.log" 2>&1 &
pids+=($!)
ingest_port=$(free_port)
ops_port=$(free_port)
TRACKER_INGEST_ADDRESS=127.0.0.1 TRACKER_INGEST_PORT=$ingest_port TRACKER_OPS_PORT=$ops_port \
  TRACKER_LOG_LEVEL=warn "$ingest" 2>"$work/ingest.log" &
pids+=($!)
wait_port "$hello_port"
wait_port "$ingest_port"

runs=("50:20000" "1000:50000" "5000:50000")
tables=""
summary="| connections | requests | hello req/s | ingest req/s | ingest ÷ ceiling | hello p99 ms | ingest p99 ms | ingest errors | ingest RSS after MiB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for run in "${runs[@]}"; do
  connections=${run%%:*}
  requests=${run##*:}
  for target in hello ingest; do
    port=$hello_port
    [[ $target == ingest ]] && port=$ingest_port
    echo "== $target, $connections connections, $requests requests" >&2
    timeout 200 "$load" --target "127.0.0.1:$port" --connections "$connections" \
      --requests "$requests" --time-limit 120 --label "$target-$connections" \
      --json "$work/$target-$connections.json" >"$work/$target-$connections.txt"
    tables+=$'\n'"### $target, $connections connections"$'\n\n```sh\n'
    tables+="build/loadtest/slack-load --target 127.0.0.1:$port --connections $connections --requests $requests --time-limit 120 --label $target-$connections"
    tables+=$'\n```\n\n'"$(cat "$work/$target-$connections.txt")"$'\n'
  done
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/${pids[1]}/status")
  summary+=$'\n'$(python3 - "$work/hello-$connections.json" "$work/ingest-$connections.json" "$connections" "$requests" "$rss" <<'PY'
import json, sys
h = json.load(open(sys.argv[1])); i = json.load(open(sys.argv[2]))
p99 = lambda d: d["latency_ms"]["p99"] if isinstance(d["latency_ms"], dict) else float("nan")
print(f"| {sys.argv[3]} | {sys.argv[4]} | {h['throughput_rps']:.0f} | {i['throughput_rps']:.0f} | "
      f"{i['throughput_rps'] / h['throughput_rps']:.2f} | {p99(h):.2f} | {p99(i):.2f} | "
      f"{i['error_pct']:.2f} % | {sys.argv[5]} |")
PY
)
done

metrics=$(curl -s "http://127.0.0.1:$ops_port/metrics" | grep -E '^tracker_ingest_publish_total|^process_resident_memory_bytes|^tracker_http_connections_refused_total' || true)
{
  echo "# ingest against the machine's ceiling"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; client,"
  echo "servers and the Kafka broker (KRaft, one node, local stack) share the machine over loopback."
  echo "ingest: $io_threads io thread(s), publish deadline 2 s, acks=all; hello-server: 1 thread."
  echo
  echo '```sh'
  echo "TRACKER_IO_THREADS=$io_threads loadtest/ingest/ingest-bench.sh $build"
  echo '```'
  echo
  echo "$summary"
  echo
  echo "ingest's own counters after the runs:"
  echo
  echo '```'
  echo "$metrics"
  echo '```'
  echo
  echo "## Runs"
  echo "$tables"
} >"$report"
echo "$summary"
