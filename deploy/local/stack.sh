#!/usr/bin/env bash
# Local development stack of the study tracker: a single-node Kafka (KRaft,
# broker + controller in one JVM) and a PostgreSQL 15 server, both bound to
# 127.0.0.1 only; with --brokers 3, a three-node Kafka cluster beside them.
# State lives in <project>/.local/ (git ignores it), or in TRACKER_STACK_DIR.
#
# Usage: deploy/local/stack.sh <command> [--brokers 1|3] [options]
#   up              start both servers (idempotent), create missing topics,
#                   the tracker role and the tracker / tracker_test databases
#   down [--purge]  stop both servers; --purge also deletes their data
#   status          tell whether each server is running (exit 0 if both are)
#   env             print export lines: eval "$(deploy/local/stack.sh env)"
#   logs [kafka|postgresql] [-f] [-n N]
#                   show (or follow) the server logs
#   kafka-stop      stop only the broker (for tests of broker outages)
#   kafka-start     start only the broker again and wait until it answers
#   pg-stop         stop only PostgreSQL (for tests of database outages)
#   pg-start        start only PostgreSQL again and wait until it answers
#   prometheus-start  start a Prometheus (Debian's) on loopback with the rules of
#                   deploy/prometheus/, scraping the targets that runs register as
#                   files in .local/prometheus/targets/ (see `env`); waits until ready
#   prometheus-stop stop it (down stops it too)
#   topic-create NAME PARTITIONS   a topic of one's own (benchmarks), like the project's
#   topic-delete NAME              and gone again
#
# The three-node cluster (--brokers 3; the default is TRACKER_STACK_BROKERS, else 1):
#   up --brokers 3      PostgreSQL as `up` does, and the three nodes; creates the topics
#                       with 3 replicas (min.insync.replicas=2), waits until all are in sync
#   down --brokers 3 [--purge]   stop only the cluster; --purge deletes its data
#   status --brokers 3, env --brokers 3, logs kafka --broker N
#   kafka-kill --broker N        SIGKILL node N (1-3), returns at once
#   kafka-stop --broker N        SIGTERM node N and wait until it is gone
#   kafka-start --broker N       start node N again, wait until it answers and is
#                                back in the ISR of its partitions
#   kafka-kill|kafka-stop|kafka-start --brokers 3 [--all]   every node at once
#   cluster-leader TOPIC PARTITION   the node (1-3) leading that partition
#   topic-create NAME PARTITIONS --brokers 3, topic-delete NAME --brokers 3
#   (kafka-kill without --brokers 3 SIGKILLs the single broker)
#
# Environment: TRACKER_KAFKA_PORT (19092), TRACKER_KAFKA_CONTROLLER_PORT
# (19093), TRACKER_PG_PORT (15432), TRACKER_PROMETHEUS_PORT (19090),
# TRACKER_PROMETHEUS_SCRAPE_INTERVAL (2s), TRACKER_KAFKA_HEAP_OPTS
# ("-Xms256m -Xmx512m"), TRACKER_KAFKA_JVM_OPTS (extra broker JVM options),
# TRACKER_PG_BIN (/usr/lib/postgresql/15/bin), TRACKER_STACK_DIR (<project>/.local),
# TRACKER_KAFKA_CLUSTER_PORT (19192: node N listens on it + N - 1),
# TRACKER_KAFKA_CLUSTER_CONTROLLER_PORT (19292, likewise),
# TRACKER_KAFKA_CLUSTER_HEAP_OPTS ("-Xms128m -Xmx384m" per node),
# TRACKER_KAFKA_CLUSTER_JVM_OPTS ("-XX:TieredStopAtLevel=1"), TRACKER_STACK_BROKERS.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd -P)
DEFAULT_STATE=$ROOT/.local
# A second, isolated stack (fault tests) lives in a directory of its own, on ports of its own.
STATE=$(realpath -m "${TRACKER_STACK_DIR:-$DEFAULT_STATE}")

HOST=127.0.0.1
KAFKA_PORT=${TRACKER_KAFKA_PORT:-19092}
CONTROLLER_PORT=${TRACKER_KAFKA_CONTROLLER_PORT:-19093}
PG_PORT=${TRACKER_PG_PORT:-15432}
PROM_PORT=${TRACKER_PROMETHEUS_PORT:-19090}
PROM_SCRAPE_INTERVAL=${TRACKER_PROMETHEUS_SCRAPE_INTERVAL:-2s}

KAFKA_WAIT_S=90
KAFKA_STOP_WAIT_S=30
PG_WAIT_S=60

POM=$SCRIPT_DIR/pom.xml
KAFKA_TEMPLATE=$SCRIPT_DIR/server.properties.in
KAFKA_LOG4J=$SCRIPT_DIR/log4j2.properties
TOOLS_LOG4J=$SCRIPT_DIR/tools-log4j2.properties
TOPICS_FILE=$ROOT/schemas/topics.json

