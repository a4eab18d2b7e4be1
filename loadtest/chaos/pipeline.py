"""The chaos run's pipeline: the stack it runs on (a stack of its own from deploy/local/stack.sh,
or the developer's shared one), the services and simulators it starts and restarts like a
supervisor would, and HAProxy in front of ingest, whose log is the ledger of every request."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "loadtest" / "replicas"))

from main_job import Failure, free_port, http_request, metrics, say, step, total  # noqa: E402
from run_replicas import TEMPLATE, Replica, haproxy_config, haproxy_stats  # noqa: E402

STACK_SH = ROOT / "deploy" / "local" / "stack.sh"
SERVICES = ("ingest", "worker", "scheduler", "summarizer", "notifier")
LAG_METRICS = {"worker": "tracker_worker_consumer_lag_messages",
               "summarizer": "tracker_summarizer_consumer_lag_messages",
               "notifier": "tracker_notifier_consumer_lag_messages"}


def stack_features() -> set[str]:
    """What the checked-out stack.sh can do: 'isolated' (TRACKER_STACK_DIR), 'brokers' (a
    three-broker cluster with per-broker kill/start and cluster-leader)."""
    text = STACK_SH.read_text()
    found = set()
    if "TRACKER_STACK_DIR" in text:
        found.add("isolated")
    if "--brokers" in text and "cluster-leader" in text and "kafka-kill" in text:
        found.add("brokers")
    return found


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, held together while they are picked."""
    held, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in held:
            s.close()
    return ports


