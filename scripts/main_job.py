#!/usr/bin/env python3
"""One day of a study channel through the whole pipeline, on this machine.

Starts the Slack and OpenAI simulators (unless real ones are configured) and the five services
against the running local stack, sends a day of signed study messages from five people (Korean
and English, with a thread, an edit, a deletion and a bot's reminder) through ingest, triggers
their daily summaries, and prints each summary as it was posted to Slack and what every stage
did. With the Slack simulator, the app runs too, and one person asks `/study week` and moves
with `/study settings tz`. Everything it started is stopped when it ends or is interrupted.

Usage: scripts/main_job.py [--build DIR] [--check] [--compose [ENV_FILE]]
Needs KAFKA_BROKERS and DATABASE_URL (eval "$(bash deploy/local/stack.sh env)").
--check: exit 1 unless every stage did what the day asks (used by scripts/test.sh).
--compose: starts nothing; sends the day through the compose stack of deploy/compose (already
up), via its reverse proxy, with the secrets and ports of its env file (deploy/compose/.env).
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 120  # the whole day, from the first event to the last post


# ---------------------------------------------------------------------------------------------
# Output


def say(text: str = "") -> None:
    print(text, flush=True)


def step(name: str, detail: str) -> None:
    say(f"  {name:<14} {detail}")


class Failure(Exception):
    """A stage that did not do what the day needs; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("      " + line[:300] for line in text[-lines:])


