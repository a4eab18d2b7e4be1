#!/usr/bin/env python3
"""Ingest scaled out behind HAProxy, one replica killed mid-run: is every request answered 200
still exactly one row?

Starts on loopback a worker (or --workers N) and --replicas ingest processes (default 2, one
signing secret, each on its own port) on a Kafka topic of their own (created for the run,
deleted after it), and HAProxy in front of them from haproxy.cfg.in beside this script. Runs a
scenario (default SC1: 33,600 events, 100 -> 5,000 connections) through HAProxy with loadgen,
SIGKILLs one replica at --kill-at of the run (the seed picks which one and the exact moment
around it), waits for the worker to store what was acknowledged, and checks against PostgreSQL:

  - every event_id answered 200 is exactly one row in study_logs (none missing, none doubled),
    and no row has an event_id that was never sent;
  - every request that did not get a 200 (a 502 from the proxy, or its kept-alive connection
    closed without an answer) was in progress on the killed replica at the kill, and there were
    no more of them than connections the proxy had open to it just before;
  - every request that reached the proxy after the kill went to a surviving replica and got 200;
  - loadgen's count of 200s equals the ledger's, and the proxy dropped no log line.
--no-kill makes the same run without the kill (a control for the latencies): then no request
may fail.

The ledger of every request is HAProxy's log (one line per request: event_id, status, replica,
termination state, retries, timings), because loadgen's samples.csv has no event_id column.
Prints a table and writes the run to --out (README.md, result.json, ledger.csv, the proxy's
stats over the run, its configuration, loadgen's files); --record NAME also copies it to
loadtest/results/replicas/NAME/ and updates the table of recorded runs in that folder's
README.md. Exits 1 when a check fails, 2 on a usage error, 130 when interrupted. Everything it
starts is stopped when it ends (also on Ctrl-C), and every wait has a deadline.

Usage: loadtest/replicas/run_replicas.py [--scenario FILE] [--scale F] [--kill-at F] [--seed N]
           [--no-kill] [--replicas N] [--workers N] [--template FILE] [--build DIR]
           [--out DIR] [--record NAME] [--drain-timeout S]
Needs KAFKA_BROKERS and DATABASE_URL: eval "$(bash deploy/local/stack.sh env)" first, and
haproxy (Debian's package).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import fcntl
import json
import math
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from main_job import (Failure, Process, Processes, built, free_port, http_request, metrics,  # noqa: E402
                      psql, run_main, say, step, total, wait_ready)

RESULTS = ROOT / "loadtest" / "results" / "replicas"
TEMPLATE = HERE / "haproxy.cfg.in"
RUNS_BEGIN = "<!-- recorded runs: written by loadtest/replicas/run_replicas.py --record -->"
RUNS_END = "<!-- end of recorded runs -->"


# ---------------------------------------------------------------------------------------------
# Small helpers


def now_us() -> int:
    return time.time_ns() // 1000


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest rank, as loadgen's table has it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def spread(sorted_values: list[float]) -> dict:
    return {"requests": len(sorted_values), "p50": percentile(sorted_values, 50),
            "p99": percentile(sorted_values, 99), "max": percentile(sorted_values, 100)}


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def n(value: int) -> str:
    return f"{value:,}"


def kafka_tool(*args: str, timeout: float = 90) -> str:
    """A Kafka command-line tool class on the local broker's classpath (as deploy/local/stack.sh
    runs them)."""
    libs = ROOT / ".local" / "kafka" / "libs"
    if not libs.is_dir():
        raise Failure(f"{libs} is missing: bash deploy/local/stack.sh up")
    java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") \
        else "java"
    argv = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={ROOT / 'deploy' / 'local' / 'tools-log4j2.properties'}",
            "-cp", f"{libs}/*", *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{args[0]} {' '.join(args[1:4])} did not finish within {timeout:.0f} s")
    if result.returncode != 0:
        raise Failure(f"{args[0]} failed: {(result.stderr or result.stdout).strip()[-600:]}")
    return result.stdout


def topic_command(*args: str) -> str:
    admin = ROOT / ".local" / "kafka" / "admin.properties"
    extra = ["--command-config", str(admin)] if admin.is_file() else []
    return kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                      os.environ["KAFKA_BROKERS"], *extra, *args)


def slack_events_topic() -> dict:
    topics = json.loads((ROOT / "schemas" / "topics.json").read_text())["topics"]
    return next(t for t in topics if t["name"] == "slack-events")


# ---------------------------------------------------------------------------------------------
# HAProxy


def haproxy_config(template: Path, frontend: int, stats: int, replicas: list["Replica"]) -> str:
    text = template.read_text()
    servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} port {r.ops_port}" for r in replicas)
    for key, value in {"@FRONTEND@": f"127.0.0.1:{frontend}", "@STATS@": f"127.0.0.1:{stats}",
                       "@SERVERS@": servers}.items():
        text = text.replace(key, value)
    left = [m for line in text.splitlines() if not line.lstrip().startswith("#")
            for m in re.findall(r"@[A-Z_]+@", line)]
    if left:
        raise Failure(f"{template.name}: no value for {', '.join(sorted(set(left)))}")
    return text


def haproxy_stats(port: int) -> dict[str, dict[str, str]]:
    """GET /stats;csv: svname -> its row, for the backend's servers, BACKEND and FRONTEND."""
    status, body = http_request(port, "GET", "/stats;csv", timeout=5)
    if status != 200:
        raise Failure(f"HAProxy's GET /stats;csv answered {status}")
    lines = body.decode().lstrip("# ").splitlines()
    rows = {}
    for row in csv.DictReader(lines):
        if row["pxname"] in ("ingest", "slack_events"):
            rows[row["svname"]] = row
    return rows


def stat(rows: dict, server: str, column: str) -> int:
    try:
        return int(rows.get(server, {}).get(column) or 0)
    except ValueError:
        return 0


@dataclass
class LedgerLine:
    event_id: str
    request_us: int  # the proxy had the whole request
    logged_us: int  # the answer was sent (or the request given up)
    status: int  # -1: none
    server: str
    termination: str
    retries: str
    times: list[str]  # Tw Tc Tr Ta (ms; -1 where the step did not happen)


