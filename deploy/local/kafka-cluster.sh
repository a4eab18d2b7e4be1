# shellcheck shell=bash
# The three-node Kafka cluster of deploy/local/stack.sh (--brokers 3), sourced by it: each node
# is a broker and a KRaft controller in one JVM (three voters, so the quorum and every partition
# survive one node down), on 127.0.0.1 beside the single broker, with its state in
# <stack dir>/kafka-cluster/<n>/. It runs from the single broker's jars and reuses its functions
# for one node at a time: select_node points the broker's variables at node n.

CLUSTER_NODES=(1 2 3)
CLUSTER_PORT=${TRACKER_KAFKA_CLUSTER_PORT:-19192}
CLUSTER_CONTROLLER_PORT=${TRACKER_KAFKA_CLUSTER_CONTROLLER_PORT:-19292}
CLUSTER_HEAP_OPTS=${TRACKER_KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}
# Only the quick compiler: three JVMs starting at once on two cores come up in about 11-15 s
# instead of 18-20 s (measured under load), and a local cluster is for faults, not throughput.
CLUSTER_JVM_OPTS=${TRACKER_KAFKA_CLUSTER_JVM_OPTS:--XX:TieredStopAtLevel=1}
CLUSTER_HOME=$STATE/kafka-cluster
CLUSTER_TEMPLATE=$SCRIPT_DIR/cluster.properties.in
CLUSTER_METADATA=$SCRIPT_DIR/kafka_metadata.py
CLUSTER_WAIT_S=${TRACKER_KAFKA_CLUSTER_WAIT_S:-120}
CLUSTER_ISR_WAIT_S=${TRACKER_KAFKA_CLUSTER_ISR_WAIT_S:-90}
CLUSTER_KILL_WAIT_S=10
# When all nodes stop at once, the last may wait for a quorum that is gone: it is killed sooner.
CLUSTER_STOP_ALL_WAIT_S=15

for port in "$CLUSTER_PORT" "$CLUSTER_CONTROLLER_PORT"; do
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65533)); then
    die "invalid port $port (TRACKER_KAFKA_CLUSTER_PORT, TRACKER_KAFKA_CLUSTER_CONTROLLER_PORT)"
  fi
done
if ((CLUSTER_PORT + 2 >= CLUSTER_CONTROLLER_PORT && CLUSTER_CONTROLLER_PORT + 2 >= CLUSTER_PORT)); then
  die "the cluster's broker ports ($CLUSTER_PORT+) and controller ports ($CLUSTER_CONTROLLER_PORT+) overlap"
fi

node_port() { echo $((CLUSTER_PORT + $1 - 1)); }
node_controller_port() { echo $((CLUSTER_CONTROLLER_PORT + $1 - 1)); }

cluster_bootstrap() {
  local n list=''
  for n in "${CLUSTER_NODES[@]}"; do list+=${list:+,}$HOST:$(node_port "$n"); done
  printf '%s\n' "$list"
}

# Points the single broker's variables at node $1, so that its functions act on that node.
select_node() {
  KAFKA_NAME=kafka-$1
  KAFKA_PORT_VARS='TRACKER_KAFKA_CLUSTER_PORT / TRACKER_KAFKA_CLUSTER_CONTROLLER_PORT'
  KAFKA_HOME=$CLUSTER_HOME/$1
  KAFKA_DATA=$KAFKA_HOME/data
  KAFKA_LOGS=$KAFKA_HOME/logs
  KAFKA_PROPS=$KAFKA_HOME/server.properties
  KAFKA_PID_FILE=$KAFKA_HOME/kafka.pid
  KAFKA_PORT=$(node_port "$1")
  CONTROLLER_PORT=$(node_controller_port "$1")
  KAFKA_HEAP_OPTS=$CLUSTER_HEAP_OPTS
  KAFKA_JVM_OPTS=$CLUSTER_JVM_OPTS
}

# Settings shared by the nodes: one cluster id, and the admin tools aimed at all three.
KAFKA_CLUSTER_ID_FILE=$CLUSTER_HOME/cluster-id
KAFKA_ADMIN_PROPS=$CLUSTER_HOME/admin.properties
KAFKA_TOPICS_SNAPSHOT=$CLUSTER_HOME/topics.describe
KAFKA_BOOTSTRAP=$(cluster_bootstrap)
TOPIC_REPLICAS=3
TOPIC_CONFIG=(--config min.insync.replicas=2)

