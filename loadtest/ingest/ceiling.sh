#!/usr/bin/env bash
# The machine's ceiling: slack-load against hello-server (the smallest Beast server, which answers
# every request 200 at once) at 50, 1,000 and 5,000 keep-alive connections. A real service's
# numbers are read against these: the same client, the same requests, the same box.
#
#   loadtest/ingest/ceiling.sh [BUILD_DIR]     (default: build, relative to the repository root)
#
# Builds nothing: build first with
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C build slack-load hello-server
# Environment: HELLO_THREADS (server threads, default 1), SLACK_SIGNING_SECRET (random if unset;
# hello-server does not check signatures). Each run is bounded by --time-limit 120 and by
# `timeout`; the server is stopped on exit whatever happens. Writes
# loadtest/results/hello-ceiling.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${1:-build}
server_threads=${HELLO_THREADS:-1}
load_bin=$build/loadtest/slack-load
server_bin=$build/loadtest/hello-server
report=loadtest/results/hello-ceiling.md
time_limit=120
# connections:requests per run
runs=("50:20000" "1000:50000" "5000:50000")

for bin in "$load_bin" "$server_bin"; do
  if [[ ! -x $bin ]]; then
    echo "ceiling: $bin not found; build it first: ninja -C $build slack-load hello-server" >&2
    exit 2
  fi
done
if [[ -z ${SLACK_SIGNING_SECRET:-} ]]; then
  SLACK_SIGNING_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
fi
export SLACK_SIGNING_SECRET

# Scratch files live in the build tree, which belongs to whoever runs this.
work=$(mktemp -d "$build/loadtest/ceiling.XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$load_bin" --self-test

# --port 0: the kernel picks a free loopback port, which the server prints once it listens.
"$server_bin" --port 0 --threads "$server_threads" >"$work/server.out" 2>&1 &
server_pid=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.out" 2>/dev/null || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $port ]]; then
  echo "ceiling: hello-server did not start:" >&2
  cat "$work/server.out" >&2
  exit 1
fi
echo "hello-server (pid $server_pid, $server_threads thread(s)) on 127.0.0.1:$port"

ticks_per_s=$(getconf CLK_TCK)
# utime + stime of the server, in clock ticks (fields 14 and 15 of /proc/PID/stat).
server_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
# Busy time of the whole machine, in clock ticks: user nice system irq softirq steal. What
# neither slack-load nor the server used was taken by something else (a build, the local stack)
# and makes the run's numbers suspect.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# A number from slack-load's --json output; its keys are unique apart from the latency
# objects, of which the first (all requests) is the one wanted.
json_num() { sed -n "s/^ *\"$1\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$2" | head -n1; }

summary=()
sections=()
for run in "${runs[@]}"; do
  connections=${run%%:*}
  requests=${run##*:}
  label=hello-$connections
  cmd=("$load_bin" --target "127.0.0.1:$port" --connections "$connections" --requests "$requests"
    --time-limit "$time_limit" --label "$label")
  echo
  echo "\$ ${cmd[*]}"
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  before=$(server_ticks)
  machine_before=$(machine_ticks)
  started=$(date +%s%N)
  # timeout: a second bound in case the tool itself hung; its own limit ends it first.
  if ! timeout $((time_limit + 30)) "${cmd[@]}" --json "$work/$label.json" >"$work/$label.out"; then
    echo "ceiling: slack-load failed for $label" >&2
    cat "$work/$label.out" >&2
    exit 1
  fi
  after=$(server_ticks)
  machine_after=$(machine_ticks)
  ended=$(date +%s%N)
  cat "$work/$label.out"

  j=$work/$label.json
  summary+=("$(awk -v c="$connections" -v r="$requests" -v w=$((ended - started)) \
    -v tput="$(json_num throughput_rps "$j")" -v p99="$(json_num p99 "$j")" \
    -v err="$(json_num error_pct "$j")" -v inflight="$(json_num mean_in_flight "$j")" \
    -v cu="$(json_num cpu_user_s "$j")" -v cs="$(json_num cpu_system_s "$j")" \
    -v st=$((after - before)) -v mt=$((machine_after - machine_before)) -v hz="$ticks_per_s" \
    -v load="$load_before" \
    'BEGIN { s = w / 1e9; client = (cu + cs) / s * 100; server = st / hz / s * 100
             other = mt / hz / s * 100 - client - server; if (other < 0) other = 0
             printf "| %d | %d | %.0f | %.2f | %.2f %% | %.0f | %.0f %% | %.0f %% | %.0f %% | %s |",
                    c, r, tput, p99, err, inflight, client, server, other, load }')")
  sections+=("### $connections connections" "" '```sh' "${cmd[*]/#$build/\$BUILD}" '```' ""
    "$(sed -n '/^| Label/,$p' "$work/$label.out")" ""
    "server: CPU $(awk -v t=$((after - before)) -v hz="$ticks_per_s" 'BEGIN { printf "%.2f", t / hz }') s while slack-load ran ($(awk -v w=$((ended - started)) 'BEGIN { printf "%.2f", w / 1e9 }') s, connect phase included)" "")
done

kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=

mkdir -p "$(dirname "$report")"
{
  echo "# Ceiling of a Beast server on this machine (hello-server)"
  echo
  echo "How fast can a Boost.Beast HTTP/1.1 server on Asio coroutines answer on this box at all?"
  echo "\`hello-server\` answers every request \`200 {\"ok\":true}\` without other work; \`slack-load\`"
  echo "sends it the same signed Slack \`event_callback\` requests it sends the ingest service. A"
  echo "service's table is read against this one: what it loses here is its own cost."
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')),"
  echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); client and server on the"
  echo "same machine over loopback, sharing its cores. hello-server: $server_threads thread(s);"
  echo "slack-load: 1 thread. Build: \`$build\`. Measured $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo '```sh'
  echo "loadtest/ingest/ceiling.sh $build    # all of the below"
  echo "\$BUILD/loadtest/hello-server --port 0 --threads $server_threads"
  echo '```'
  echo
  echo "| connections | requests | requests/s | p99 ms | errors | mean in flight | client CPU | server CPU | other CPU | load avg before |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${summary[@]}"
  echo
  echo "CPU is user + system time divided by slack-load's wall time (start to exit, connect phase"
  echo "included), in % of one core: $(nproc) cores make $(($(nproc) * 100)) %. \"other\" is what the rest of the"
  echo "machine used meanwhile (the local stack, a build); more than a few % makes the run suspect,"
  echo "as does a 1-minute load average well above 0 before it. A one-thread process near 100 % is"
  echo "saturated and is the run's limit. \"mean in flight\" (sum of latencies / duration) shows"
  echo "whether the intended concurrency was reached."
  echo
  echo "## Runs"
  echo
  printf '%s\n' "${sections[@]}"
} >"$report"
echo
echo "report: $report"