def read_ledger(path: Path) -> tuple[list[LedgerLine], list[str]]:
    """The proxy's per-request lines ("L ...") and its other lines (health checks, warnings)."""
    ledger, other = [], []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("L "):
            f = line.split()
            if len(f) != 12:
                other.append(line)
                continue
            ledger.append(LedgerLine(event_id=f[1], request_us=int(f[2]) if f[2].isdigit() else 0,
                                     logged_us=int(f[3]), status=int(f[4]), server=f[5],
                                     termination=f[6], retries=f[7], times=f[8:12]))
        elif line.strip():
            other.append(line)
    # Without a log server HAProxy also prints its warnings on stderr (the same file): once each.
    plain = set(other)
    other = [line for line in other
             if not ((m := re.match(r"\[[A-Z]+\]\s+\(\d+\) : (.*)", line)) and m.group(1) in plain)]
    return ledger, other


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Replica:
    name: str
    port: int
    ops_port: int
    process: Process | None = None


@dataclass
class Kill:
    victim: str
    planned_s: float  # after loadgen's start
    at_us: int = 0  # just before os.kill
    dead_us: int = 0  # the process reaped: every socket of it closed
    down_us: int = 0  # first stats poll that showed the proxy had taken it out
    open_connections: int = -1  # ingest's tracker_http_open_connections just before
    in_flight: int = -1  # ingest's tracker_http_requests_in_flight just before
    proxy_current: int = -1  # HAProxy's scur for it just before
    proxy_current_max: int = 0  # the largest scur seen for it over the run until then


@dataclass
class Run:
    args: argparse.Namespace
    run_id: str
    team: str
    topic: str
    seed: int
    log_dir: Path
    out: Path
    replicas: list[Replica] = field(default_factory=list)
    worker_ports: list[int] = field(default_factory=list)
    stats_series: list[dict] = field(default_factory=list)
    load_before: float = 0.0  # the machine's 1-minute load average as loadgen starts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "loadtest" / "scenarios" / "sc1.json"),
                        help="a scenario with events only (default SC1)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="loadgen --scale (default 1: full size, about 65 s; 0.05: about 10 s)")
    parser.add_argument("--kill-at", type=float, default=0.4,
                        help="kill a replica this far into the run's sending (default 0.4); the "
                             "seed moves the moment by up to 0.05 either way")
    parser.add_argument("--seed", type=int,
                        help="picks the replica and the moment (default: random, printed)")
    parser.add_argument("--no-kill", action="store_true",
                        help="a control run: the same, but no replica is killed (before and after "
                             "are split at the moment the kill would have been)")
    parser.add_argument("--replicas", type=int, default=2, help="ingest replicas (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="workers (default 1)")
    parser.add_argument("--template", default=str(TEMPLATE),
                        help="HAProxy configuration template (default haproxy.cfg.in beside this "
                             "script), to try other settings")
    parser.add_argument("--build", default=str(ROOT / "build"), help="build tree (default build/)")
    parser.add_argument("--out", default=str(ROOT / "loadtest" / "out" / "replicas"),
                        help="the run's files go to OUT/<scenario>-<run> "
                             "(default loadtest/out/replicas)")
    parser.add_argument("--record", metavar="NAME",
                        help="also copy the run to loadtest/results/replicas/NAME and list it in "
                             "that folder's README.md")
    parser.add_argument("--drain-timeout", type=float, default=180,
                        help="seconds to wait for the worker to store what was acknowledged")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if not 0.1 <= args.kill_at <= 0.9:
        parser.error("--kill-at must be between 0.1 and 0.9")
    if not 2 <= args.replicas <= 8 or not 1 <= args.workers <= 6:
        parser.error("--replicas 2..8, --workers 1..6")
    if args.record and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,60}", args.record):
        parser.error("--record NAME: lower-case letters, digits, '.', '_', '-'")
    return run_main(run, args)


def run(args) -> int:
    for var in ("KAFKA_BROKERS", "DATABASE_URL"):
        if not os.environ.get(var):
            raise Failure(f"{var} is not set: eval \"$(bash deploy/local/stack.sh env)\" first")
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise Failure("haproxy not found: apt-get install -y haproxy")
    binaries = built(Path(args.build).resolve(), {"loadgen": "loadtest/loadgen"})
    scenario = Path(args.scenario).resolve()
    document = json.loads(scenario.read_text())
    if document.get("triggers"):
        raise Failure(f"{scenario.name} has triggers; this run has no scheduler (events only)")

    # One run at a time: two would share the machine's ports and cores, not the data.
    lock_path = ROOT / ".local" / "run" / "replicas.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(lock_path, "w")
    waited = time.monotonic()
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() - waited > 900:
                raise Failure(f"another run holds {lock_path} for 15 min")
            if time.monotonic() - waited < 1:
                say(f"  waiting for another run to finish ({lock_path})")
            time.sleep(1)

    run_id = dt.datetime.now(dt.timezone.utc).strftime("%m%d%H%M%S") + secrets.token_hex(2).upper()
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    state = Run(args=args, run_id=run_id, team=f"TRP{run_id}", topic=f"replicas-{run_id.lower()}",
                seed=seed, log_dir=ROOT / ".local" / "run" / f"replicas-{run_id}",
                out=Path(args.out).resolve() / f"{scenario.stem}-{run_id}")
    state.log_dir.mkdir(parents=True, exist_ok=True)
    state.out.mkdir(parents=True, exist_ok=True)

    # The plan, as loadgen will run it.
    dry = subprocess.run([str(binaries["loadgen"]), "--scenario", str(scenario), "--scale",
                          str(args.scale), "--dry-run"], capture_output=True, text=True, timeout=30)
    plan = re.search(r'": (\d+) requests from ([\d.]+) s to ([\d.]+) s', dry.stdout)
    limit = re.search(r"time limit (\d+) s", dry.stdout)
    if dry.returncode != 0 or not plan or not limit or len(document.get("events", [])) != 1:
        raise Failure(f"loadgen --dry-run: one events phase expected:\n{dry.stdout}{dry.stderr}")
    requests, sending_s = int(plan.group(1)), float(plan.group(3))
    time_limit_s = int(limit.group(1))

    # Every wait below has its own deadline; this one bounds them all.
    budget = 120 + 60 + time_limit_s + args.drain_timeout + 120

    def out_of_time(_signum, _frame):
        raise Failure(f"the run's deadline ({budget:.0f} s) passed")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(budget))

    say(f"Ingest behind HAProxy, one replica killed: {document.get('name', scenario.stem)}"
        f"{'' if args.scale == 1 else f' at scale {args.scale:g}'}")
    step("plan", f"{n(requests)} events over {sending_s:.1f} s, {args.replicas} ingest replicas, "
                 f"{args.workers} worker(s); time limit {time_limit_s} s, whole run at most "
                 f"{budget:.0f} s")
    step("run", f"{run_id}: team {state.team}, topic {state.topic}, seed {seed}")
    step("logs", str(state.log_dir.relative_to(ROOT)))
    processes = Processes(state.log_dir)
    topic_created = False
    try:
        events_topic = slack_events_topic()
        started = time.monotonic()
        topic_command("--create", "--topic", state.topic,
                      "--partitions", str(events_topic["partitions"]), "--replication-factor", "1",
                      "--config", f"max.message.bytes={events_topic['max_message_bytes']}")
        topic_created = True
        step("topic", f"{state.topic}: {events_topic['partitions']} partitions, as slack-events "
                      f"({time.monotonic() - started:.1f} s)")
        return run_with_topic(state, binaries, haproxy, processes, scenario, requests, sending_s,
                              time_limit_s)
    finally:
        signal.alarm(0)
        unclean = processes.stop_all()
        if unclean:
            say(f"  note: did not exit cleanly on SIGTERM: {', '.join(unclean)}")
        if topic_created:
            try:
                topic_command("--delete", "--topic", state.topic)
            except Failure as failure:
                say(f"  note: topic {state.topic} not deleted: {failure}")
        lock.close()