KAFKA_HOME=$STATE/kafka
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_DATA=$KAFKA_HOME/data
KAFKA_LOGS=$KAFKA_HOME/logs
KAFKA_PROPS=$KAFKA_HOME/server.properties
KAFKA_ADMIN_PROPS=$KAFKA_HOME/admin.properties
KAFKA_PID_FILE=$KAFKA_HOME/kafka.pid
KAFKA_CLUSTER_ID_FILE=$KAFKA_HOME/cluster-id
KAFKA_TOPICS_SNAPSHOT=$KAFKA_HOME/topics.describe
KAFKA_HEAP_OPTS=${TRACKER_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
KAFKA_JVM_OPTS=${TRACKER_KAFKA_JVM_OPTS:-}
# The names below change when a command acts on a node of the cluster (kafka-cluster.sh).
KAFKA_NAME=kafka
KAFKA_PORT_VARS='TRACKER_KAFKA_PORT / TRACKER_KAFKA_CONTROLLER_PORT'
KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
TOPIC_REPLICAS=1
TOPIC_CONFIG=()

PROM_HOME=$STATE/prometheus
PROM_DATA=$PROM_HOME/data
PROM_TARGETS=$PROM_HOME/targets
PROM_CONFIG=$PROM_HOME/prometheus.yml
PROM_PID_FILE=$PROM_HOME/prometheus.pid
PROM_LOG=$PROM_HOME/prometheus.log
PROM_WAIT_S=30

PG_BIN=${TRACKER_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DATADIR_RECORD=$STATE/pg-datadir
PG_USER=tracker
PG_PASSWORD=tracker
PG_DATABASES=(tracker tracker_test)

for port in "$KAFKA_PORT" "$CONTROLLER_PORT" "$PG_PORT"; do
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    printf 'stack: invalid port %s (TRACKER_KAFKA_PORT, TRACKER_KAFKA_CONTROLLER_PORT, TRACKER_PG_PORT)\n' "$port" >&2
    exit 2
  fi
done
if [[ $KAFKA_PORT == "$CONTROLLER_PORT" ]]; then
  printf 'stack: the Kafka broker and controller ports must differ\n' >&2
  exit 2
fi

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
else
  JAVA=java
fi

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# True while process $1 exists and is not a zombie.
pid_alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }  # fields after "pid (comm) ", the first is the state
  [[ ${stat:0:1} != Z ]]
}

# Names this stack in paths outside it: the project's path for the default stack, the state
# directory's for a relocated one.
root_hash() {
  if [[ $STATE == "$DEFAULT_STATE" ]]; then
    printf '%s' "$ROOT" | sha256sum | cut -c1-12
  else
    printf '%s' "$STATE" | sha256sum | cut -c1-12
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Who listens on port $1, for error messages.
port_owner() {
  local owner=''
  if command -v ss >/dev/null 2>&1; then
    owner=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)
  fi
  printf '%s' "${owner:-unknown process}"
}

show_log_tail() { # <file> [lines]
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    log "last $lines lines of $file:"
    tail -n "$lines" "$file" >&2
  else
    log "log file $file is empty or missing"
  fi
}

# ---------------------------------------------------------------------------
# Kafka

require_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found; run scripts/install-deps.sh"
}

# Resolves the broker's jars into .local/kafka/libs once per pom checksum.
ensure_kafka_jars() {
  local sum stamp=$KAFKA_LIBS/.pom.sha256 tmp mvn_log
  sum=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$sum" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  mkdir -p "$KAFKA_HOME" "$KAFKA_LOGS"
  tmp=$KAFKA_HOME/libs.new
  # A relocated stack (TRACKER_STACK_DIR) takes the project's jars when they are current.
  local project_libs=$DEFAULT_STATE/kafka/libs
  if [[ $KAFKA_LIBS != "$project_libs" && -f $project_libs/.pom.sha256 &&
    $(<"$project_libs/.pom.sha256") == "$sum" ]]; then
    rm -rf "$tmp"
    if cp -al "$project_libs" "$tmp" 2>/dev/null || cp -a "$project_libs" "$tmp"; then
      rm -rf "$KAFKA_LIBS"
      mv "$tmp" "$KAFKA_LIBS"
      return 0
    fi
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; run scripts/install-deps.sh"
  mvn_log=$KAFKA_LOGS/mvn.log
  rm -rf "$tmp"
  log "resolving Kafka jars with Maven (first run only)"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    show_log_tail "$mvn_log"
    die "kafka: could not resolve the broker jars (mvn failed, see $mvn_log)"
  fi
  printf '%s\n' "$sum" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

# Runs a short-lived Kafka tool class on the broker's classpath, bounded by
# $KAFKA_TOOL_TIMEOUT seconds.
KAFKA_TOOL_TIMEOUT=60
kafka_tool() {
  timeout "$KAFKA_TOOL_TIMEOUT" "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$TOOLS_LOG4J" \
    -cp "$KAFKA_LIBS/*" "$@"
}

topic_command() {
  kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$KAFKA_ADMIN_PROPS" "$@"
}

config_command() {
  kafka_tool kafka.admin.ConfigCommand \
    --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$KAFKA_ADMIN_PROPS" "$@"
}

# Renders server.properties from the template. A running broker keeps the
# file it was started with; if that differs (other ports), it must be
# stopped first.
render_kafka_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
      "$KAFKA_TEMPLATE" >"$KAFKA_PROPS.tmp"
  if [[ -f $KAFKA_PROPS ]] && ! cmp -s "$KAFKA_PROPS.tmp" "$KAFKA_PROPS" && kafka_pid >/dev/null; then
    rm -f "$KAFKA_PROPS.tmp"
    die "kafka: the running broker uses another configuration (ports?); run 'stack.sh kafka-stop' first"
  fi
  mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
  cat >"$KAFKA_ADMIN_PROPS" <<EOF
# Admin client settings of the tools run by deploy/local/stack.sh.
request.timeout.ms=5000
default.api.timeout.ms=10000
reconnect.backoff.max.ms=1000
EOF
}