@dataclass
class Processes:
    log_dir: Path
    running: list[Process] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # removed by stop_all (target registrations)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env)
        popen = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        process = Process(name, popen, log_path)
        self.running.append(process)
        return process

    def check_alive(self) -> None:
        for p in self.running:
            code = p.popen.poll()
            if code is not None:
                raise Failure(f"{p.name} exited with status {code}; its log "
                              f"({p.log_path}):\n{p.tail()}")

    def stop_all(self) -> list[str]:
        """SIGTERM to the services at once, then, once they are gone, to the simulators they may
        still be talking to; SIGKILL for any that has not exited 20 s after its SIGTERM (the
        services' own shutdown grace is 10 s). Returns those that did not exit 0."""
        unclean = []
        simulators = [p for p in self.running if p.name.endswith("-sim")]
        services = [p for p in self.running if p not in simulators]
        for group in (services, simulators):
            for p in group:
                if p.popen.poll() is None:
                    p.popen.send_signal(signal.SIGTERM)
            until = time.monotonic() + 20
            for p in group:
                try:
                    code = p.popen.wait(timeout=max(0.1, until - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.popen.kill()
                    code = p.popen.wait()
                if code not in (0, -signal.SIGTERM):
                    unclean.append(f"{p.name} ({code})")
        self.running.clear()
        for path in self.files:
            path.unlink(missing_ok=True)
        self.files.clear()
        return unclean

    def register_with_prometheus(self, run_id: str, ports: dict[str, int]) -> Path | None:
        """Tells the local Prometheus (deploy/local/stack.sh prometheus-start) to scrape the five
        services, through a file in TRACKER_PROMETHEUS_TARGETS that stop_all removes again.
        Nothing when that variable is not set."""
        folder = os.environ.get("TRACKER_PROMETHEUS_TARGETS", "")
        if not folder or not Path(folder).is_dir():
            return None
        groups = [{"targets": [f"127.0.0.1:{ports['ingest-ops' if name == 'ingest' else name]}"],
                   "labels": {"job": name, "run": run_id}}
                  for name in ("ingest", "worker", "scheduler", "summarizer", "notifier")]
        path = Path(folder) / f"{run_id}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(groups, indent=1))
        temporary.replace(path)  # Prometheus never reads half a file
        self.files.append(path)
        return path


# ---------------------------------------------------------------------------------------------
# HTTP and PostgreSQL


def http_exchange(port: int, method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None, timeout: float = 10):
    """One request on 127.0.0.1: (status, body, headers with lower-case names)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return (response.status, response.read(),
                {name.lower(): value for name, value in response.getheaders()})
    finally:
        conn.close()


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10):
    status, answer, _ = http_exchange(port, method, path, body, headers, timeout)
    return status, answer


def wait_ready(processes: Processes, name: str, port: int, timeout_s: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        processes.check_alive()
        try:
            status, _ = http_request(port, "GET", "/readyz", timeout=2)
            if status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise Failure(f"{name} was not ready within {timeout_s:.0f} s (GET /readyz on port {port})")


def wait_listening(process: Process, timeout_s: float = 20) -> int:
    """The port a simulator printed ("listening on 127.0.0.1:PORT")."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.popen.poll() is not None:
            raise Failure(f"{process.name} exited with status {process.popen.returncode}:\n"
                          f"{process.tail()}")
        match = re.search(r"listening on [0-9.]+:(\d+)", process.log_path.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    raise Failure(f"{process.name} did not start listening within {timeout_s:.0f} s")


def metrics(port: int, timeout: float = 10) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text: metric name -> [(labels, value)]."""
    status, body = http_request(port, "GET", "/metrics", timeout=timeout)
    if status != 200:
        raise Failure(f"GET /metrics on port {port} answered {status}")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not match:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        out.setdefault(match.group(1), []).append((labels, float(match.group(4))))
    return out


SERVICES = ("ingest", "worker", "scheduler", "summarizer", "notifier")


def ops_ports(ports: dict, name: str) -> list[int]:
    """The ops ports of a service's replicas: `ports` maps a service to one port (ingest's ops port
    under "ingest-ops") or to a list of them."""
    value = ports["ingest-ops"] if name == "ingest" and "ingest-ops" in ports else ports[name]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def replicas_metrics(ports: dict, name: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The samples of every replica of a service, together (sums over them add up)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for port in ops_ports(ports, name):
        for metric, samples in metrics(port).items():
            out.setdefault(metric, []).extend(samples)
    return out


def check_exposition(ports: dict, log_dir: Path) -> list[str]:
    """Each service's /metrics as promtool reads it (format and naming lints), every replica; the
    texts are kept beside the logs. Returns the problems, one line per replica that has any."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise Failure("promtool not found: scripts/install-deps.sh installs Debian's prometheus")
    problems = []
    for name in SERVICES:
        for port in ops_ports(ports, name):
            status, body = http_request(port, "GET", "/metrics")
            if status != 200:
                problems.append(f"{name} (:{port}): GET /metrics answered {status}")
                continue
            (log_dir / f"{name}-{port}.metrics.txt").write_bytes(body)
            result = subprocess.run([promtool, "check", "metrics"], input=body,
                                    capture_output=True, timeout=30)
            if result.returncode != 0:
                text = (result.stdout + result.stderr).decode(errors="replace").strip()
                problems.append(f"{name} (:{port}): {text}")
    return problems


def total(samples: dict, name: str, **labels: str) -> int:
    return int(sum(v for l, v in samples.get(name, [])
                   if all(l.get(k) == want for k, want in labels.items())))


def psql(sql: str) -> list[list[str]]:
    result = subprocess.run(["psql", os.environ["DATABASE_URL"], "-X", "-q", "-A", "-t", "-F", "\x1f",
                             "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise Failure(f"psql failed: {result.stderr.strip()}")
    return [line.split("\x1f") for line in result.stdout.splitlines() if line]


def wait_until(what: str, probe, timeout_s: float, processes: Processes):
    """Calls probe() until it returns something truthy; raises Failure naming `what`."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout_s:
        processes.check_alive()
        last = probe()
        if last and last[0]:
            return last[1], time.monotonic() - started
        time.sleep(0.1)
    raise Failure(f"{what}: not done within {timeout_s:.0f} s ({last[1] if last else 'no answer'})")


# ---------------------------------------------------------------------------------------------
# The day


@dataclass
class Person:
    user_id: str
    name: str


PEOPLE = [Person("U0MINJI", "민지"), Person("U0JAMES", "James"), Person("U0SORA", "소라"),
          Person("U0ALEX", "Alex"), Person("U0HANA", "하나")]
CHANNEL = "C0STUDY"
BOT_USER = "U0TRACKER"


def day_events(team: str, day: dt.date, tz: dt.timezone, run: str) -> list[dict]:
    """The day's Events API requests, in the order Slack would send them."""
    events: list[dict] = []
    seq = 0

    def ts_at(hh: int, mm: int, micro: int = 0) -> str:
        moment = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz)
        return f"{int(moment.timestamp())}.{micro:06d}"

    def callback(event: dict, event_ts: str) -> dict:
        nonlocal seq
        seq += 1
        return {"token": "XXYYZZ", "team_id": team, "api_app_id": "A0TRACKER", "event": event,
                "type": "event_callback", "event_id": f"Ev{run}{seq:03d}",
                "event_time": int(float(event_ts)),
                "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": BOT_USER,
                                    "is_bot": True, "is_enterprise_install": False}]}

    def message(user: str, text: str, ts: str, thread_ts: str | None = None) -> dict:
        event = {"type": "message", "channel": CHANNEL, "user": user, "text": text, "ts": ts,
                 "event_ts": ts, "channel_type": "channel",
                 "client_msg_id": f"{run}-{ts}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
            event["parent_user_id"] = user
        return callback(event, ts)

    def edited(user: str, old: str, new: str, ts: str, at: str) -> dict:
        return callback({"type": "message", "subtype": "message_changed", "hidden": True,
                         "channel": CHANNEL, "ts": at, "event_ts": at, "channel_type": "channel",
                         "message": {"type": "message", "user": user, "text": new, "ts": ts,
                                     "edited": {"user": user, "ts": at.split(".")[0] + ".000000"}},
                         "previous_message": {"type": "message", "user": user, "text": old,
                                              "ts": ts}}, at)

    def deleted(user: str, old: str, ts: str, at: str) -> dict:
        return callback({"type": "message", "subtype": "message_deleted", "hidden": True,
                         "channel": CHANNEL, "ts": at, "deleted_ts": ts, "event_ts": at,
                         "channel_type": "channel",
                         "previous_message": {"type": "message", "user": user, "text": old,
                                              "ts": ts}}, at)

    # All within the day's period: a log of an earlier day would make a later run's scheduler
    # claim that day as a catch-up (rightly: it was due and never summarized).
    reminder = ts_at(7, 0)
    events.append(callback({"type": "message", "subtype": "bot_message", "bot_id": "B0REMIND",
                            "channel": CHANNEL, "text": "Good morning! Post what you study today.",
                            "ts": reminder, "event_ts": reminder, "channel_type": "channel"},
                           reminder))
    james_rust = ts_at(7, 45)
    events.append(message("U0JAMES", "Morning: 2h on Rust ownership and borrowing #rust", james_rust))
    minji_kafka = ts_at(8, 10)
    events.append(message("U0MINJI", "아침에 카프카 컨슈머 그룹 리밸런싱 공부 1시간 30분 #카프카",
                          minji_kafka))
    events.append(message("U0MINJI", "추가로 librdkafka 문서 30분 읽음 #카프카", ts_at(8, 50),
                          thread_ts=minji_kafka))
    events.append(message("U0SORA", "오늘은 React hooks 2시간 #react", ts_at(9, 0)))
    events.append(message("U0ALEX", "Spent 3h on the Kafka exactly-once paper #kafka #distributed",
                          ts_at(10, 0)))
    events.append(message("U0HANA", "영어 단어 암기 40분 #영어", ts_at(11, 0)))
    james_ddia = ts_at(12, 30)
    events.append(message("U0JAMES", "Lunch read: DDIA chapter 5 (replication), 45 mins #ddia",
                          james_ddia))
    minji_sql = ts_at(13, 20)
    sql_before = "점심 후 SQL 윈도우 함수 45분 #sql"
    events.append(message("U0MINJI", sql_before, minji_sql))
    events.append(edited("U0MINJI", sql_before, "점심 후 SQL 윈도우 함수 1시간 #sql", minji_sql,
                         ts_at(13, 41, micro=120)))
    events.append(message("U0SORA", "DDIA 5장 저도 읽었어요! 30분 #ddia", ts_at(15, 30),
                          thread_ts=james_ddia))
    events.append(message("U0ALEX", "45 mins of Go generics practice #go", ts_at(16, 45)))
    oops = ts_at(18, 10)
    oops_text = "oops, wrong channel: 장보기 목록"
    events.append(message("U0JAMES", oops_text, oops))
    events.append(deleted("U0JAMES", oops_text, oops, ts_at(18, 11, micro=500)))
    events.append(message("U0MINJI", "알고리즘 문제 3개 풀었어요 2시간 #알고리즘", ts_at(19, 0)))
    events.append(message("U0JAMES", "Evening: 1.5 hours of Kubernetes networking #k8s",
                          ts_at(20, 15)))
    events.append(message("U0HANA", "운영체제 강의 1강 들음 1시간 #os", ts_at(20, 30)))
    return events


def summary_zone(now: dt.datetime) -> tuple[str, dt.timezone]:
    """A fixed-offset zone where it is now 22:xx: the day's summary time (21:00) has passed, so
    the whole period (yesterday 21:00 to today 21:00 local) lies in the past."""
    offset = (22 - now.astimezone(dt.timezone.utc).hour) % 24
    if offset > 14:
        offset -= 24
    name = "Etc/UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    return name, dt.timezone(dt.timedelta(hours=offset))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------
# Main


def minutes_text(minutes: int) -> str:
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


# A scheduler that only the run's triggers make claim anything: its next tick is an hour away, and
# its first (at start) claims nothing, with no catch-up window. On a stack that earlier runs and
# load tests have filled, that first tick would otherwise claim the due days of every person in
# the database (thousands after a load test), and the run's summaries would wait behind them at
# OpenAI's rate limits. (Its log counts those days as skipped: this scheduler does not claim them;
# one with a window does.)
TRIGGER_ONLY_SCHEDULER = {"TRACKER_SCHEDULER_TICK_INTERVAL": "1h",
                          "TRACKER_SCHEDULER_CATCH_UP_WINDOW": "0s"}

BINARIES = {
    "ingest": "services/ingest/ingest", "worker": "services/worker/worker",
    "scheduler": "services/scheduler/scheduler", "summarizer": "services/summarizer/summarizer",
    "notifier": "services/notifier/notifier", "slack-sim": "loadtest/slack-sim",
    "openai-sim": "loadtest/openai-sim", "app": "services/app/app"}


def built(build: Path, extra: dict[str, str] | None = None) -> dict[str, Path]:
    """The services' and simulators' binaries in the build tree (and `extra` ones), each checked
    to exist."""
    binaries = {name: build / path for name, path in {**BINARIES, **(extra or {})}.items()}
    for path in binaries.values():
        if not path.is_file():
            raise Failure(f"{path} is missing: build first (bash scripts/build.sh release)")
    return binaries


def run_main(run, args) -> int:
    """Runs `run(args)` with SIGTERM treated as Ctrl-C; a Failure exits 1 with its message, an
    interruption 130 (what `run` started is stopped by its own finally clauses)."""

    def terminated(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    try:
        return run(args)
    except Failure as failure:
        say(f"\nFAILED: {failure}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted: everything this run started was stopped")
        return 130


def stage_rows(ports: dict) -> tuple[dict, list[tuple[str, str, object]]]:
    """What each stage did, from the services' own metrics summed over their replicas: (metrics
    by service, rows of stage, what, count)."""
    m = {name: replicas_metrics(ports, name) for name in SERVICES}
    rows = [
        ("ingest", "events acknowledged (200)",
         total(m["ingest"], "tracker_http_requests_total", route="/slack/events", status="200")),
        ("ingest", "refused (4xx/5xx)",
         sum(total(m["ingest"], "tracker_http_requests_total", status=s)
             for s in {l.get("status") for l, _ in m["ingest"].get("tracker_http_requests_total", [])}
             if s and s[0] in "45")),
        ("worker", "events consumed", total(m["worker"], "tracker_worker_events_consumed_total")),
        ("worker", "messages stored (posts, replies)",
         total(m["worker"], "tracker_worker_events_stored_total", change="message") +
         total(m["worker"], "tracker_worker_events_stored_total", change="reply")),
        ("worker", "edits / deletions applied",
         f"{total(m['worker'], 'tracker_worker_events_stored_total', change='edit')} / "
         f"{total(m['worker'], 'tracker_worker_events_stored_total', change='deletion')}"),
        ("worker", "skipped (bot messages and such)",
         total(m["worker"], "tracker_worker_events_skipped_total")),
        ("worker", "dead letters", total(m["worker"], "tracker_worker_dead_letters_total")),
        ("scheduler", "jobs claimed: trigger / catch-up",
         f"{total(m['scheduler'], 'tracker_scheduler_claimed_total', reason='trigger')} / "
         f"{total(m['scheduler'], 'tracker_scheduler_claimed_total', reason='catch_up')}"),
        ("scheduler", "summary requests published",
         total(m["scheduler"], "tracker_scheduler_published_total")),
        ("summarizer", "summaries written", total(m["summarizer"], "tracker_summarizer_jobs_total",
                                                  outcome="done")),
        ("summarizer", "model calls / retries",
         f"{total(m['summarizer'], 'tracker_llm_requests_total')} / "
         f"{total(m['summarizer'], 'tracker_llm_retries_total')}"),
        ("summarizer", "failed / dead letters",
         f"{total(m['summarizer'], 'tracker_summarizer_jobs_total', outcome='failed')} / "
         f"{total(m['summarizer'], 'tracker_summarizer_dead_letters_total')}"),
        ("notifier", "posts to Slack", total(m["notifier"], "tracker_notifier_posted_total")),
        ("notifier", "retries / 429s",
         f"{total(m['notifier'], 'tracker_notifier_retries_total')} / "
         f"{total(m['notifier'], 'tracker_notifier_rate_limited_total')}"),
        ("notifier", "dead letters", total(m["notifier"], "tracker_notifier_dead_letters_total")),
    ]
    return m, rows


def print_stage_rows(rows) -> None:
    say(f"  {'stage':<11} {'what':<34} {'count':>9}")
    say(f"  {'-' * 11} {'-' * 34} {'-' * 9}")
    for stage, what, count in rows:
        say(f"  {stage:<11} {what:<34} {str(count):>9}")


@dataclass
class Target:
    """Where the day goes: ingest's events port (a replica or the reverse proxy), each service's
    ops ports (every replica), the scheduler's /trigger port, the secrets, and slack-sim's port
    when Slack is simulated."""
    where: str
    events_port: int
    ops: dict[str, list[int]]
    trigger_port: int
    signing_secret: str
    admin_token: str
    slack_sim_port: int | None
    study: bool = False  # the app runs: /study through ingest, answered at slack-sim
    # The origin of the response URLs /study is given: slack-sim as the app reaches it.
    response_origin: str = ""
    install_port: int | None = None  # the app's /slack/install (the proxy's port in compose)


def run(args) -> int:
    compose_env = None
    if args.compose is not None:
        compose_env = read_env_file(Path(args.compose))
        # psql reaches the stack's PostgreSQL on its published port.
        os.environ["DATABASE_URL"] = compose_database_url(compose_env)
    else:
        for var in ("KAFKA_BROKERS", "DATABASE_URL"):
            if not os.environ.get(var):
                raise Failure(f"{var} is not set: eval \"$(bash deploy/local/stack.sh env)\" first")

    run_id = dt.datetime.now(dt.timezone.utc).strftime("%m%d%H%M%S") + secrets.token_hex(2).upper()
    team = "TDAY" + run_id
    now = dt.datetime.now(dt.timezone.utc)
    zone_name, zone = summary_zone(now)
    day = now.astimezone(zone).date()
    log_dir = ROOT / ".local" / "run" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes(log_dir)

    say("Study tracker: one day of a study channel, end to end")
    if compose_env is not None:
        step("stack", f"compose (deploy/compose, {args.compose}): PostgreSQL "
                      f"{urllib.parse.urlsplit(os.environ['DATABASE_URL']).netloc.split('@')[-1]}")
    else:
        step("stack", f"Kafka {os.environ['KAFKA_BROKERS']}, PostgreSQL "
                      f"{urllib.parse.urlsplit(os.environ['DATABASE_URL']).netloc.split('@')[-1]}")
    step("team", f"{team}, {len(PEOPLE)} people in #{CHANNEL}, time zone {zone_name} "
                 f"(local now {now.astimezone(zone):%H:%M}), day {day}")
    step("logs", str(log_dir.relative_to(ROOT)))
    try:
        if compose_env is not None:
            target = compose_target(compose_env, processes)
            # The stack's workers give new people the stack's default zone; these five set their
            # own, as a person does in Slack, before their first message arrives.
            register_people(team, zone_name)
            if target.slack_sim_port is not None:
                # users.info answers with the day's zone: the people live where it is played.
                status, answer = http_request(target.slack_sim_port, "POST", "/_sim/config",
                                              body=json.dumps({"default_user_time_zone":
                                                               zone_name}).encode())
                if status != 200:
                    raise Failure(f"slack-sim refused its config: {answer[:200]!r}")
            if target.install_port is not None:
                install_app(target, team)
        else:
            target = start_local(args, processes, zone_name, team, run_id)
        return run_day(args, target, processes, team, zone, day)
    finally:
        unclean = processes.stop_all()
        if unclean:
            say(f"  note: did not exit cleanly on SIGTERM: {', '.join(unclean)}")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose env file (comments and blank lines skipped; no expansion)."""
    if not path.is_file():
        raise Failure(f"{path} not found: copy deploy/compose/env.example to it and set the secrets")
    env = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise Failure(f"{path}:{number}: not KEY=VALUE")
        env[key.strip()] = value.strip().strip('"').strip("'")
    return env


def compose_setting(env: dict[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if not value:
        raise Failure(f"{name} is not set in the compose env file")
    return value


def compose_database_url(env: dict[str, str]) -> str:
    user = urllib.parse.quote(env.get("POSTGRES_USER", "tracker"), safe="")
    password = urllib.parse.quote(compose_setting(env, "POSTGRES_PASSWORD"), safe="")
    database = env.get("POSTGRES_DB", "tracker")
    port = env.get("TRACKER_COMPOSE_PG_PORT", "25432")
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{database}"


def compose_target(env: dict[str, str], processes: Processes) -> Target:
    """The compose stack's published ports (deploy/compose/compose.yaml), each service ready."""
    base = env.get("TRACKER_COMPOSE_OPS_PORT_BASE", "294")
    ops = {"ingest": [int(base + "64"), int(base + "74")],
           "worker": [int(base + "65"), int(base + "75")],
           "scheduler": [int(base + "66"), int(base + "76")],
           "summarizer": [int(base + "67")], "notifier": [int(base + "68")]}
    events_port = int(env.get("TRACKER_COMPOSE_EVENTS_PORT", "28080"))
    started = time.monotonic()
    for name, ports in ops.items():
        for port in ports:
            wait_ready(processes, name, port, timeout_s=180)
    # The app, behind the same proxy (its ops port is BASE + 69).
    wait_ready(processes, "app", int(base + "69"), timeout_s=180)
    simulated = "slack-sim" in env.get("SLACK_API_BASE_URL", "")
    response_origin = env.get("SLACK_RESPONSE_URL_ORIGIN", "")
    target = Target(where=f"reverse proxy 127.0.0.1:{events_port} -> ingest-1, ingest-2, app",
                    events_port=events_port, ops=ops, trigger_port=ops["scheduler"][0],
                    signing_secret=compose_setting(env, "SLACK_SIGNING_SECRET"),
                    admin_token=compose_setting(env, "TRACKER_ADMIN_TOKEN"),
                    slack_sim_port=int(env.get("TRACKER_COMPOSE_SLACK_SIM_PORT", "29100"))
                    if simulated else None,
                    # /study and the install need the simulator: its response URLs and its
                    # authorize page.
                    study=simulated and "slack-sim" in response_origin,
                    response_origin=response_origin, install_port=events_port
                    if simulated and "127.0.0.1" in env.get("SLACK_AUTHORIZE_URL", "") else None)
    step("Slack", f"slack-sim in the stack (127.0.0.1:{target.slack_sim_port})" if simulated
         else env.get("SLACK_API_BASE_URL", "https://slack.com/api"))
    step("OpenAI", env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"))
    waited = time.monotonic() - started
    step("services", f"{sum(len(p) for p in ops.values())} replicas and the app ready "
                     f"(ingest x2, worker x2, scheduler x2, summarizer, notifier, app)"
                     f"{f' after {waited:.1f} s' if waited >= 0.1 else ''}; "
                     f"events via the {target.where}")
    return target


def register_people(team: str, zone_name: str) -> None:
    rows = ", ".join(f"('{team}', '{p.user_id}', '{zone_name}', 21)" for p in PEOPLE)
    psql(f"INSERT INTO users (team_id, user_id, time_zone, summary_hour) VALUES {rows} "
         f"ON CONFLICT (team_id, user_id) DO UPDATE SET time_zone = excluded.time_zone, "
         f"summary_hour = excluded.summary_hour")


def start_local(args, processes: Processes, zone_name: str, team: str, run_id: str) -> Target:
    """The simulators (unless real services are configured) and the five services, started
    here on free loopback ports against the local stack."""
    binaries = built(Path(args.build).resolve())
    common = {"TRACKER_LOG_LEVEL": os.environ.get("TRACKER_LOG_LEVEL", "info")}
    # Slack: the simulator unless a real token and base URL are given.
    slack_sim_port = None
    if os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("SLACK_API_BASE_URL"):
        slack_env = {}
        slack_where = os.environ["SLACK_API_BASE_URL"]
    else:
        sim = processes.start("slack-sim", [str(binaries["slack-sim"]), "--port", "0"], {})
        slack_sim_port = wait_listening(sim)
        slack_env = {"SLACK_BOT_TOKEN": "xoxb-simulated",
                     "SLACK_API_BASE_URL": f"http://127.0.0.1:{slack_sim_port}/api"}
        slack_where = f"slack-sim on 127.0.0.1:{slack_sim_port}"
    # OpenAI: the simulator unless a key is given (with OPENAI_BASE_URL, any compatible server).
    if os.environ.get("OPENAI_API_KEY"):
        openai_env = {}
        openai_where = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    else:
        sim = processes.start("openai-sim", [str(binaries["openai-sim"]), "--port", "0",
                                             "--latency-median-ms", "400",
                                             "--latency-p99-ms", "1200"], {})
        openai_port = wait_listening(sim)
        openai_env = {"OPENAI_API_KEY": "sk-simulated",
                      "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1"}
        openai_where = f"openai-sim on 127.0.0.1:{openai_port}"
    step("Slack", slack_where)
    step("OpenAI", openai_where)

    secret = secrets.token_hex(16)
    admin_token = secrets.token_hex(16)
    ports = {name: free_port() for name in
             ("ingest", "ingest-ops", "worker", "scheduler", "summarizer", "notifier")}
    started = time.monotonic()
    # Consumers first, so that nothing waits for a group to form once events flow.
    processes.start("notifier", [str(binaries["notifier"])],
                    {**common, **slack_env, "TRACKER_OPS_PORT": str(ports["notifier"])})
    processes.start("summarizer", [str(binaries["summarizer"])],
                    {**common, **openai_env, "TRACKER_OPS_PORT": str(ports["summarizer"])})
    processes.start("worker", [str(binaries["worker"])],
                    {**common, "TRACKER_OPS_PORT": str(ports["worker"]),
                     "TRACKER_DEFAULT_TIME_ZONE": zone_name, "TRACKER_DEFAULT_SUMMARY_HOUR": "21",
                     "TRACKER_ALLOWED_TEAM_IDS": team})
    # The scheduler's own ticks would find the day due too; here the trigger claims it.
    processes.start("scheduler", [str(binaries["scheduler"])],
                    {**common, **TRIGGER_ONLY_SCHEDULER, "TRACKER_OPS_PORT": str(ports["scheduler"]),
                     "TRACKER_ADMIN_TOKEN": admin_token})
    study = slack_sim_port is not None
    if study:
        # The app: /study, and each person's time zone from users.info, which the simulator
        # answers with the day's zone (the people live where the day is played).
        ports["app"], ports["app-http"] = free_port(), free_port()
        status, answer = http_request(slack_sim_port, "POST", "/_sim/config", body=json.dumps(
            {"default_user_time_zone": zone_name}).encode())
        if status != 200:
            raise Failure(f"slack-sim refused its config: {answer[:200]!r}")
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        processes.start("app", [str(binaries["app"])],
                        {**common, **slack_env, "TRACKER_OPS_PORT": str(ports["app"]),
                         "TRACKER_APP_ADDRESS": "127.0.0.1",
                         "TRACKER_APP_PORT": str(ports["app-http"]),
                         "TRACKER_APP_PUBLIC_URL": f"http://127.0.0.1:{ports['app-http']}",
                         "SLACK_CLIENT_ID": "1111111111.2222222222",
                         "SLACK_CLIENT_SECRET": "sim-client-secret",
                         "TRACKER_TOKEN_ENCRYPTION_KEY": f"k1:{key}",
                         "SLACK_RESPONSE_URL_ORIGIN": f"http://127.0.0.1:{slack_sim_port}",
                         "TRACKER_DEFAULT_TIME_ZONE": zone_name})
    processes.start("ingest", [str(binaries["ingest"])],
                    {**common, "SLACK_SIGNING_SECRET": secret,
                     "TRACKER_INGEST_ADDRESS": "127.0.0.1",
                     "TRACKER_INGEST_PORT": str(ports["ingest"]),
                     "TRACKER_OPS_PORT": str(ports["ingest-ops"])})
    for name in ("notifier", "summarizer", "worker", "scheduler") + (("app",) if study else ()):
        wait_ready(processes, name, ports[name])
    wait_ready(processes, "ingest", ports["ingest-ops"])
    step("services", f"ingest :{ports['ingest']}, worker, scheduler, summarizer, notifier"
                     f"{', app' if study else ''} ready in {time.monotonic() - started:.1f} s")
    if registered := processes.register_with_prometheus(run_id, ports):
        step("Prometheus", f"scraping them ({registered})")

    return Target(where=f"ingest 127.0.0.1:{ports['ingest']}", events_port=ports["ingest"],
                  ops={name: [ports["ingest-ops" if name == "ingest" else name]]
                       for name in SERVICES},
                  trigger_port=ports["scheduler"], signing_secret=secret,
                  admin_token=admin_token, slack_sim_port=slack_sim_port, study=study,
                  response_origin=f"http://127.0.0.1:{slack_sim_port}")


def run_day(args, target: Target, processes: Processes, team: str, zone: dt.timezone,
            day: dt.date) -> int:
    # The day, signed as Slack signs it, over one kept-alive connection.
    events = day_events(team, day, zone, team.removeprefix("TDAY"))
    conn = http.client.HTTPConnection("127.0.0.1", target.events_port, timeout=10)
    latencies = []
    refused = []
    sent_at = time.monotonic()
    for event in events:
        body = json.dumps(event, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        t0 = time.monotonic()
        conn.request("POST", "/slack/events", body=body, headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(target.signing_secret, timestamp, body)})
        response = conn.getresponse()
        answer = response.read()
        latencies.append((time.monotonic() - t0) * 1000)
        if response.status != 200:
            refused.append(f"{event['event_id']}: {response.status} {answer[:200]!r}")
    conn.close()
    if refused:
        raise Failure("ingest refused events:\n    " + "\n    ".join(refused))
    latencies.sort()
    step("day", f"{len(events)} events -> ingest: {len(events)} x 200 in "
                f"{(time.monotonic() - sent_at) * 1000:.0f} ms (median {latencies[len(latencies) // 2]:.1f} ms, "
                f"max {latencies[-1]:.1f} ms each, acknowledged by Kafka)")

    # Stored: one row per message; the edit and the deletion applied.
    expected_rows = sum(1 for e in events if e["event"].get("subtype") is None)

    def stored():
        rows = psql(f"SELECT count(*), count(edited_at), count(deleted_at) FROM study_logs "
                    f"WHERE team_id = '{team}'")
        count, edits, deletions = (int(x) for x in rows[0])
        return (count == expected_rows and edits == 1 and deletions == 1,
                f"{count} of {expected_rows} rows, {edits} edited, {deletions} deleted")

    detail, took = wait_until("the worker storing the day", stored, 60, processes)
    step("stored", f"{detail} in {took * 1000:.0f} ms")

    # The summaries, triggered for everyone in the team on that day.
    trigger = json.dumps({"team_id": team, "day": day.isoformat()}).encode()
    trigger_at = time.monotonic()
    status, answer = http_request(target.trigger_port, "POST", "/trigger", body=trigger, headers={
        "Authorization": f"Bearer {target.admin_token}", "Content-Type": "application/json"})
    if status != 200:
        raise Failure(f"POST /trigger answered {status}: {answer[:300]!r}")
    report = json.loads(answer)
    step("trigger", f"POST /trigger {{\"team_id\": \"{team}\", \"day\": \"{day}\"}} -> "
                    f"claimed {report.get('claimed')}, published {report.get('published')}")
    people = len(PEOPLE)

    def summarized():
        rows = psql(f"SELECT count(*) FILTER (WHERE j.state = 'done'), "
                    f"count(*) FILTER (WHERE j.state = 'failed'), "
                    f"(SELECT count(*) FROM summary_jobs o WHERE o.state IN ('claimed', 'published') "
                    f"AND o.team_id <> '{team}') FROM summary_jobs j WHERE j.team_id = '{team}'")
        done, failed, others = (int(x) for x in rows[0])
        if failed:
            reasons = psql(f"SELECT user_id, last_error FROM summary_jobs WHERE team_id = '{team}' "
                           f"AND state = 'failed'")
            raise Failure("summaries failed: " + "; ".join(f"{u}: {e}" for u, e in reasons))
        # What else the summarizer has to write: jobs of other teams that an earlier run claimed
        # and did not finish are published again (and written) by this run's scheduler too.
        busy = f"; {others} jobs of other teams claimed and unfinished" if others else ""
        return done == people, f"{done} of {people} done{busy}"

    detail, took = wait_until("the summarizer writing the summaries", summarized, 90, processes)
    step("summaries", f"{detail} in {took * 1000:.0f} ms after the trigger")

    def posted():
        rows = psql(f"SELECT count(*) FILTER (WHERE d.state = 'posted'), "
                    f"count(*) FILTER (WHERE d.state = 'failed') FROM slack_deliveries d "
                    f"JOIN summaries s ON d.delivery_id = 'summary:' || s.job_id "
                    f"WHERE s.team_id = '{team}'")
        ok, failed = (int(x) for x in rows[0])
        if failed:
            raise Failure(f"{failed} Slack deliveries failed (see slack_deliveries)")
        return ok == people, f"{ok} of {people} posted"

    detail, took = wait_until("the notifier posting to Slack", posted, 90, processes)
    trigger_to_post = time.monotonic() - trigger_at
    step("posted", f"{detail}; trigger to last post {trigger_to_post * 1000:.0f} ms "
                   f"(Slack's pace: about one post a second per channel)")

    # What was posted, person by person.
    say()
    rows = psql(
        f"SELECT s.user_id, s.channel, d.posted_channel, coalesce(d.part_ts[1], ''), s.text, s.logs, "
        f"coalesce((SELECT sum(duration_minutes) FROM study_logs l WHERE l.team_id = s.team_id "
        f"AND l.user_id = s.user_id AND l.deleted_at IS NULL AND l.posted_at >= j.period_start "
        f"AND l.posted_at < j.period_end), 0) "
        f"FROM summaries s JOIN summary_jobs j USING (job_id) "
        f"LEFT JOIN slack_deliveries d ON d.delivery_id = 'summary:' || s.job_id "
        f"WHERE s.team_id = '{team}' ORDER BY s.user_id")
    names = {p.user_id: p.name for p in PEOPLE}
    sim_posts = {}
    sim_workspaces = {}  # ts -> the workspace of the token that posted it
    if target.slack_sim_port:
        status, answer = http_request(target.slack_sim_port, "GET",
                                      f"/_sim/messages?channel={CHANNEL}")
        if status == 200:
            for m in json.loads(answer)["messages"]:
                sim_posts[m["ts"]] = m["text"]
                sim_workspaces[m["ts"]] = m.get("workspace", "")
    for user, channel, posted_channel, ts, text, logs, minutes in rows:
        shown = sim_posts.get(ts, text)
        header = f"── {names.get(user, user)} ({user}) · {logs} logs · {minutes_text(int(minutes))} "
        say(header + "─" * max(3, 78 - len(header)))
        say(f"   posted to #{posted_channel or channel} at ts {ts}")
        for line in shown.splitlines() or [""]:
            say("   " + line)
        say()
    rows_posted = [ts for _, _, _, ts, *_ in rows if ts]
    if sim_posts and any(ts not in sim_posts for ts in rows_posted):
        raise Failure("a delivery marked posted is not among slack-sim's messages")

    study_answers = ask_study(target, team) if target.study else []

    # What each stage did, from the services' own metrics.
    m, rows = stage_rows(target.ops)
    print_stage_rows(rows)

    catch_up = total(m["scheduler"], "tracker_scheduler_claimed_total", reason="catch_up")
    if catch_up:
        say(f"  ({catch_up} catch-up: earlier days of people from earlier runs, due and not yet "
            f"summarized when this scheduler started)")
    say()

    if args.check:
        value = {what: count for _, what, count in rows}
        checks = {
            "every event acknowledged": value["events acknowledged (200)"] == len(events),
            "every message stored": value["messages stored (posts, replies)"] == expected_rows,
            "the bot's reminder skipped": value["skipped (bot messages and such)"] >= 1,
            "no dead letters": value["dead letters"] == 0 and
                               total(m["notifier"], "tracker_notifier_dead_letters_total") == 0,
            "one post per person": len(rows_posted) == people and
                                   (not sim_posts or all(ts in sim_posts for ts in rows_posted)),
        }
        if target.study:
            checks["/study answered"] = len(study_answers) == 2
        if target.install_port is not None:
            checks["posted with the team's own token"] = all(
                sim_workspaces.get(ts) == team for ts in rows_posted)
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise Failure("checks failed: " + ", ".join(failed))
        say("  checks: " + ", ".join(checks) + ": all met")
        exposition = check_exposition(target.ops, processes.log_dir)
        if exposition:
            raise Failure("promtool check metrics:\n" + "\n".join(exposition))
        say("  promtool check metrics: the five services' /metrics are clean")
    say("OK: ingest -> Kafka -> PostgreSQL -> scheduler -> summarizer -> notifier -> Slack")
    return 0


def install_app(target: Target, team: str) -> None:
    """The team installs the app as a browser does: /slack/install through the proxy, Allow on
    (the simulator's) Slack authorize page, back to /slack/oauth_redirect. From then on the
    notifier posts to the team with the team's own token."""
    status, _, headers = http_exchange(target.install_port, "GET", "/slack/install")
    if status != 302:
        raise Failure(f"/slack/install answered {status}")
    authorize = urllib.parse.urlsplit(headers.get("location", ""))
    cookie = headers.get("set-cookie", "").split(";")[0]
    status, _, headers = http_exchange(authorize.port or 80, "GET",
                                       f"{authorize.path}?{authorize.query}&team={team}"
                                       f"&team_name=Study%20{team[-4:]}")
    if status != 302:
        raise Failure(f"Slack's authorize page answered {status}")
    back = urllib.parse.urlsplit(headers.get("location", ""))
    # The callback waits for Slack's oauth.v2.access.
    status, page, _ = http_exchange(target.install_port, "GET", f"{back.path}?{back.query}",
                                    headers={"Cookie": cookie}, timeout=20)
    if status != 200:
        raise Failure(f"/slack/oauth_redirect answered {status}: {page[:300]!r}")
    rows = psql(f"SELECT token_key_id FROM slack_workspaces WHERE team_id = '{team}'")
    if not rows:
        raise Failure("the install stored no workspace")
    step("install", f"{team} installed the app (/slack/install -> authorize -> "
                    f"/slack/oauth_redirect); its bot token is sealed with key {rows[0][0]}")


def ask_study(target: Target, team: str) -> list[str]:
    """One person of the day asks /study week, then moves to New York with /study settings tz;
    both typed in Slack as slash commands, through ingest, answered by the app at the
    command's response_url (slack-sim records it)."""
    person = PEOPLE[1]
    answers = []
    for n, text in enumerate(("week", "settings tz America/New_York"), start=1):
        response_path = f"/commands/{team}/{person.user_id}/{n}"
        body = urllib.parse.urlencode({
            "team_id": team, "channel_id": CHANNEL, "user_id": person.user_id,
            "command": "/study", "text": text,
            "response_url": f"{target.response_origin}{response_path}"}).encode()
        timestamp = str(int(time.time()))
        status, ack = http_request(target.events_port, "POST", "/slack/commands", body=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded",
                                            "X-Slack-Request-Timestamp": timestamp,
                                            "X-Slack-Signature": sign(target.signing_secret,
                                                                      timestamp, body)})
        if status != 200:
            raise Failure(f"/study {text}: ingest answered {status}: {ack[:200]!r}")
        started = time.monotonic()
        answer = None
        while answer is None and time.monotonic() - started < 30:
            _, listed = http_request(target.slack_sim_port, "GET", "/_sim/responses")
            for response in json.loads(listed)["responses"]:
                if response["path"] == response_path:
                    answer = response["body"].get("text", "")
            if answer is None:
                time.sleep(0.1)
        if answer is None:
            raise Failure(f"/study {text}: no answer at its response_url within 30 s")
        header = f"── {person.name} ({person.user_id}) types /study {text} "
        say(header + "─" * max(3, 78 - len(header)))
        say(f"   ingest answered at once: {json.loads(ack).get('text', '')}")
        say(f"   the app answered in {(time.monotonic() - started) * 1000:.0f} ms:")
        for line in answer.splitlines():
            say("   " + line)
        say()
        answers.append(answer)
    zone = psql(f"SELECT time_zone, time_zone_source FROM users WHERE team_id = '{team}' "
                f"AND user_id = '{person.user_id}'")
    if not zone or zone[0] != ["America/New_York", "user"]:
        raise Failure(f"/study settings tz: the users row says {zone}")
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(ROOT / "build"), help="build tree (default build/)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every stage did what the day asks")
    parser.add_argument("--compose", nargs="?", const=str(ROOT / "deploy" / "compose" / ".env"),
                        metavar="ENV_FILE",
                        help="send the day through the running compose stack (deploy/compose) "
                             "whose env file this is (default deploy/compose/.env)")
    return run_main(run, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