def run_with_topic(state: Run, binaries, haproxy: str, processes: Processes, scenario: Path,
                   requests: int, sending_s: float, time_limit_s: int) -> int:
    args = state.args
    level = os.environ.get("TRACKER_LOG_LEVEL", "warn")
    secret = secrets.token_hex(16)
    started = time.monotonic()
    # Consumers first, so that the group has formed by the time events arrive.
    for i in range(args.workers):
        port = free_port()
        state.worker_ports.append(port)
        processes.start(f"worker-{i + 1}", [str(binaries["worker"])], {
            "TRACKER_LOG_LEVEL": level, "TRACKER_OPS_PORT": str(port),
            "TRACKER_WORKER_TOPIC": state.topic, "TRACKER_WORKER_GROUP": state.topic,
            "TRACKER_ALLOWED_TEAM_IDS": state.team})
    for i in range(args.replicas):
        replica = Replica(f"ingest-{i + 1}", free_port(), free_port())
        replica.process = processes.start(replica.name, [str(binaries["ingest"])], {
            "TRACKER_LOG_LEVEL": level, "SLACK_SIGNING_SECRET": secret,
            "TRACKER_INGEST_TOPIC": state.topic, "TRACKER_INGEST_ADDRESS": "127.0.0.1",
            "TRACKER_INGEST_PORT": str(replica.port), "TRACKER_OPS_PORT": str(replica.ops_port)})
        state.replicas.append(replica)
    for i, port in enumerate(state.worker_ports):
        wait_ready(processes, f"worker-{i + 1}", port)
    for replica in state.replicas:
        wait_ready(processes, replica.name, replica.ops_port)

    frontend, stats_port = free_port(), free_port()
    config = haproxy_config(Path(args.template), frontend, stats_port, state.replicas)
    config_path = state.log_dir / "haproxy.cfg"
    config_path.write_text(config)
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config_path)], capture_output=True,
                           text=True, timeout=30)
    if check.returncode != 0:
        raise Failure(f"haproxy -c -f {config_path}:\n{check.stdout}{check.stderr}")
    proxy = processes.start("haproxy", [haproxy, "-db", "-f", str(config_path)], {})
    deadline = time.monotonic() + 20
    while True:
        processes.check_alive()
        try:
            rows = haproxy_stats(stats_port)
            if all(rows.get(r.name, {}).get("status") == "UP" for r in state.replicas):
                break
        except (OSError, Failure):
            pass
        if time.monotonic() > deadline:
            raise Failure("HAProxy did not report every replica UP within 20 s")
        time.sleep(0.1)
    step("pipeline", f"HAProxy :{frontend} -> " +
         ", ".join(f"{r.name} :{r.port} (ops :{r.ops_port})" for r in state.replicas) +
         f"; stats and /metrics on :{stats_port}; ready in {time.monotonic() - started:.1f} s")

    # The replica to kill, and when (seconds after loadgen's start).
    rng = random.Random(state.seed)
    victim = rng.choice(state.replicas)
    fraction = args.kill_at + rng.uniform(-0.05, 0.05)
    kill = Kill(victim="" if args.no_kill else victim.name, planned_s=round(fraction * sending_s, 3))
    if args.no_kill:
        step("no kill", f"control run: before and after split {kill.planned_s:.2f} s into the run")
    else:
        step("kill", f"SIGKILL to {victim.name} {kill.planned_s:.2f} s into the run "
                     f"({fraction * 100:.1f} % of its {sending_s:.1f} s of sending)")

    loadgen_out = state.out / "loadgen"
    loadgen_argv = [str(binaries["loadgen"]), "--scenario", str(scenario),
                    "--scale", f"{args.scale:g}", "--ingest", f"127.0.0.1:{frontend}",
                    "--team", state.team, "--out", str(loadgen_out), "--progress-every", "0"]
    say()
    loadgen_log = state.log_dir / "loadgen.log"
    with open(loadgen_log, "wb") as log:
        loadgen = subprocess.Popen(loadgen_argv, env=dict(os.environ, SLACK_SIGNING_SECRET=secret),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    loadgen_started = time.monotonic()
    state.load_before = os.getloadavg()[0]
    try:
        watch_run(state, processes, loadgen, loadgen_started, kill, stats_port, time_limit_s)
    finally:
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()
    say(loadgen_log.read_text(errors="replace").rstrip())
    if loadgen.returncode != 0:
        raise Failure(f"loadgen exited with status {loadgen.returncode} (its output above)")
    final_stats = haproxy_stats(stats_port)
    status, prom = http_request(stats_port, "GET", "/metrics", timeout=10)
    dropped = re.search(rb"^haproxy_process_dropped_logs_total (\S+)", prom, re.M)
    dropped_logs = int(float(dropped.group(1))) if status == 200 and dropped else -1
    say()
    return verify(state, processes, kill, final_stats, dropped_logs, proxy, loadgen_out, config,
                  loadgen_argv)


def watch_run(state: Run, processes: Processes, loadgen: subprocess.Popen, started: float,
              kill: Kill, stats_port: int, time_limit_s: int) -> None:
    """Until loadgen ends: the proxy's stats every 0.5 s (every 50 ms around the kill), the
    kill at its moment, a progress line every 10 s."""
    victim = next((r for r in state.replicas if r.name == kill.victim), None)
    next_stats = 0.0
    next_progress = 10.0
    while loadgen.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > time_limit_s + 60:
            raise Failure(f"loadgen still running {time_limit_s + 60} s after its start")
        processes.check_alive()
        if not kill.at_us and elapsed >= kill.planned_s:
            if victim is None:
                kill.at_us = kill.dead_us = now_us()
            else:
                do_kill(state, processes, victim, kill, stats_port)
            next_stats = elapsed
        if elapsed >= next_stats:
            try:
                rows = haproxy_stats(stats_port)
            except (OSError, Failure):
                rows = {}
            sample = {"t_us": now_us()}
            for r in state.replicas:
                sample[r.name] = {k: rows.get(r.name, {}).get(k, "") for k in
                                  ("status", "scur", "qcur", "hrsp_2xx", "hrsp_5xx", "wretr",
                                   "wredis", "econ", "eresp", "used_conn_cur", "idle_conn_cur")}
                if not kill.at_us and r.name == kill.victim:
                    kill.proxy_current_max = max(kill.proxy_current_max, stat(rows, r.name, "scur"))
            sample["frontend_scur"] = rows.get("FRONTEND", {}).get("scur", "")
            state.stats_series.append(sample)
            if kill.at_us and not kill.down_us and \
                    rows.get(kill.victim, {}).get("status", "").startswith(("DOWN", "MAINT")):
                kill.down_us = sample["t_us"]
            fast = kill.victim and kill.at_us and not kill.down_us
            next_stats = elapsed + (0.05 if fast else 0.5)
            if elapsed >= next_progress:
                next_progress += 10
                parts = [f"{r.name} {sample[r.name]['status']} 2xx {sample[r.name]['hrsp_2xx']} "
                         f"in progress {sample[r.name]['scur']}" for r in state.replicas]
                step(f"{elapsed:5.0f} s", "; ".join(parts) +
                     f"; client connections {sample['frontend_scur']}")
        time.sleep(0.02)
    if not kill.at_us:
        raise Failure(f"loadgen ended {time.monotonic() - started:.1f} s after its start, before "
                      f"the kill at {kill.planned_s:.2f} s")


def do_kill(state: Run, processes: Processes, victim: Replica, kill: Kill, stats_port: int) -> None:
    """Reads what the victim has open (the proxy's view, then its own), then SIGKILL."""
    try:
        rows = haproxy_stats(stats_port)
        kill.proxy_current = stat(rows, victim.name, "scur")
        kill.proxy_current_max = max(kill.proxy_current_max, kill.proxy_current)
    except (OSError, Failure):
        pass
    try:
        own = metrics(victim.ops_port)
        kill.open_connections = total(own, "tracker_http_open_connections")
        kill.in_flight = total(own, "tracker_http_requests_in_flight")
    except (OSError, Failure):
        pass
    kill.at_us = now_us()
    os.kill(victim.process.popen.pid, signal.SIGKILL)
    victim.process.popen.wait(timeout=10)
    kill.dead_us = now_us()
    processes.running.remove(victim.process)  # gone on purpose: not a failure, not to be stopped
    step("killed", f"{victim.name} (pid {victim.process.popen.pid}) at "
                   f"{dt.datetime.fromtimestamp(kill.at_us / 1e6):%H:%M:%S.%f}"[:-3] +
         f"; just before: connections open to it {kill.open_connections}, requests in "
         f"progress in it {kill.in_flight}, HAProxy's scur {kill.proxy_current}; "
         f"reaped {(kill.dead_us - kill.at_us) / 1000:.1f} ms later")


# ---------------------------------------------------------------------------------------------
# Checks and report


def wait_for_rows(state: Run, acknowledged: set[str], processes: Processes) -> tuple[dict, float]:
    """Polls study_logs for the run's team until every acknowledged event_id is there and the
    worker has consumed its topic to the end (or nothing changes for 20 s, or the deadline)."""
    started = time.monotonic()
    last_count, last_change = -1, started
    while True:
        processes.check_alive()
        count = int(psql(f"SELECT count(*) FROM study_logs WHERE team_id = '{state.team}'")[0][0])
        lag = 0
        for port in state.worker_ports:
            try:
                lag += total(metrics(port), "tracker_worker_consumer_lag_messages")
            except (OSError, Failure):
                lag = -1
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        settled = lag == 0 and time.monotonic() - last_change > 1
        if count >= len(acknowledged) and settled:
            break
        if time.monotonic() - last_change > 20 or \
                time.monotonic() - started > state.args.drain_timeout:
            break
        time.sleep(0.5)
    took = time.monotonic() - started
    rows = psql(f"SELECT event_id, count(*) FROM study_logs WHERE team_id = '{state.team}' "
                f"GROUP BY event_id")
    return {event_id: int(c) for event_id, c in rows}, took


def loadgen_samples(path: Path) -> list[tuple[int, float, bool, str]]:
    """samples.csv: (intended send time in ms since the epoch, latency in ms, success, what
    failed: the status or the transport error)."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.append((int(row["timeStamp"]), float(row["elapsed"]), row["success"] == "true",
                        row["failureMessage"] or row["responseCode"]))
    return out


def verify(state: Run, processes: Processes, kill: Kill, final_stats: dict, dropped_logs: int,
           proxy: Process, loadgen_out: Path, config: str, loadgen_argv: list[str]) -> int:
    result = json.loads((loadgen_out / "result.json").read_text())
    row = result["rows"][0]
    prefix = f"EvLOAD{result['run_id']}"
    sent = {f"{prefix}{seq:09d}" for seq in range(row["samples"])}
    ledger, proxy_events = read_ledger(proxy.log_path)
    by_id = {}
    duplicates_in_ledger = 0
    without_event = [line for line in ledger if not line.event_id.startswith("Ev")]
    for line in ledger:
        if line in without_event:
            continue
        duplicates_in_ledger += line.event_id in by_id
        by_id[line.event_id] = line
    acknowledged = {e for e, line in by_id.items() if line.status == 200}
    survivors = {r.name for r in state.replicas} - {kill.victim}

    step("drain", "waiting for the worker to store what was acknowledged")
    rows, took = wait_for_rows(state, acknowledged, processes)
    processed = int(psql(f"SELECT count(*) FROM processed_events "
                         f"WHERE event_id LIKE '{prefix}%'")[0][0])
    worker_m = [metrics(p) for p in state.worker_ports]
    worker_duplicates = sum(total(m, "tracker_worker_events_duplicate_total") for m in worker_m)
    worker_consumed = sum(total(m, "tracker_worker_events_consumed_total") for m in worker_m)

    missing = sorted(acknowledged - rows.keys())
    doubled = sorted(e for e, c in rows.items() if c > 1)
    unknown_rows = sorted(rows.keys() - sent)
    failed = [line for line in by_id.values() if line.status != 200]
    rows_of_failed = len((rows.keys() & sent) - acknowledged)
    never_logged = len(sent - by_id.keys())
    loadgen_ok = row["samples"] - row["failures"]
    failures_by_kind: dict[str, int] = {}
    for line in failed:
        status = line.status if line.status > 0 else "no status"
        kind = f"{status} {line.termination} from {line.server}"
        failures_by_kind[kind] = failures_by_kind.get(kind, 0) + 1
    if never_logged:
        failures_by_kind["closed without an answer, not logged"] = never_logged
    in_flight_at_kill = [line for line in failed
                         if line.server == kill.victim and line.request_us <= kill.dead_us
                         and line.logged_us >= kill.at_us]
    after = [line for line in by_id.values() if line.request_us > kill.dead_us]
    after_bad = [line for line in after if line.status != 200 or line.server not in survivors]
    retried = sum(1 for line in by_id.values() if line.retries not in ("0", "+0"))
    redispatched = sum(1 for line in by_id.values() if line.retries.startswith("+"))

    samples = loadgen_samples(loadgen_out / "samples.csv")
    kill_ms = kill.at_us // 1000
    # loadgen's side of the failures: each must have been sent before the kill and ended after
    # it (whole milliseconds, from the intended send time: 2 ms either way for the rounding).
    client_failed = [x for x in samples if not x[2]]
    client_spanning = [x for x in client_failed
                       if x[0] - 2 <= kill.dead_us / 1000 and x[0] + x[1] + 2 >= kill_ms]
    client_causes: dict[str, int] = {}
    for x in client_failed:
        client_causes[x[3]] = client_causes.get(x[3], 0) + 1
    before_lat = sorted(s[1] for s in samples if s[0] < kill_ms)
    after_lat = sorted(s[1] for s in samples if s[0] >= kill_ms)
    window_lat = sorted(s[1] for s in samples if kill_ms <= s[0] < kill_ms + 2000)
    bound = max(kill.open_connections, kill.proxy_current)
    # The proxy's view, to the microsecond: from the whole request in hand to the answer sent.
    proxy_before = sorted((l.logged_us - l.request_us) / 1000 for l in by_id.values()
                          if l.request_us < kill.at_us)
    proxy_after = sorted((l.logged_us - l.request_us) / 1000 for l in by_id.values()
                         if l.request_us >= kill.at_us)

    frontend_requests = stat(final_stats, "FRONTEND", "req_tot")
    failure_checks = [
        ("failures were in progress on the killed replica",
         len(in_flight_at_kill) == len(failed) and len(client_spanning) == len(client_failed),
         f"answered with an error by the proxy: {len(failed)}, of them sent to {kill.victim} "
         f"before it died and not answered by then: {len(in_flight_at_kill)}; closed without an "
         f"answer: {never_logged}; failures loadgen saw: {len(client_failed)} "
         f"({', '.join(f'{k} {v}' for k, v in sorted(client_causes.items())) or 'none'}), of "
         f"them sent before the kill and ended after it: {len(client_spanning)}"),
        ("no more failures than connections open to it", len(failed) + never_logged <= max(bound, 0),
         f"failures: {len(failed) + never_logged}; just before the kill, connections open to "
         f"{kill.victim}: {kill.open_connections} (its own gauge), requests in progress on it: "
         f"{kill.proxy_current} (HAProxy)"),
        ("after the kill: all 200, all on survivors", not after_bad,
         f"{n(len(after))} requests reached the proxy after {kill.victim} was gone; "
         f"{len(after_bad)} of them failed or went to it"),
    ] if kill.victim else [
        ("no failures (no replica killed)", not failed and never_logged == 0,
         f"failures: {len(failed) + never_logged}"),
    ]
    checks = [
        ("every 200 is a row", not missing, f"{len(missing)} acknowledged event_ids without a row"
                                            + (f" (first: {', '.join(missing[:5])})" if missing else "")),
        ("no row doubled", not doubled and processed == len(rows),
         f"{len(doubled)} event_ids with more than one row; processed_events holds {n(processed)} "
         f"of the run's ids for {n(len(rows))} rows"),
        ("no row that was not sent", not unknown_rows, f"{len(unknown_rows)} rows with an event_id "
                                                       f"loadgen never sent"),
        # HAProxy does not log a request it closes without an answer because its kept-alive
        # connection to the replica broke (http_ana.c, abort_keep_alive: "the client is required
        # to retry"); it counts it though, so those are the only lines that may be missing.
        ("the ledger is complete", duplicates_in_ledger == 0 and dropped_logs == 0
         and not without_event and len(ledger) + never_logged == row["samples"]
         and frontend_requests == row["samples"],
         f"{n(len(ledger))} lines for {n(row['samples'])} requests ({never_logged} counted by the "
         f"proxy but not logged: closed without an answer; {duplicates_in_ledger} logged twice, "
         f"{len(without_event)} without an event_id, {dropped_logs} dropped by the proxy, "
         f"{n(frontend_requests)} requests counted by it)"),
        ("loadgen agrees", loadgen_ok == len(acknowledged) and not result.get("time_limit_hit"),
         f"loadgen counted {n(loadgen_ok)} successes, the ledger {n(len(acknowledged))} 200s"),
        *failure_checks,
    ]

    per_replica = {r.name: {"2xx": stat(final_stats, r.name, "hrsp_2xx"),
                            "5xx": stat(final_stats, r.name, "hrsp_5xx"),
                            "connect_errors": stat(final_stats, r.name, "econ"),
                            "response_errors": stat(final_stats, r.name, "eresp"),
                            "retries": stat(final_stats, r.name, "wretr"),
                            "redispatches": stat(final_stats, r.name, "wredis"),
                            "status": final_stats.get(r.name, {}).get("status", "?")}
                   for r in state.replicas}
    summary = {
        "run_id": state.run_id, "team": state.team, "topic": state.topic, "seed": state.seed,
        "scenario": result["scenario"], "scale": state.args.scale,
        "replicas": len(state.replicas), "workers": len(state.worker_ports),
        "command": "python3 " + " ".join(shlex.quote(a) for a in command_line(state)),
        "loadgen": {"run_id": result["run_id"], "argv": loadgen_argv[1:], "samples": row["samples"],
                    "failures": row["failures"], "failures_by_cause": row["failures_by_cause"],
                    "latency_ms": row["latency_ms"], "throughput_per_s": row["throughput_per_s"],
                    "wall_s": result["wall_s"], "started_unix_ms": result["started_unix_ms"]},
        "kill": {"victim": kill.victim, "planned_s": kill.planned_s,
                 "at_s": round((kill.at_us / 1000 - result["started_unix_ms"]) / 1000, 3),
                 "reaped_ms": round((kill.dead_us - kill.at_us) / 1000, 2),
                 "taken_out_after_ms":
                     round((kill.down_us - kill.at_us) / 1000) if kill.down_us else None,
                 "open_connections": kill.open_connections, "in_flight": kill.in_flight,
                 "proxy_in_progress": kill.proxy_current,
                 "proxy_in_progress_max_before": kill.proxy_current_max},
        "client_failures": client_causes,
        "requests": row["samples"], "answered_200": len(acknowledged),
        "failures": len(failed) + never_logged, "failures_by_kind": failures_by_kind,
        "rows_found": len(rows), "rows_of_acknowledged": len(acknowledged & rows.keys()),
        "rows_of_failed": rows_of_failed, "missing": len(missing), "doubled": len(doubled),
        "unknown_rows": len(unknown_rows), "processed_events": processed,
        "worker": {"consumed": worker_consumed, "duplicates": worker_duplicates,
                   "drain_s": round(took, 1)},
        "proxy": {"retried": retried, "redispatched": redispatched, "dropped_logs": dropped_logs,
                  "per_replica": per_replica, "events": proxy_events[:40]},
        "latency_ms": {"before": spread(before_lat), "after": spread(after_lat),
                       "first_2s_after": spread(window_lat), "proxy_before": spread(proxy_before),
                       "proxy_after": spread(proxy_after)},
        "timeline": timeline(samples, by_id, result["started_unix_ms"], kill,
                             [r.name for r in state.replicas]),
        "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks],
        "ok": all(ok for _, ok, _ in checks),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": {"before": round(state.load_before, 2), "after": round(os.getloadavg()[0], 2),
                         "cores": os.cpu_count()},
    }
    report = report_markdown(summary)
    say(report)
    write_run(state, summary, report, by_id, rows, config, proxy, loadgen_out)
    if not summary["ok"]:
        raise Failure("checks failed: " + ", ".join(c for c, ok, _ in checks if not ok))
    say("OK: every request answered 200 is exactly one row; " +
        ("the only failures were in progress on the killed replica" if kill.victim else
         "no failures (no replica killed)"))
    return 0


def timeline(samples: list[tuple[int, float, bool, str]], by_id: dict, start_ms: int, kill: Kill,
             replicas: list[str]) -> list[dict]:
    """The run in about a dozen windows: requests by intended send time, failures, loadgen's
    p50/p99/max, and which replica the proxy sent them to."""
    if not samples:
        return []
    end_s = max(s[0] for s in samples) / 1000 - start_ms / 1000
    width = max(1.0, math.ceil(end_s / 12))
    windows: dict[int, dict] = {}
    for stamp, latency, ok, _ in samples:
        w = windows.setdefault(int((stamp - start_ms) / 1000 // width),
                               {"latencies": [], "failed": 0, "replicas": {}})
        w["latencies"].append(latency)
        w["failed"] += not ok
    for line in by_id.values():
        key = int((line.request_us / 1000 - start_ms) / 1000 // width)
        if key in windows:
            counts = windows[key]["replicas"]
            counts[line.server] = counts.get(line.server, 0) + 1
    kill_s = (kill.at_us / 1000 - start_ms) / 1000
    rows = []
    for key in sorted(windows):
        w = windows[key]
        latencies = sorted(w["latencies"])
        rows.append({"from_s": key * width, "to_s": (key + 1) * width, "requests": len(latencies),
                     "failed": w["failed"], "p50": percentile(latencies, 50),
                     "p99": percentile(latencies, 99), "max": latencies[-1],
                     "replicas": {r: w["replicas"].get(r, 0) for r in replicas},
                     "kill": key * width <= kill_s < (key + 1) * width and bool(kill.victim)})
    return rows


def timeline_markdown(rows: list[dict], replicas: list[str]) -> str:
    out = ["| intended send time (s) | requests | failed | p50 | p99 | max (ms) | " +
           " | ".join(replicas) + " |",
           "|---|---:|---:|---:|---:|---:|" + "---:|" * len(replicas)]
    for r in rows:
        out.append(f"| {r['from_s']:.0f}-{r['to_s']:.0f}{' (kill)' if r['kill'] else ''} | "
                   f"{n(r['requests'])} | {r['failed']} | {ms(r['p50'])} | {ms(r['p99'])} | "
                   f"{ms(r['max'])} | " + " | ".join(n(r["replicas"][x]) for x in replicas) + " |")
    return "\n".join(out) + "\n"


def command_line(state: Run) -> list[str]:
    a = state.args
    argv = ["loadtest/replicas/run_replicas.py"]
    if Path(a.scenario).resolve() != ROOT / "loadtest" / "scenarios" / "sc1.json":
        argv += ["--scenario", os.path.relpath(Path(a.scenario).resolve(), ROOT)]
    if a.scale != 1:
        argv += ["--scale", f"{a.scale:g}"]
    if a.kill_at != 0.4:
        argv += ["--kill-at", f"{a.kill_at:g}"]
    if a.no_kill:
        argv += ["--no-kill"]
    argv += ["--seed", str(state.seed)]
    if a.replicas != 2:
        argv += ["--replicas", str(a.replicas)]
    if a.workers != 1:
        argv += ["--workers", str(a.workers)]
    if Path(a.template).resolve() != TEMPLATE:
        argv += ["--template", os.path.relpath(Path(a.template).resolve(), ROOT)]
    if a.record:
        argv += ["--record", a.record]
    return argv


def report_markdown(s: dict) -> str:
    lat = s["latency_ms"]
    kinds = "; ".join(f"{k}: {v}" for k, v in sorted(s["failures_by_kind"].items())) or "none"
    k = s["kill"]
    scale = "" if s["scale"] == 1 else f" at scale {s['scale']:g}"
    killed = (f"{k['victim']} SIGKILLed {k['at_s']:.2f} s into the run" if k["victim"] else
              f"no replica killed (control run; before/after split at {k['at_s']:.2f} s)")
    lines = [
        f"{s['scenario']}{scale}"
        f" through HAProxy to {s['replicas']} ingest replicas, {killed} "
        f"(run {s['run_id']}, seed {s['seed']}, {s['date']}; the machine's load average "
        f"{s['load_average']['before']:.1f} as it started and {s['load_average']['after']:.1f} "
        f"after, on {s['load_average']['cores']} cores)",
        "",
        "| requests | 200s | failures | failures by kind | rows found | missing | doubled | "
        "p50 / p99 before kill (ms) | p50 / p99 after kill (ms) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
        f"| {n(s['requests'])} | {n(s['answered_200'])} | {n(s['failures'])} | {kinds} | "
        f"{n(s['rows_found'])} | {s['missing']} | {s['doubled']} | "
        f"{ms(lat['before']['p50'])} / {ms(lat['before']['p99'])} | "
        f"{ms(lat['after']['p50'])} / {ms(lat['after']['p99'])} |",
        "",
        (f"- Just before the kill: connections open to {k['victim']} {k['open_connections']} (its "
         f"tracker_http_open_connections), requests in progress in it {k['in_flight']} (its "
         f"tracker_http_requests_in_flight), HAProxy's scur for it {k['proxy_in_progress']} (at most {k['proxy_in_progress_max_before']} in the run "
         f"before); reaped {k['reaped_ms']} ms after the signal; HAProxy had it out of rotation "
         + (f"{k['taken_out_after_ms']} ms after the signal." if k["taken_out_after_ms"] is not None
            else "(not seen in the stats polls).")) if k["victim"] else
        "- No replica killed: a control run for the latencies.",
        f"- Rows: {n(s['rows_of_acknowledged'])} for the {n(s['answered_200'])} acknowledged "
        f"events, {s['rows_of_failed']} for requests that failed"
        + (" (published before the replica died, never acknowledged: Slack would retry them and "
           "the worker would skip the copy)" if s["rows_of_failed"] else "") +
        f"; processed_events {n(s['processed_events'])}; worker consumed {n(s['worker']['consumed'])},"
        f" duplicates {s['worker']['duplicates']}; all stored {s['worker']['drain_s']} s after "
        f"loadgen ended.",
        f"- Proxy: requests retried after a failed connect: {s['proxy']['retried']} (on another "
        f"replica: {s['proxy']['redispatched']}); log lines dropped: {s['proxy']['dropped_logs']}; per replica (2xx / 5xx / connect errors / response errors / retries / "
        f"redispatches / state at the end): "
        + "; ".join(f"{name} {v['2xx']:,} / {v['5xx']} / {v['connect_errors']} / "
                    f"{v['response_errors']} / {v['retries']} / {v['redispatches']} / {v['status']}"
                    for name, v in s["proxy"]["per_replica"].items()) + ".",
        f"- Latency (loadgen, from each request's intended send time): before the kill "
        f"{n(lat['before']['requests'])} requests, p50 {ms(lat['before']['p50'])}, p99 "
        f"{ms(lat['before']['p99'])}, max {ms(lat['before']['max'])}; after "
        f"{n(lat['after']['requests'])}, p50 {ms(lat['after']['p50'])}, p99 "
        f"{ms(lat['after']['p99'])}, max {ms(lat['after']['max'])}; in the 2 s after the kill "
        f"{n(lat['first_2s_after']['requests'])}, p50 {ms(lat['first_2s_after']['p50'])}, p99 "
        f"{ms(lat['first_2s_after']['p99'])}, max {ms(lat['first_2s_after']['max'])} (whole "
        f"milliseconds: samples.csv has no finer). At the proxy (whole request received to answer "
        f"sent, µs clock): before p50 {ms(lat['proxy_before']['p50'])}, p99 "
        f"{ms(lat['proxy_before']['p99'])}, max {ms(lat['proxy_before']['max'])}; after p50 "
        f"{ms(lat['proxy_after']['p50'])}, p99 {ms(lat['proxy_after']['p99'])}, max "
        f"{ms(lat['proxy_after']['max'])}. loadgen's "
        f"table over the whole run: p50 {ms(s['loadgen']['latency_ms']['median'])}, p99 "
        f"{ms(s['loadgen']['latency_ms']['p99'])}, {s['loadgen']['throughput_per_s']:.1f} "
        f"requests/s.",
        "",
        "Checks:",
    ]
    for c in s["checks"]:
        lines.append(f"- {'ok' if c['ok'] else 'FAILED'}: {c['check']}: {c['detail']}")
    if s.get("timeline"):
        lines += ["", "Over the run (loadgen's latencies by intended send time, whole ms; the "
                      "replica columns count what the proxy sent to each):", "",
                  timeline_markdown(s["timeline"], list(s["proxy"]["per_replica"]))]
    return "\n".join(lines).rstrip() + "\n"


def write_run(state: Run, summary: dict, report: str, by_id: dict, rows: dict, config: str,
              proxy: Process, loadgen_out: Path) -> None:
    out = state.out
    base_us = summary["loadgen"]["started_unix_ms"] * 1000

    def since_start(us: int) -> str:
        return f"{(us - base_us) / 1000:.3f}" if us else ""

    (out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "haproxy.cfg").write_text(config)
    with open(out / "ledger.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "request_ms", "answered_ms", "status", "replica", "termination",
                    "retries", "queue_ms", "connect_ms", "response_ms", "total_ms", "rows"])
        for event_id in sorted(by_id):
            line = by_id[event_id]
            w.writerow([event_id, since_start(line.request_us), since_start(line.logged_us),
                        line.status, line.server, line.termination, line.retries, *line.times,
                        rows.get(event_id, 0)])
    with open(out / "proxy-stats.csv", "w", newline="") as f:
        w = csv.writer(f)
        columns = ["status", "scur", "qcur", "hrsp_2xx", "hrsp_5xx", "wretr", "wredis", "econ",
                   "eresp", "used_conn_cur", "idle_conn_cur"]
        w.writerow(["t_us", "client_connections"] +
                   [f"{r.name}_{c}" for r in state.replicas for c in columns])
        for sample in state.stats_series:
            w.writerow([sample["t_us"], sample["frontend_scur"]] +
                       [sample[r.name][c] for r in state.replicas for c in columns])
    (out / "haproxy.log.txt").write_text("\n".join(summary["proxy"]["events"]) + "\n")
    readme = run_readme(state, summary, report, recorded=False)
    (out / "README.md").write_text(readme)
    say(f"  written: {os.path.relpath(out, ROOT)}/")
    if state.args.record:
        record(state, summary, out)


LEDGER_COLUMNS = ("`request_ms` and `answered_ms` count from loadgen's start "
                  "(`loadgen.started_unix_ms` in result.json); `retries` `+1`: retried on another "
                  "replica after a refused connect; `termination` `SH`: the replica's connection "
                  "broke before it answered; `rows`: rows found for the event_id")
EXCERPT_WINDOW_MS = 250


def run_readme(state: Run, summary: dict, report: str, recorded: bool) -> str:
    if recorded:
        ledger = (f"`ledger-excerpt.csv` (from the run's full ledger, one row per request as the "
                  f"proxy logged it: every request that was not a 200 with one row and no retry, "
                  f"and every request within {EXCERPT_WINDOW_MS} ms of the kill; {LEDGER_COLUMNS})")
        loadgen = "`loadgen/` (loadgen's table and per-second series)"
    else:
        ledger = f"`ledger.csv` (one row per request as the proxy logged it; {LEDGER_COLUMNS})"
        loadgen = "`loadgen/` (loadgen's table, samples and plots)"
    return (f"# Ingest replicas behind HAProxy: run {state.run_id}\n\n"
            f"```sh\neval \"$(bash deploy/local/stack.sh env)\"\n{summary['command']}\n```\n\n"
            + report +
            f"\nFiles: `result.json` (all of the above), {ledger}, `proxy-stats.csv` (HAProxy's "
            f"stats every 0.5 s, every 50 ms from the kill until it had the replica out), "
            f"`haproxy.cfg` (the configuration used), `haproxy.log.txt` (the proxy's lines other "
            f"than the ledger), {loadgen}.\n")


def record(state: Run, summary: dict, out: Path) -> None:
    """Copies the run to loadtest/results/replicas/NAME, small enough to keep in the repository
    (an excerpt of the ledger; loadgen's table and series without its samples and plots), and
    rewrites the recorded runs' table there."""
    target = RESULTS / state.args.record
    if target.exists():
        shutil.rmtree(target)
    (target / "loadgen").mkdir(parents=True)
    for name in ("result.json", "haproxy.cfg", "proxy-stats.csv", "haproxy.log.txt"):
        shutil.copy(out / name, target / name)
    kill_ms = summary["kill"]["at_s"] * 1000
    with open(out / "ledger.csv", newline="") as src, \
            open(target / "ledger-excerpt.csv", "w", newline="") as dst:
        reader, writer = csv.DictReader(src), None
        for row in reader:
            if writer is None:
                writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
                writer.writeheader()
            plain = row["status"] == "200" and row["retries"] == "0" and row["rows"] == "1"
            near = summary["kill"]["victim"] and row["request_ms"] and \
                abs(float(row["request_ms"]) - kill_ms) <= EXCERPT_WINDOW_MS
            if not plain or near:
                writer.writerow(row)
    for name in ("summary.md", "summary.csv", "series.csv", "result.json"):
        if (out / "loadgen" / name).is_file():
            shutil.copy(out / "loadgen" / name, target / "loadgen" / name)
    (target / "README.md").write_text(run_readme(state, summary, report_markdown(summary),
                                                 recorded=True))
    update_index()
    say(f"  recorded: {os.path.relpath(target, ROOT)}/ and its line in "
        f"{os.path.relpath(RESULTS / 'README.md', ROOT)}")


def update_index() -> None:
    """The table of recorded runs in loadtest/results/replicas/README.md, between its markers."""
    index = RESULTS / "README.md"
    text = (index.read_text() if index.is_file()
            else f"# Ingest replicas behind HAProxy\n\n{RUNS_BEGIN}\n{RUNS_END}\n")
    if RUNS_BEGIN not in text or RUNS_END not in text:
        text = text.rstrip() + f"\n\n{RUNS_BEGIN}\n{RUNS_END}\n"
    lines = ["| run | scale | date | requests | 200s | failures (kind) | rows | missing | doubled | "
             "killed | open to it | p50 / p99 before (ms) | p50 / p99 after (ms) | load avg | checks |",
             "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for path in sorted(RESULTS.glob("*/result.json")):
        s = json.loads(path.read_text())
        lat = s["latency_ms"]
        kinds = "; ".join(f"{v} {k}" for k, v in sorted(s["failures_by_kind"].items())) or "-"
        lines.append(
            f"| [{path.parent.name}]({path.parent.name}/README.md) | {s['scale']:g} | {s['date'][:10]} | "
            f"{n(s['requests'])} | {n(s['answered_200'])} | {s['failures']} ({kinds}) | "
            f"{n(s['rows_found'])} | {s['missing']} | {s['doubled']} | "
            + (f"{s['kill']['victim']} at {s['kill']['at_s']:.1f} s | {s['kill']['open_connections']} | "
               if s["kill"]["victim"] else "none (control) | - | ") +
            f"{ms(lat['before']['p50'])} / {ms(lat['before']['p99'])} | "
            f"{ms(lat['after']['p50'])} / {ms(lat['after']['p99'])} | "
            f"{s['load_average']['before']:.1f} | {'all met' if s['ok'] else 'FAILED'} |")
    begin = text.index(RUNS_BEGIN) + len(RUNS_BEGIN)
    end = text.index(RUNS_END)
    index.write_text(text[:begin] + "\n" + "\n".join(lines) + "\n" + text[end:])


if __name__ == "__main__":
    sys.exit(main())