@dataclass
class Stack:
    """Kafka and PostgreSQL. `isolated`: a stack of the run's own (stack.sh with TRACKER_STACK_DIR
    under .local/chaos/ and ports of its own, `brokers` KRaft nodes), started here and purged at
    the end. Otherwise the running stack of KAFKA_BROKERS / DATABASE_URL, on which only
    service and simulator faults are made (its broker and database belong to others) and the run
    uses topics and consumer groups of its own."""
    isolated: bool
    run_id: str
    brokers: int = 1
    directory: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # stack.sh's variables for this stack
    started: bool = False
    topics: dict[str, str] = field(default_factory=dict)  # role -> topic name
    created_topics: list[str] = field(default_factory=list)
    log_path: Path | None = None

    def sh(self, *args: str, timeout: float = 240, check: bool = True) -> str:
        argv = ["bash", str(STACK_SH), *args]
        with open(self.log_path, "a") if self.log_path else open(os.devnull, "w") as log:
            log.write(f"$ stack.sh {' '.join(args)}\n")
            log.flush()
            try:
                result = subprocess.run(argv, env=dict(os.environ, **self.env), stdout=subprocess.PIPE,
                                        stderr=log, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Failure(f"stack.sh {' '.join(args)} did not finish within {timeout:.0f} s")
        if check and result.returncode != 0:
            tail = self.log_path.read_text(errors="replace")[-800:] if self.log_path else ""
            raise Failure(f"stack.sh {' '.join(args)} exited with {result.returncode}:\n{tail}")
        return result.stdout

    def brokers_args(self) -> list[str]:
        return ["--brokers", str(self.brokers)] if self.brokers > 1 else []

    def up(self, log_dir: Path) -> None:
        self.log_path = log_dir / "stack.log"
        if not self.isolated:
            for var in ("KAFKA_BROKERS", "DATABASE_URL"):
                if not os.environ.get(var):
                    raise Failure(f"{var} is not set: eval \"$(bash deploy/local/stack.sh env)\" "
                                  f"first (or run with a stack of its own: --stack isolated)")
            prefix = f"chaos-{self.run_id.lower()}"
            self.topics = {"events": f"{prefix}-slack-events", "events_dlq": f"{prefix}-slack-events.dlq",
                           "requests": f"{prefix}-summary-requests",
                           "requests_dlq": f"{prefix}-summary-requests.dlq",
                           "outbox": f"{prefix}-slack-outbox", "outbox_dlq": f"{prefix}-slack-outbox.dlq"}
            for role, name in self.topics.items():
                self.sh("topic-create", name, "1" if role.endswith("dlq") else "6", timeout=120)
                self.created_topics.append(name)
            return
        self.directory = ROOT / ".local" / "chaos" / f"stack-{self.run_id}"
        self.directory.mkdir(parents=True, exist_ok=True)
        # Ports of its own, 16 in a row: PostgreSQL, the single broker's two (unused with three
        # brokers, but stack.sh checks them), Prometheus's, the nodes' and their controllers'.
        base = self.pick_base()
        self.env = {"TRACKER_STACK_DIR": str(self.directory), "TRACKER_PG_PORT": str(base),
                    "TRACKER_KAFKA_PORT": str(base + 1),
                    "TRACKER_KAFKA_CONTROLLER_PORT": str(base + 2),
                    "TRACKER_PROMETHEUS_PORT": str(base + 3),
                    "TRACKER_KAFKA_CLUSTER_PORT": str(base + 4),
                    "TRACKER_KAFKA_CLUSTER_CONTROLLER_PORT": str(base + 8)}
        self.started = True
        t0 = time.monotonic()
        self.sh("up", *self.brokers_args(), timeout=420)
        for line in self.sh("env", *self.brokers_args()).splitlines():
            m = re.match(r"export (KAFKA_BROKERS|DATABASE_URL)=(.*)", line.strip())
            if m:
                os.environ[m.group(1)] = m.group(2).strip("'\"")
        self.topics = {"events": "slack-events", "events_dlq": "slack-events.dlq",
                       "requests": "summary-requests", "requests_dlq": "summary-requests.dlq",
                       "outbox": "slack-outbox", "outbox_dlq": "slack-outbox.dlq"}
        step("stack", f"{self.brokers} broker(s) at {os.environ.get('KAFKA_BROKERS')}, PostgreSQL "
                      f":{base}, state in {os.path.relpath(self.directory, ROOT)} "
                      f"({time.monotonic() - t0:.0f} s)")

    @staticmethod
    def pick_base() -> int:
        """A base with the 15 ports after it free, away from the shared stack's."""
        for attempt in range(200):
            base = 21000 + (os.getpid() * 131 + attempt * 977 + int(time.time())) % 28000
            base -= base % 16
            try:
                for p in range(base, base + 16):
                    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                        s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return base
        raise Failure("no free range of 16 loopback ports found for the stack")

    def down(self) -> None:
        if not self.isolated:
            for name in self.created_topics:
                try:
                    self.sh("topic-delete", name, timeout=120)
                except Failure as failure:
                    say(f"  note: topic {name} not deleted: {failure}")
            return
        if self.started:
            # With three brokers `down` stops the cluster only; then PostgreSQL.
            for extra in ([self.brokers_args()] if self.brokers > 1 else []) + [[]]:
                try:
                    self.sh("down", *extra, "--purge", timeout=300)
                except Failure as failure:
                    say(f"  note: the chaos stack did not stop cleanly: {failure}")
            if self.directory and self.directory.is_dir():
                shutil.rmtree(self.directory, ignore_errors=True)

    # Faults of the stack's servers (isolated only).

    def leader(self, topic: str, partition: int) -> int:
        out = self.sh("cluster-leader", topic, str(partition), *self.brokers_args(), timeout=120)
        m = re.search(r"\b([1-9])\b", out)
        if not m:
            raise Failure(f"stack.sh cluster-leader {topic} {partition}: no broker in {out!r}")
        return int(m.group(1))

    def kafka_libs(self) -> Path:
        for base in ([self.directory] if self.directory else []) + [ROOT / ".local"]:
            if (base / "kafka" / "libs").is_dir():
                return base / "kafka" / "libs"
        raise Failure("no Kafka libs found (stack.sh up downloads them)")


def java() -> str:
    return str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") \
        else "java"


def read_topic(stack: Stack, topic: str, timeout_s: float = 60) -> list[str]:
    """Every record's value on `topic`, from the beginning (Kafka's console consumer, with a
    group of no one's: nothing is committed)."""
    argv = [java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={ROOT / 'deploy' / 'local' / 'tools-log4j2.properties'}",
            "-cp", f"{stack.kafka_libs()}/*", "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server", os.environ["KAFKA_BROKERS"], "--topic", topic,
            "--from-beginning", "--timeout-ms", "8000",
            "--consumer-property", "enable.auto.commit=false"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise Failure(f"reading {topic} did not finish within {timeout_s:.0f} s")
    if result.returncode != 0 and "TimeoutException" not in result.stderr:
        raise Failure(f"reading {topic}: {result.stderr.strip()[-400:]}")
    return [line for line in result.stdout.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Services and simulators, supervised


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    ops_port: int  # /readyz and /metrics (a simulator: its own port)
    popen: subprocess.Popen | None = None
    generation: int = 0
    paused: bool = False  # SIGSTOPped
    log_path: Path | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Supervisor:
    """Starts the services, restarts one the runner killed (as a supervisor would), and stops
    everything at the end. A service that exits when nobody killed it is a failure."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.services: dict[str, Service] = {}
        self.unexpected: list[str] = []

    def add(self, name: str, argv: list[str], env: dict[str, str], ops_port: int) -> Service:
        self.services[name] = Service(name, argv, env, ops_port)
        return self.services[name]

    def start(self, name: str, nofile: int | None = None, extra_env: dict[str, str] | None = None
              ) -> Service:
        s = self.services[name]
        if s.running:
            raise Failure(f"{name} is already running")
        s.generation += 1
        s.log_path = self.log_dir / f"{name}.{s.generation}.log"
        log = open(s.log_path, "wb")

        def limits():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        s.popen = subprocess.Popen(s.argv, env={**os.environ, **s.env, **(extra_env or {})},
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=limits)
        log.close()
        s.paused = False
        return s

    def kill(self, name: str) -> None:
        s = self.services[name]
        if s.running:
            os.kill(s.popen.pid, signal.SIGKILL)
            s.popen.wait(timeout=10)
        s.paused = False

    def terminate(self, name: str, grace_s: float = 20) -> int | None:
        s = self.services[name]
        if not s.running:
            return s.popen.returncode if s.popen else None
        if s.paused:
            os.kill(s.popen.pid, signal.SIGCONT)
            s.paused = False
        s.popen.send_signal(signal.SIGTERM)
        try:
            return s.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            s.popen.kill()
            return s.popen.wait()

    def pause(self, name: str) -> None:
        s = self.services[name]
        os.kill(s.popen.pid, signal.SIGSTOP)
        s.paused = True

    def resume(self, name: str) -> None:
        s = self.services[name]
        if s.running and s.paused:
            os.kill(s.popen.pid, signal.SIGCONT)
        s.paused = False

    def check_alive(self, expected_down: set[str] = frozenset()) -> None:
        for s in self.services.values():
            if s.name in expected_down or s.popen is None:
                continue
            code = s.popen.poll()
            if code is not None:
                tail = "\n".join("      " + line[:300] for line in
                                 s.log_path.read_text(errors="replace").splitlines()[-12:])
                raise Failure(f"{s.name} exited by itself with status {code}; its log "
                              f"({s.log_path}):\n{tail}")

    def stop_all(self) -> list[str]:
        """SIGCONT to any paused, SIGTERM to the services, then to the simulators and the proxy
        (SIGKILL 20 s after a SIGTERM not obeyed). Returns those that did not exit cleanly."""
        unclean = []
        services = [s for n, s in self.services.items() if n in SERVICES]
        others = [s for n, s in self.services.items() if n not in SERVICES]
        for group in (services, others):
            for s in group:
                if s.running:
                    if s.paused:
                        os.kill(s.popen.pid, signal.SIGCONT)
                        s.paused = False
                    s.popen.send_signal(signal.SIGTERM)
            until = time.monotonic() + 20
            for s in group:
                if s.popen is None:
                    continue
                try:
                    code = s.popen.wait(timeout=max(0.1, until - time.monotonic()))
                except subprocess.TimeoutExpired:
                    s.popen.kill()
                    code = s.popen.wait()
                if code not in (0, -signal.SIGTERM, -signal.SIGKILL):
                    unclean.append(f"{s.name} ({code})")
        return unclean

    # Health

    def ready(self, name: str) -> bool:
        s = self.services[name]
        if not s.running or s.paused:
            return False
        try:
            status, _ = http_request(s.ops_port, "GET", "/readyz", timeout=1)
            return status == 200
        except OSError:
            return False

    def lag(self) -> int | None:
        """Consumer lag summed over the worker, summarizer and notifier (None: one did not
        answer)."""
        sum_ = 0
        for name, metric in LAG_METRICS.items():
            s = self.services.get(name)
            if s is None or not s.running or s.paused:
                return None
            try:
                sum_ += total(metrics(s.ops_port, timeout=2), metric)
            except (OSError, Failure):
                return None
        return sum_

    def wait_ready(self, names, timeout_s: float = 90) -> float:
        started = time.monotonic()
        pending = list(names)
        while pending:
            self.check_alive()
            pending = [n for n in pending if not self.ready(n)]
            if not pending:
                break
            if time.monotonic() - started > timeout_s:
                raise Failure(f"not ready within {timeout_s:.0f} s: {', '.join(pending)}")
            time.sleep(0.1)
        return time.monotonic() - started


def wait_listening(log_path: Path, popen: subprocess.Popen, name: str, timeout_s: float = 20) -> int:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if popen.poll() is not None:
            raise Failure(f"{name} exited with status {popen.returncode}")
        m = re.search(r"listening on [0-9.]+:(\d+)", log_path.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise Failure(f"{name} did not start listening within {timeout_s:.0f} s")


@dataclass
class Pipeline:
    supervisor: Supervisor
    ports: dict[str, int]  # ingest (events), proxy, proxy-stats, slack-sim, openai-sim, ...
    secret: str
    admin_token: str
    proxy_log: Path


def start_pipeline(binaries: dict[str, Path], stack: Stack, log_dir: Path, teams: list[str],
                   secret: str, admin_token: str, haproxy: str) -> Pipeline:
    sup = Supervisor(log_dir)
    level = os.environ.get("TRACKER_LOG_LEVEL", "warn")
    common = {"TRACKER_LOG_LEVEL": level}
    ports: dict[str, int] = {}
    # The simulators: Slack at a workspace pace that lets 200 summaries post in seconds (the
    # notifier keeps to the same), OpenAI answering in 400 ms median as in run_scenarios.py.
    for name, argv in (("slack-sim", [str(binaries["slack-sim"]), "--port", "0",
                                      "--channel-per-second", "1", "--workspace-per-minute", "6000",
                                      "--workspace-burst", "100"]),
                       ("openai-sim", [str(binaries["openai-sim"]), "--port", "0",
                                       "--latency-median-ms", "400", "--latency-p99-ms", "1200",
                                       "--rpm", "5000", "--tpm", "4000000"])):
        sup.add(name, argv, {}, 0)
        s = sup.start(name)
        s.ops_port = ports[name] = wait_listening(s.log_path, s.popen, name)
    t = stack.topics
    own_topics = not stack.isolated
    ops = dict(zip(SERVICES, free_ports(len(SERVICES))))
    ports.update({f"{n}-ops": p for n, p in ops.items()})
    ports["ingest"] = free_port()
    group = f"chaos-{stack.run_id.lower()}"
    sup.add("notifier", [str(binaries["notifier"])], {
        **common, "SLACK_BOT_TOKEN": "xoxb-simulated",
        "SLACK_API_BASE_URL": f"http://127.0.0.1:{ports['slack-sim']}/api",
        "TRACKER_SLACK_WORKSPACE_PER_MINUTE": "6000", "TRACKER_SLACK_WORKSPACE_BURST": "100",
        "TRACKER_OPS_PORT": str(ops["notifier"]),
        **({"TRACKER_NOTIFIER_TOPIC": t["outbox"], "TRACKER_NOTIFIER_DLQ_TOPIC": t["outbox_dlq"],
            "TRACKER_NOTIFIER_GROUP": f"{group}-notifier"} if own_topics else {})}, ops["notifier"])
    sup.add("summarizer", [str(binaries["summarizer"])], {
        **common, "OPENAI_API_KEY": "sk-simulated",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{ports['openai-sim']}/v1",
        "TRACKER_SUMMARY_DESTINATION": "dm",
        "TRACKER_OPENAI_REQUESTS_PER_MINUTE": "5000", "TRACKER_OPENAI_TOKENS_PER_MINUTE": "4000000",
        # 10 s instead of 60 s, so that answers held 30 s (the hanging fault) time out.
        "TRACKER_OPENAI_REQUEST_TIMEOUT": "10s",
        "TRACKER_OPS_PORT": str(ops["summarizer"]),
        **({"TRACKER_SUMMARIZER_TOPIC": t["requests"], "TRACKER_SUMMARIZER_OUTBOX_TOPIC": t["outbox"],
            "TRACKER_SUMMARIZER_DLQ_TOPIC": t["requests_dlq"],
            "TRACKER_SUMMARIZER_GROUP": f"{group}-summarizer"} if own_topics else {})},
        ops["summarizer"])
    sup.add("worker", [str(binaries["worker"])], {
        **common, "TRACKER_OPS_PORT": str(ops["worker"]),
        "TRACKER_ALLOWED_TEAM_IDS": ",".join(teams),
        **({"TRACKER_WORKER_TOPIC": t["events"], "TRACKER_WORKER_DLQ_TOPIC": t["events_dlq"],
            "TRACKER_WORKER_GROUP": f"{group}-worker"} if own_topics else {})}, ops["worker"])
    # The triggers claim the summaries. On a stack of its own the scheduler ticks every 5 s, and
    # its sweep publishes again a job claimed but not published (a kill between the two) after
    # 10 s instead of 2 min, and one published but not finished (the summarizer deferred it
    # through an OpenAI outage, or was killed) after 45 s instead of 30 min, so that a trial
    # sees it through. On the shared stack the tick is an hour away and there is no catch-up:
    # other people's due days are not this run's to claim (so there a deferred job stays open).
    sup.add("scheduler", [str(binaries["scheduler"])], {
        **common, "TRACKER_OPS_PORT": str(ops["scheduler"]), "TRACKER_ADMIN_TOKEN": admin_token,
        "TRACKER_SCHEDULER_PUBLISH_GRACE": "10s",
        **({"TRACKER_SCHEDULER_TOPIC": t["requests"], "TRACKER_SCHEDULER_TICK_INTERVAL": "1h",
            "TRACKER_SCHEDULER_CATCH_UP_WINDOW": "0ms"} if own_topics else
           {"TRACKER_SCHEDULER_TICK_INTERVAL": "5s", "TRACKER_SUMMARY_JOB_TIMEOUT": "45s"})},
        ops["scheduler"])
    sup.add("ingest", [str(binaries["ingest"])], {
        **common, "SLACK_SIGNING_SECRET": secret, "TRACKER_INGEST_ADDRESS": "127.0.0.1",
        "TRACKER_INGEST_PORT": str(ports["ingest"]), "TRACKER_OPS_PORT": str(ops["ingest"]),
        **({"TRACKER_INGEST_TOPIC": t["events"]} if own_topics else {})}, ops["ingest"])
    started = time.monotonic()
    for name in ("notifier", "summarizer", "worker", "scheduler", "ingest"):
        sup.start(name)
    sup.wait_ready(SERVICES, timeout_s=120)
    # HAProxy in front of ingest (run_replicas.py's configuration, one server): its log is the
    # ledger, one line per request with the event_id and the answer.
    ports["proxy"], ports["proxy-stats"] = free_ports(2)
    config = haproxy_config(TEMPLATE, ports["proxy"], ports["proxy-stats"],
                            [Replica("ingest-1", ports["ingest"], ops["ingest"])])
    config_path = log_dir / "haproxy.cfg"
    config_path.write_text(config)
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config_path)], capture_output=True,
                           text=True, timeout=30)
    if check.returncode != 0:
        raise Failure(f"haproxy -c -f {config_path}:\n{check.stdout}{check.stderr}")
    sup.add("haproxy", [haproxy, "-db", "-f", str(config_path)], {}, ports["proxy-stats"])
    proxy = sup.start("haproxy")
    deadline = time.monotonic() + 20
    while True:
        sup.check_alive()
        try:
            if haproxy_stats(ports["proxy-stats"]).get("ingest-1", {}).get("status") == "UP":
                break
        except (OSError, Failure):
            pass
        if time.monotonic() > deadline:
            raise Failure("HAProxy did not report ingest UP within 20 s")
        time.sleep(0.1)
    step("pipeline", f"HAProxy :{ports['proxy']} -> ingest :{ports['ingest']}; scheduler "
                     f":{ops['scheduler']}; slack-sim :{ports['slack-sim']}, openai-sim "
                     f":{ports['openai-sim']}; ready in {time.monotonic() - started:.1f} s")
    return Pipeline(sup, ports, secret, admin_token, proxy.log_path)


def sim_config(port: int, settings: dict) -> None:
    status, body = http_request(port, "POST", "/_sim/config", body=json.dumps(settings).encode(),
                                timeout=5)
    if status != 200:
        raise Failure(f"/_sim/config on :{port} refused {settings}: {body[:200]!r}")