render_node_config() { # <n>
  local n voters='' v
  n=$1
  for v in "${CLUSTER_NODES[@]}"; do voters+=${voters:+,}$v@$HOST:$(node_controller_port "$v"); done
  select_node "$n"
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  sed -e "s|@NODE_ID@|$n|g" \
      -e "s|@VOTERS@|$voters|g" \
      -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
      "$CLUSTER_TEMPLATE" >"$KAFKA_PROPS.tmp"
  if [[ -f $KAFKA_PROPS ]] && ! cmp -s "$KAFKA_PROPS.tmp" "$KAFKA_PROPS" && kafka_pid >/dev/null; then
    rm -f "$KAFKA_PROPS.tmp"
    die "$KAFKA_NAME: the running node uses another configuration (ports?); run 'stack.sh down --brokers 3' first"
  fi
  mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
  cat >"$KAFKA_ADMIN_PROPS" <<EOF
# Admin client settings of the tools run by deploy/local/stack.sh.
request.timeout.ms=5000
default.api.timeout.ms=10000
reconnect.backoff.max.ms=1000
EOF
}

node_pid() { select_node "$1" && kafka_pid; }

cluster_metadata() { # <bootstrap> <kafka_metadata.py command...>
  python3 "$CLUSTER_METADATA" --bootstrap "$1" "${@:2}"
}

# True when node $1 answers on its own port and counts itself among the registered brokers.
node_answers() {
  local ids
  ids=$(cluster_metadata "$HOST:$(node_port "$1")" brokers 2>/dev/null) || return 1
  grep -qx "$1" <<<"$ids"
}