# Formats the data directory once; the cluster id is generated once and kept.
format_kafka_storage() {
  local cluster_id out
  if [[ -f $KAFKA_DATA/meta.properties ]]; then
    if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
      sed -n 's/^cluster\.id=//p' "$KAFKA_DATA/meta.properties" >"$KAFKA_CLUSTER_ID_FILE"
    fi
    return 0
  fi
  if [[ -s $KAFKA_CLUSTER_ID_FILE ]]; then
    cluster_id=$(<"$KAFKA_CLUSTER_ID_FILE")
  else
    cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid) \
      || die "kafka: could not generate a cluster id"
    printf '%s\n' "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  log "formatting Kafka storage in $KAFKA_DATA (cluster id $cluster_id)"
  if ! out=$(kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" 2>&1); then
    printf '%s\n' "$out" >&2
    die "kafka: formatting the storage failed"
  fi
}

# True when pid $1 is a JVM running kafka.Kafka with this project's config.
is_our_kafka() {
  local -a args
  [[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
  mapfile -d '' args <"/proc/$1/cmdline" 2>/dev/null || return 1
  ((${#args[@]} >= 3)) || return 1
  [[ ${args[0]##*/} == java && ${args[-2]} == kafka.Kafka && ${args[-1]} == "$KAFKA_PROPS" ]]
}

# Prints the broker's pid, if it runs; repairs a stale or missing pid file.
kafka_pid() {
  local pid='' p cmd
  [[ -f $KAFKA_PID_FILE ]] && pid=$(<"$KAFKA_PID_FILE")
  if is_our_kafka "$pid"; then
    printf '%s\n' "$pid"
    return 0
  fi
  # Pid file missing or stale: look for a broker started with our config file.
  for cmd in /proc/[0-9]*/cmdline; do
    p=${cmd#/proc/}
    p=${p%/cmdline}
    if is_our_kafka "$p"; then
      printf '%s\n' "$p" >"$KAFKA_PID_FILE"
      printf '%s\n' "$p"
      return 0
    fi
  done
  rm -f "$KAFKA_PID_FILE"
  return 1
}

# One admin call: describes the topics into $KAFKA_TOPICS_SNAPSHOT. Succeeds
# only when the broker answers metadata requests.
kafka_answers() {
  local KAFKA_TOOL_TIMEOUT=${1:-30}
  port_open "$KAFKA_PORT" || return 1
  topic_command --describe --exclude-internal \
    >"$KAFKA_TOPICS_SNAPSHOT.tmp" 2>"$KAFKA_HOME/topics.err" || return 1
  mv "$KAFKA_TOPICS_SNAPSHOT.tmp" "$KAFKA_TOPICS_SNAPSHOT"
}

wait_kafka() { # <pid>
  local pid=$1 deadline=$((SECONDS + KAFKA_WAIT_S)) left
  while :; do
    if ! pid_alive "$pid"; then
      log "kafka: the broker exited during startup"
      kafka_failure_logs
      die "kafka failed to start"
    fi
    left=$((deadline - SECONDS))
    if ((left <= 0)); then
      log "kafka: no answer on $HOST:$KAFKA_PORT within ${KAFKA_WAIT_S}s"
      kafka_failure_logs
      die "kafka failed to start"
    fi
    if ! port_open "$KAFKA_PORT"; then
      sleep 0.25
      continue
    fi
    if kafka_answers "$((left < 20 ? left : 20))"; then
      return 0
    fi
    sleep 1
  done
}

# Shows what the broker logged since it was launched (server.log lines past
# the mark taken at launch, and the JVM's own output).
kafka_failure_logs() {
  local log=$KAFKA_LOGS/server.log mark=0 total=0
  [[ -f $KAFKA_HOME/server.log.mark ]] && mark=$(<"$KAFKA_HOME/server.log.mark")
  [[ -f $log ]] && total=$(wc -l <"$log")
  ((total >= mark)) || mark=0
  if ((total > mark)); then
    log "last lines of $log:"
    tail -n +"$((mark + 1))" "$log" | tail -n 40 >&2
  else
    log "nothing new in $log"
  fi
  if [[ -s $KAFKA_LOGS/kafka.out ]]; then
    show_log_tail "$KAFKA_LOGS/kafka.out" 20
  fi
}

# Starts the broker in the background (no wait); prints its pid.
launch_kafka() {
  local port pid_tmp=$KAFKA_PID_FILE.new pid='' i
  for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "$KAFKA_NAME: port $HOST:$port is already in use by another process ($(port_owner "$port")); stop it or set $KAFKA_PORT_VARS"
    fi
  done
  format_kafka_storage
  rm -f "$pid_tmp"
  local -a jvm_opts
  # shellcheck disable=SC2206 # word splitting of the option strings is wanted
  jvm_opts=($KAFKA_HEAP_OPTS
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1
    "-Xlog:gc*:file=$KAFKA_LOGS/gc.log:time,tags:filecount=3,filesize=10M"
    -Djava.awt.headless=true
    "-Dkafka.logs.dir=$KAFKA_LOGS"
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J"
    $KAFKA_JVM_OPTS)
  : >"$KAFKA_LOGS/kafka.out"
  if [[ -f $KAFKA_LOGS/server.log ]]; then
    wc -l <"$KAFKA_LOGS/server.log" >"$KAFKA_HOME/server.log.mark"
  else
    echo 0 >"$KAFKA_HOME/server.log.mark"
  fi
  # A session of its own, so the broker outlives the calling shell and is not
  # hit by signals sent to the caller's process group; the inner shell records
  # its pid and becomes the JVM. No descriptor of the caller stays open in it.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; cd / || exit 1; exec nohup "$@"' _ "$pid_tmp" \
    "$JAVA" "${jvm_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
    >>"$KAFKA_LOGS/kafka.out" 2>&1 </dev/null 8>&- 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pid_tmp ]] && pid=$(<"$pid_tmp") && [[ -n $pid ]] && break
    sleep 0.1
  done
  [[ -n $pid ]] || die "$KAFKA_NAME: the broker process did not start"
  mv "$pid_tmp" "$KAFKA_PID_FILE"
  printf '%s\n' "$pid"
}

# Starts the broker if needed and waits until it answers.
kafka_start() {
  local pid
  require_java
  ensure_kafka_jars
  render_kafka_config
  if pid=$(kafka_pid); then
    wait_kafka "$pid"
    log "kafka: already running (pid $pid) on $HOST:$KAFKA_PORT"
    return 0
  fi
  pid=$(launch_kafka)
  log "kafka: starting (pid $pid)"
  wait_kafka "$pid"
  log "kafka: ready on $HOST:$KAFKA_PORT"
}

kafka_stop() {
  local pid deadline
  if ! pid=$(kafka_pid); then
    log "$KAFKA_NAME: not running"
    return 0
  fi
  log "$KAFKA_NAME: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + KAFKA_STOP_WAIT_S))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if pid_alive "$pid"; then
    log "$KAFKA_NAME: no clean shutdown within ${KAFKA_STOP_WAIT_S}s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$KAFKA_PID_FILE"
  log "$KAFKA_NAME: stopped"
}

# Compares schemas/topics.json with the describe snapshot; prints one line per
# action: create|alter|config|note <TAB> name-or-message <TAB> partitions <TAB> retention.ms
# <TAB> max.message.bytes, with '-' for a field that does not apply (read splits on tabs and
# would merge empty fields).
topics_plan() {
  python3 - "$TOPICS_FILE" "$KAFKA_TOPICS_SNAPSHOT" <<'PY'
import json, re, sys

spec_path, describe_path = sys.argv[1], sys.argv[2]
try:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    topics = [(t["name"], int(t["partitions"]), int(t["retention_ms"]), int(t["max_message_bytes"]))
              for t in spec["topics"]]
except (OSError, ValueError, KeyError, TypeError) as e:
    sys.exit(f"{spec_path}: {type(e).__name__}: {e}")

existing = {}
try:
    with open(describe_path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("Topic:") or "PartitionCount:" not in line:
                continue
            name = re.search(r"^Topic:\s*(\S+)", line).group(1)
            count = int(re.search(r"PartitionCount:\s*(\d+)", line).group(1))
            conf = re.search(r"Configs:\s*(\S*)", line)
            configs = dict(kv.split("=", 1) for kv in (conf.group(1) if conf else "").split(",") if "=" in kv)
            existing[name] = (count, configs)
except FileNotFoundError:
    pass

for name, partitions, retention, max_bytes in topics:
    if not name or partitions < 1:
        sys.exit(f"{spec_path}: invalid topic entry {name!r} with {partitions} partitions")
    if name not in existing:
        print(f"create\t{name}\t{partitions}\t{retention}\t{max_bytes}")
        continue
    count, configs = existing[name]
    if count < partitions:
        print(f"alter\t{name}\t{partitions}\t-\t-")
    elif count > partitions:
        print(f"note\ttopic {name} has {count} partitions, more than the {partitions} in topics.json (left as is)\t-\t-\t-")
    current = configs.get("retention.ms")
    if current is not None and int(current) != retention:
        print(f"note\ttopic {name} has retention.ms={current}, topics.json says {retention} (left as is)\t-\t-\t-")
    # The record limit is one number end to end (libs/kafka/include/tracker/kafka/limits.hpp):
    # a topic created before it was set is brought in line.
    if configs.get("max.message.bytes") != str(max_bytes):
        print(f"config\t{name}\t-\t-\t{max_bytes}")
PY
}

# Creates the topics of schemas/topics.json that are missing and raises
# partition counts that are lower than the file says. Nothing is deleted.
# Reads the describe snapshot taken by the last readiness check.
ensure_topics() {
  local action name partitions retention max_bytes created=0 changed=0 plan
  [[ -f $TOPICS_FILE ]] || die "kafka: $TOPICS_FILE not found"
  command -v python3 >/dev/null 2>&1 || die "python3 not found; run scripts/install-deps.sh"
  plan=$(topics_plan) || die "kafka: cannot read the topic list $TOPICS_FILE"
  while IFS=$'\t' read -r action name partitions retention max_bytes; do
    [[ -n $action ]] || continue
    case $action in
      create)
        log "kafka: creating topic $name ($partitions partitions, retention.ms=$retention, max.message.bytes=$max_bytes)"
        topic_command --create --if-not-exists --topic "$name" \
          --partitions "$partitions" --replication-factor "$TOPIC_REPLICAS" "${TOPIC_CONFIG[@]}" \
          --config "retention.ms=$retention" --config "max.message.bytes=$max_bytes" \
          </dev/null >/dev/null \
          || die "kafka: could not create topic $name"
        created=$((created + 1))
        ;;
      config)
        log "kafka: setting max.message.bytes=$max_bytes on $name"
        config_command --alter --entity-type topics --entity-name "$name" \
          --add-config "max.message.bytes=$max_bytes" </dev/null >/dev/null \
          || die "kafka: could not set max.message.bytes on topic $name"
        changed=$((changed + 1))
        ;;
      alter)
        log "kafka: raising partitions of $name to $partitions"
        topic_command --alter --topic "$name" --partitions "$partitions" </dev/null >/dev/null \
          || die "kafka: could not alter topic $name"
        changed=$((changed + 1))
        ;;
      note)
        log "kafka: $name"
        ;;
    esac
  done <<<"$plan"
  if ((created + changed > 0)); then
    log "kafka: topics ready ($created created, $changed altered)"
  else
    log "kafka: topics ready"
  fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

# The data directory must be reachable by the postgres user when the script
# runs as root (the project may sit in a directory only root can enter), so
# it then lives under /var/tmp; otherwise under .local/pg.
pg_default_datadir() {
  if is_root; then
    printf '/var/tmp/study-tracker/%s-%s/pgdata\n' "$(root_hash)" "$PG_PORT"
  else
    printf '%s/pg/data\n' "$STATE"
  fi
}

# The recorded data directory of this project (written by `up`), or the default.
pg_datadir() {
  local recorded=''
  [[ -f $PG_DATADIR_RECORD ]] && recorded=$(<"$PG_DATADIR_RECORD")
  # A record copied along with the tree from another checkout is ignored.
  if [[ -n $recorded && ( $recorded == "/var/tmp/study-tracker/$(root_hash)-"* || $recorded == "$STATE/"* ) ]]; then
    printf '%s\n' "$recorded"
  else
    pg_default_datadir
  fi
}

# Unix socket directory: beside the data directory unless that path is too
# long for a socket name (108 bytes), then under /tmp.
pg_socket_dir() { # <datadir>
  local dir
  dir=$(dirname "$1")
  if ((${#dir} > 80)); then
    dir=${TMPDIR:-/tmp}/study-tracker-$(id -u)-$(root_hash)
  fi
  printf '%s\n' "$dir"
}

pg_logfile() { printf '%s/postgresql.log\n' "$(dirname "$1")"; }

# Runs a PostgreSQL server command as the postgres user when root.
run_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

require_pg() {
  [[ -x $PG_BIN/pg_ctl ]] || die "postgresql: $PG_BIN/pg_ctl not found; run scripts/install-deps.sh"
  if is_root && ! id postgres >/dev/null 2>&1; then
    die "postgresql: user postgres does not exist; run scripts/install-deps.sh"
  fi
}

pg_is_running() { # <datadir>
  [[ -f $1/PG_VERSION ]] || return 1
  run_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# Port the running server of <datadir> listens on (from postmaster.pid).
pg_running_port() { sed -n '4p' "$1/postmaster.pid" 2>/dev/null; }

pg_make_dir() { # <dir> owned by the server's user, mode 0700
  mkdir -p "$1"
  if is_root; then
    chown postgres:postgres "$1"
  fi
  chmod 0700 "$1"
}

pg_init() { # <datadir>
  local datadir=$1 locale=C out
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
    locale=C.UTF-8
  fi
  if is_root; then
    mkdir -p /var/tmp/study-tracker
    chmod 0755 /var/tmp/study-tracker
  fi
  pg_make_dir "$(dirname "$datadir")"
  log "postgresql: initializing $datadir"
  if ! out=$(run_pg "$PG_BIN/initdb" -D "$datadir" -U postgres \
      --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale="$locale" 2>&1); then
    printf '%s\n' "$out" >&2
    die "postgresql: initdb failed"
  fi
  printf "\ninclude_if_exists = 'tracker.conf'\n" >>"$datadir/postgresql.conf"
}

# Settings written before every start, so port changes take effect.
pg_write_conf() { # <datadir> <socketdir>
  cat >"$1/tracker.conf" <<EOF
# Written by deploy/local/stack.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$2'
max_connections = 200
shared_buffers = 128MB
EOF
  if is_root; then
    chown postgres:postgres "$1/tracker.conf"
  fi
}

pg_psql() { # <socketdir> [psql args]
  local sock=$1
  shift
  "$PG_BIN/psql" -X -q -h "$sock" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

pg_provision() { # <socketdir>
  local out sql db
  sql="SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$PG_USER', '$PG_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')\\gexec
"
  for db in "${PG_DATABASES[@]}"; do
    sql+="SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec
"
  done
  if ! out=$(pg_psql "$1" 2>&1 <<<"$sql"); then
    printf '%s\n' "$out" >&2
    die "postgresql: could not create the $PG_USER role and databases"
  fi
}

# Fails early when the PostgreSQL port is held by a server that is not ours.
pg_preflight() {
  require_pg
  if ! pg_is_running "$(pg_default_datadir)" && port_open "$PG_PORT"; then
    die "postgresql: port $HOST:$PG_PORT is already in use by another process ($(port_owner "$PG_PORT")); stop it or set TRACKER_PG_PORT"
  fi
}

pg_start() {
  local datadir sock logfile port deadline
  require_pg
  datadir=$(pg_default_datadir)
  sock=$(pg_socket_dir "$datadir")
  logfile=$(pg_logfile "$datadir")
  mkdir -p "$STATE"
  if pg_is_running "$datadir"; then
    port=$(pg_running_port "$datadir")
    if [[ $port != "$PG_PORT" ]]; then
      die "postgresql: already running from $datadir on port $port, not $PG_PORT; run 'stack.sh down' first"
    fi
    printf '%s\n' "$datadir" >"$PG_DATADIR_RECORD"
    log "postgresql: already running on $HOST:$PG_PORT"
  else
    if port_open "$PG_PORT"; then
      die "postgresql: port $HOST:$PG_PORT is already in use by another process ($(port_owner "$PG_PORT")); stop it or set TRACKER_PG_PORT"
    fi
    # Run as root, the data directory lives outside the checkout, keyed by its path; the
    # broker's data lives in the checkout. Without this checkout's record of it, the directory
    # was left by an earlier checkout at this path (a fresh clone, or .local removed) whose
    # Kafka data went with it: its jobs and offsets would refer to records this broker never
    # had. The stack starts afresh, as the fresh checkout's broker does.
    if is_root && [[ $STATE == "$DEFAULT_STATE" && $datadir == /var/tmp/study-tracker/* &&
                     -f $datadir/PG_VERSION && ! -f $PG_DATADIR_RECORD ]]; then
      log "postgresql: $datadir was left by an earlier checkout at $ROOT (its Kafka data went with it); starting with an empty one"
      rm -rf "$datadir"
    fi
    [[ -f $datadir/PG_VERSION ]] || pg_init "$datadir"
    printf '%s\n' "$datadir" >"$PG_DATADIR_RECORD"
    pg_make_dir "$sock"
    pg_write_conf "$datadir" "$sock"
    log "postgresql: starting ($datadir)"
    if ! run_pg "$PG_BIN/pg_ctl" -D "$datadir" -l "$logfile" -w -t "$PG_WAIT_S" start >/dev/null 2>&1 8>&- 9>&-; then
      show_log_tail "$logfile" 40
      die "postgresql failed to start (log: $logfile)"
    fi
  fi
  deadline=$((SECONDS + PG_WAIT_S))
  until "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"; do
    if ((SECONDS >= deadline)); then
      show_log_tail "$logfile" 40
      die "postgresql: no answer on $HOST:$PG_PORT within ${PG_WAIT_S}s (log: $logfile)"
    fi
    sleep 0.5
  done
  pg_provision "$sock"
  log "postgresql: ready on $HOST:$PG_PORT"
}

pg_stop() {
  local datadir stopped=0
  local -a datadirs
  [[ -x $PG_BIN/pg_ctl ]] || { log "postgresql: not running"; return 0; }
  # The recorded data directory, and the one of the current port if it differs.
  mapfile -t datadirs < <(printf '%s\n' "$(pg_datadir)" "$(pg_default_datadir)" | sort -u)
  for datadir in "${datadirs[@]}"; do
    pg_is_running "$datadir" || continue
    log "postgresql: stopping ($datadir)"
    if ! run_pg "$PG_BIN/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >/dev/null 2>&1; then
      show_log_tail "$(pg_logfile "$datadir")" 40
      die "postgresql: could not stop the server of $datadir"
    fi
    stopped=1
  done
  if ((stopped)); then
    log "postgresql: stopped"
  else
    log "postgresql: not running"
  fi
}

# ---------------------------------------------------------------------------
# Commands

# --- Prometheus --------------------------------------------------------------

prom_pid() {
  local pid
  pid=$(cat "$PROM_PID_FILE" 2>/dev/null) || return 1
  pid_alive "$pid" && grep -q prometheus "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

prom_ready() { curl -sf -m 2 "http://$HOST:$PROM_PORT/-/ready" >/dev/null 2>&1; }

# deploy/prometheus/prometheus.yml with this stack's paths and scrape interval.
render_prom_config() {
  mkdir -p "$PROM_DATA" "$PROM_TARGETS"
  sed -e "s|\(scrape_interval:\) .*|\1 $PROM_SCRAPE_INTERVAL|" \
    -e "s|\(evaluation_interval:\) .*|\1 $PROM_SCRAPE_INTERVAL|" \
    -e "s|\(scrape_timeout:\) .*|\1 $PROM_SCRAPE_INTERVAL|" \
    -e "s|- rules/|- $ROOT/deploy/prometheus/rules/|" \
    -e "s|\"targets/\*.json\"|\"$PROM_TARGETS/*.json\"|" \
    "$ROOT/deploy/prometheus/prometheus.yml" >"$PROM_CONFIG"
}

prometheus_start() {
  local pid i
  command -v prometheus >/dev/null 2>&1 || die "prometheus not found; run scripts/install-deps.sh"
  render_prom_config
  if pid=$(prom_pid); then
    # A running server picks up the rendered configuration and the rules again.
    curl -sf -m 5 -X POST "http://$HOST:$PROM_PORT/-/reload" >/dev/null 2>&1 ||
      log "prometheus: reload failed; restart it with prometheus-stop, prometheus-start"
    log "prometheus: already running on $HOST:$PROM_PORT (pid $pid)"
    return 0
  fi
  if port_open "$PROM_PORT"; then
    die "prometheus: $HOST:$PROM_PORT is taken by another process ($(port_owner "$PROM_PORT"))"
  fi
  setsid prometheus --config.file="$PROM_CONFIG" --storage.tsdb.path="$PROM_DATA" \
    --storage.tsdb.retention.time=2d --web.listen-address="$HOST:$PROM_PORT" \
    --web.enable-lifecycle </dev/null >"$PROM_LOG" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PROM_PID_FILE"
  log "prometheus: starting (pid $pid)"
  for ((i = 0; i < PROM_WAIT_S * 5; i++)); do
    if prom_ready; then
      log "prometheus: ready on $HOST:$PROM_PORT (pid $pid)"
      return 0
    fi
    pid_alive "$pid" || break
    sleep 0.2
  done
  show_log_tail "$PROM_LOG" 20
  die "prometheus: not ready within ${PROM_WAIT_S} s"
}

prometheus_stop() {
  local pid i
  pid=$(prom_pid) || { log "prometheus: not running"; return 0; }
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || { rm -f "$PROM_PID_FILE"; log "prometheus: stopped"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PROM_PID_FILE"
  log "prometheus: killed after 10 s"
}

cmd_up() {
  local kpid='' state=ready
  require_java
  ensure_kafka_jars
  render_kafka_config
  pg_preflight
  # The broker boots in the background while PostgreSQL starts.
  if kpid=$(kafka_pid); then
    state='already running'
  else
    kpid=$(launch_kafka)
    log "kafka: starting (pid $kpid)"
  fi
  pg_start
  wait_kafka "$kpid"
  log "kafka: $state on $HOST:$KAFKA_PORT (pid $kpid)"
  ensure_topics
}

cmd_down() {
  local purge=0 arg datadir
  for arg in "$@"; do
    case $arg in
      --purge) purge=1 ;;
      *) die "down: unknown option $arg" ;;
    esac
  done
  prometheus_stop
  kafka_stop
  pg_stop
  if ((purge)); then
    rm -rf "$PROM_DATA"
    datadir=$(pg_datadir)
    log "purging Kafka data ($KAFKA_DATA) and PostgreSQL data ($datadir)"
    rm -rf "$KAFKA_DATA" "$KAFKA_CLUSTER_ID_FILE" "$KAFKA_TOPICS_SNAPSHOT"
    if is_root && [[ $datadir == /var/tmp/study-tracker/* ]]; then
      rm -rf "$(dirname "$datadir")"
    else
      rm -rf "$datadir" "$(pg_logfile "$datadir")"
    fi
    rm -f "$PG_DATADIR_RECORD"
  fi
}

# Prints PostgreSQL's state; fails unless it accepts connections.
pg_status() {
  local datadir port
  datadir=$(pg_datadir)
  if [[ -x $PG_BIN/pg_ctl ]] && pg_is_running "$datadir"; then
    port=$(pg_running_port "$datadir")
    if "$PG_BIN/pg_isready" -q -h "$HOST" -p "$port"; then
      echo "postgresql: running on $HOST:$port ($datadir)"
    else
      echo "postgresql: running but not accepting connections on $HOST:$port ($datadir)"
      return 3
    fi
  else
    echo "postgresql: stopped"
    return 3
  fi
}

cmd_status() {
  local pid rc=0
  if pid=$(kafka_pid); then
    if port_open "$KAFKA_PORT"; then
      echo "kafka: running (pid $pid) on $HOST:$KAFKA_PORT"
    else
      echo "kafka: starting or unhealthy (pid $pid), $HOST:$KAFKA_PORT not listening"
      rc=3
    fi
  else
    echo "kafka: stopped"
    rc=3
  fi
  pg_status || rc=3
  if pid=$(prom_pid); then
    echo "prometheus: running (pid $pid) on $HOST:$PROM_PORT (optional)"
  else
    echo "prometheus: stopped (optional: stack.sh prometheus-start)"
  fi
  return "$rc"
}

cmd_env() {
  cat <<EOF
export KAFKA_BROKERS=$HOST:$KAFKA_PORT
export DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/tracker
export TRACKER_TEST_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/tracker_test
export TRACKER_PROMETHEUS_URL=http://$HOST:$PROM_PORT
export TRACKER_PROMETHEUS_TARGETS=$PROM_TARGETS
EOF
}

cmd_logs() {
  local which=all follow=0 lines=40 datadir
  local -a files=()
  while (($#)); do
    case $1 in
      kafka | postgresql | all) which=$1 ;;
      -f | --follow) follow=1 ;;
      -n) lines=${2:?-n needs a number}; shift ;;
      *) die "logs: unknown argument $1 (use: logs [kafka|postgresql] [-f] [-n N])" ;;
    esac
    shift
  done
  datadir=$(pg_datadir)
  [[ $which == postgresql ]] || files+=("$KAFKA_LOGS/server.log")
  [[ $which == kafka ]] || files+=("$(pg_logfile "$datadir")")
  if ((follow)); then
    exec tail -n "$lines" -F "${files[@]}"
  fi
  local f
  for f in "${files[@]}"; do
    echo "==> $f <=="
    if [[ -f $f ]]; then tail -n "$lines" "$f"; else echo "(no log yet)"; fi
  done
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# Commands that start or stop servers run one at a time per project (fd 9
# holds the lock; the servers are started with it closed).
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/stack.lock"
  if ! flock -n 9; then
    log "waiting for another stack.sh command of this project to finish"
    flock -w 300 9 || die "gave up waiting for the lock $STATE/stack.lock"
  fi
}

main() {
  local cmd=${1:-} brokers=${TRACKER_STACK_BROKERS:-1} node='' all=0 pid
  local -a args=()
  [[ $# -gt 0 ]] && shift
  while (($#)); do
    case $1 in
      --brokers) brokers=${2:-}; shift 2 || die "--brokers needs a number" ;;
      --brokers=*) brokers=${1#*=}; shift ;;
      --broker) node=${2:-}; shift 2 || die "--broker needs a number" ;;
      --broker=*) node=${1#*=}; shift ;;
      --all) all=1; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
  [[ $brokers == 1 || $brokers == 3 ]] || die "--brokers (or TRACKER_STACK_BROKERS) is 1 or 3, not '$brokers'"
  if [[ -n $node ]]; then
    [[ $node =~ ^[1-3]$ ]] || die "--broker names a node of the cluster: 1, 2 or 3, not '$node'"
    brokers=3
  fi
  [[ $cmd == cluster-leader ]] && brokers=3
  if [[ $brokers == 3 ]]; then
    case $cmd in
      up | down | status | env | logs | kafka-kill | kafka-stop | kafka-start | topic-create | \
        topic-delete | cluster-leader)
        # shellcheck source=deploy/local/kafka-cluster.sh
        source "$SCRIPT_DIR/kafka-cluster.sh"
        cluster_main "$cmd" "$node" "$all" "${args[@]}"
        return ;;
    esac
  elif ((all)); then
    die "--all applies to the cluster (--brokers 3)"
  fi
  set -- "${args[@]}"
  case $cmd in
    up | down | kafka-start | kafka-stop | kafka-kill | pg-start | pg-stop | prometheus-start | prometheus-stop)
      lock_state ;;
  esac
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env)
      cmd_env "$@"
      # A shell that took the cluster's settings gets the single broker back.
      if [[ -n ${TRACKER_STACK_BROKERS:-} ]]; then echo 'unset TRACKER_STACK_BROKERS'; fi ;;
    logs) cmd_logs "$@" ;;
    kafka-start) kafka_start ;;
    kafka-stop) kafka_stop ;;
    kafka-kill)
      if pid=$(kafka_pid); then
        kill -KILL "$pid"
        while pid_alive "$pid"; do sleep 0.05; done
        rm -f "$KAFKA_PID_FILE"
        log "kafka: killed (pid $pid)"
      else
        log "kafka: not running"
      fi ;;
    pg-start) pg_preflight && pg_start ;;
    pg-stop) pg_stop ;;
    prometheus-start) prometheus_start ;;
    prometheus-stop) prometheus_stop ;;
    topic-create)
      [[ $# -eq 2 && $1 =~ ^[A-Za-z0-9._-]+$ && $2 =~ ^[1-9][0-9]*$ ]] ||
        die "usage: stack.sh topic-create NAME PARTITIONS"
      port_open "$KAFKA_PORT" || die "kafka: not running (stack.sh up)"
      topic_command --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 \
        --config max.message.bytes=1114112 >/dev/null
      log "kafka: topic $1 ($2 partitions)" ;;
    topic-delete)
      [[ $# -eq 1 && $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "usage: stack.sh topic-delete NAME"
      port_open "$KAFKA_PORT" || die "kafka: not running (stack.sh up)"
      topic_command --delete --if-exists --topic "$1" >/dev/null
      log "kafka: topic $1 deleted" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# exit on the same line: bash has read it whole, so a change to this file while a command runs
# (a checkout, an edit) cannot make it read on from a shifted offset.
main "$@"; exit