# Waits until each of the nodes $@ answers; stops with its log when one exits or time runs out.
wait_nodes() {
  local deadline=$((SECONDS + CLUSTER_WAIT_S)) n pid
  local -a pending=("$@") left
  while ((${#pending[@]})); do
    left=()
    for n in "${pending[@]}"; do
      select_node "$n"
      if ! pid=$(kafka_pid); then
        log "kafka-$n: the node exited during startup"
        kafka_failure_logs
        die "kafka-$n failed to start"
      fi
      node_answers "$n" || left+=("$n")
    done
    pending=("${left[@]}")
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for n in "${pending[@]}"; do
        log "kafka-$n: no answer on $HOST:$(node_port "$n") within ${CLUSTER_WAIT_S}s"
        select_node "$n"
        kafka_failure_logs
      done
      die "kafka cluster: nodes ${pending[*]} failed to start"
    fi
    sleep 0.5
  done
}

# Waits until all three brokers are registered and every partition (with a node, those with a
# replica on it) has a leader and all its replicas in the ISR.
wait_in_sync() { # [node]
  local deadline=$((SECONDS + CLUSTER_ISR_WAIT_S)) out n
  local -a scope=()
  [[ -n ${1:-} ]] && scope=(--node "$1")
  until out=$(cluster_metadata "$KAFKA_BOOTSTRAP" in-sync "${scope[@]}" --expect-brokers 3 2>&1); do
    if ((SECONDS >= deadline)); then
      log "kafka cluster: not in sync within ${CLUSTER_ISR_WAIT_S}s: $out"
      for n in ${1:-${CLUSTER_NODES[*]}}; do
        select_node "$n"
        show_log_tail "$KAFKA_LOGS/server.log" 20
      done
      die "kafka cluster: replicas not in sync"
    fi
    sleep 1
  done
}

cluster_ensure_topics() {
  topic_command --describe --exclude-internal >"$KAFKA_TOPICS_SNAPSHOT.tmp" 2>"$CLUSTER_HOME/topics.err" ||
    { show_log_tail "$CLUSTER_HOME/topics.err" 20; die "kafka cluster: cannot list the topics"; }
  mv "$KAFKA_TOPICS_SNAPSHOT.tmp" "$KAFKA_TOPICS_SNAPSHOT"
  ensure_topics
}

# Starts the nodes $@ that do not run (all three boot side by side) and waits until they answer.
cluster_launch() {
  local n pid
  for n in "$@"; do
    render_node_config "$n"
    if pid=$(kafka_pid); then
      log "kafka-$n: already running (pid $pid) on $HOST:$KAFKA_PORT"
    else
      pid=$(launch_kafka)
      log "kafka-$n: starting (pid $pid) on $HOST:$KAFKA_PORT"
    fi
  done
}

cluster_up() {
  require_java
  ensure_kafka_jars
  command -v python3 >/dev/null 2>&1 || die "python3 not found; run scripts/install-deps.sh"
  mkdir -p "$CLUSTER_HOME"
  pg_preflight
  cluster_launch "${CLUSTER_NODES[@]}"
  pg_start
  wait_nodes "${CLUSTER_NODES[@]}"
  cluster_ensure_topics
  wait_in_sync
  log "kafka cluster: ready on $KAFKA_BOOTSTRAP, every partition with all replicas in sync"
}

# kafka-start: the nodes $@, then (bounded) until they are back in the ISR of their partitions.
cluster_start() {
  require_java
  ensure_kafka_jars
  mkdir -p "$CLUSTER_HOME"
  cluster_launch "$@"
  wait_nodes "$@"
  if (($# == 1)); then
    wait_in_sync "$1"
  else
    wait_in_sync
  fi
  log "kafka cluster: node(s) $* ready and in sync"
}

# SIGTERM to every node of $@ at once, then waits (bounded; SIGKILL after that).
cluster_stop() {
  local n pid deadline i grace=$KAFKA_STOP_WAIT_S
  local -a pids=() names=()
  (($# > 1)) && grace=$CLUSTER_STOP_ALL_WAIT_S
  for n in "$@"; do
    if pid=$(node_pid "$n"); then
      log "kafka-$n: stopping (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$n")
    else
      log "kafka-$n: not running"
    fi
  done
  deadline=$((SECONDS + grace))
  for i in "${!pids[@]}"; do
    while pid_alive "${pids[i]}" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "${pids[i]}"; then
      log "kafka-${names[i]}: no clean shutdown within ${grace}s, killing it"
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
  done
  for i in "${!pids[@]}"; do
    while pid_alive "${pids[i]}"; do sleep 0.1; done
    select_node "${names[i]}"
    rm -f "$KAFKA_PID_FILE"
    log "kafka-${names[i]}: stopped"
  done
}

# SIGKILL to every node of $@; returns once the processes are gone (a moment).
cluster_kill() {
  local n pid i
  for n in "$@"; do
    select_node "$n"
    if pid=$(kafka_pid); then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < CLUSTER_KILL_WAIT_S * 20; i++)); do
        pid_alive "$pid" || break
        sleep 0.05
      done
      pid_alive "$pid" && die "kafka-$n: pid $pid still exists ${CLUSTER_KILL_WAIT_S}s after SIGKILL"
      rm -f "$KAFKA_PID_FILE"
      log "kafka-$n: killed (pid $pid)"
    else
      log "kafka-$n: not running"
    fi
  done
}

cluster_status() {
  local n pid rc=0 out
  for n in "${CLUSTER_NODES[@]}"; do
    select_node "$n"
    if pid=$(kafka_pid); then
      if node_answers "$n"; then
        echo "kafka-$n: running (pid $pid) on $HOST:$KAFKA_PORT"
      else
        echo "kafka-$n: starting or unhealthy (pid $pid), no answer on $HOST:$KAFKA_PORT"
        rc=3
      fi
    else
      echo "kafka-$n: stopped"
      rc=3
    fi
  done
  if out=$(cluster_metadata "$KAFKA_BOOTSTRAP" in-sync --expect-brokers 3 2>&1); then
    echo "kafka cluster: every partition has all its replicas in sync"
  else
    echo "kafka cluster: ${out:-no answer}"
  fi
  pg_status || rc=3
  return "$rc"
}

cluster_logs() { # <which> <node or ''> <follow> <lines>
  local which=$1 node=$2 follow=$3 lines=$4 n f
  local -a files=()
  if [[ $which != postgresql ]]; then
    for n in ${node:-${CLUSTER_NODES[*]}}; do files+=("$CLUSTER_HOME/$n/logs/server.log"); done
  fi
  [[ $which == kafka ]] || files+=("$(pg_logfile "$(pg_datadir)")")
  if ((follow)); then
    exec tail -n "$lines" -F "${files[@]}"
  fi
  for f in "${files[@]}"; do
    echo "==> $f <=="
    if [[ -f $f ]]; then tail -n "$lines" "$f"; else echo "(no log yet)"; fi
  done
}

lock_cluster() {
  mkdir -p "$STATE"
  exec 8>"$STATE/kafka-cluster.lock"
  if ! flock -n 8; then
    log "waiting for another cluster command of this stack to finish"
    flock -w 300 8 || die "gave up waiting for the lock $STATE/kafka-cluster.lock"
  fi
}

# The commands with --brokers 3. <node> is --broker's number, or '' for every node (--all
# says so explicitly: <all> is 1).
cluster_main() { # <command> <node> <all> [arguments]
  local cmd=$1 node=$2 all=$3 which=all follow=0 lines=40 purge=0 arg
  shift 3
  local -a targets=("${CLUSTER_NODES[@]}")
  [[ -n $node ]] && targets=("$node")
  case $cmd in
    kafka-kill | kafka-stop | kafka-start)
      # Without --broker, every node: a test written for the single broker stops "Kafka".
      [[ -n $node && $all == 1 ]] && die "$cmd: --broker and --all exclude each other"
      (($# == 0)) || die "$cmd: unexpected argument $1"
      ;;
  esac
  case $cmd in
    up) lock_state; lock_cluster; cluster_up ;;
    down)
      for arg in "$@"; do
        case $arg in
          --purge) purge=1 ;;
          *) die "down: unknown option $arg" ;;
        esac
      done
      lock_cluster
      cluster_stop "${CLUSTER_NODES[@]}"
      if ((purge)); then
        log "purging the Kafka cluster's data ($CLUSTER_HOME)"
        rm -rf "$CLUSTER_HOME"
      fi
      ;;
    status) cluster_status ;;
    env)
      cmd_env | sed "s|^export KAFKA_BROKERS=.*|export KAFKA_BROKERS=$KAFKA_BOOTSTRAP|"
      echo "export TRACKER_STACK_BROKERS=3"
      ;;
    logs)
      while (($#)); do
        case $1 in
          kafka | postgresql | all) which=$1 ;;
          -f | --follow) follow=1 ;;
          -n) lines=${2:?-n needs a number}; shift ;;
          *) die "logs: unknown argument $1 (use: logs [kafka|postgresql] [--broker N] [-f] [-n N])" ;;
        esac
        shift
      done
      cluster_logs "$which" "$node" "$follow" "$lines"
      ;;
    kafka-kill) cluster_kill "${targets[@]}" ;;
    kafka-stop) lock_cluster; cluster_stop "${targets[@]}" ;;
    kafka-start) lock_cluster; cluster_start "${targets[@]}" ;;
    topic-create)
      [[ $# -eq 2 && $1 =~ ^[A-Za-z0-9._-]+$ && $2 =~ ^[1-9][0-9]*$ ]] ||
        die "usage: stack.sh topic-create NAME PARTITIONS --brokers 3"
      topic_command --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 3 \
        --config min.insync.replicas=2 --config max.message.bytes=1114112 >/dev/null
      log "kafka cluster: topic $1 ($2 partitions, 3 replicas)" ;;
    topic-delete)
      [[ $# -eq 1 && $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "usage: stack.sh topic-delete NAME --brokers 3"
      topic_command --delete --if-exists --topic "$1" >/dev/null
      log "kafka cluster: topic $1 deleted" ;;
    cluster-leader)
      [[ $# -eq 2 && $1 =~ ^[A-Za-z0-9._-]+$ && $2 =~ ^[0-9]+$ ]] ||
        die "usage: stack.sh cluster-leader TOPIC PARTITION"
      cluster_metadata "$KAFKA_BOOTSTRAP" leader "$1" "$2" ||
        die "kafka cluster: no leader known for $1-$2"
      ;;
    *) die "$cmd: not a command of the cluster" ;;
  esac
}
