#!/usr/bin/env python3
"""Chaos through the whole pipeline: is anything acknowledged lost, or done twice?

Starts a Kafka cluster and PostgreSQL of its own (deploy/local/stack.sh with TRACKER_STACK_DIR
under .local/chaos/, ports of its own, three brokers), the Slack and OpenAI simulators, the five
services and HAProxy in front of ingest, then runs one trial per fault: SC1 or SC3 shortened
(loadgen --scale, with SC3's trigger: 200 summaries), the fault at a moment drawn from a seeded
generator, the time until every service is ready again and consumer lag is zero, and a wait
until the trial's events, summaries and posts have settled. Each trial has a Slack team of its
own, and sends two poison events after its load (text PostgreSQL refuses: a NUL character)
that the worker must dead-letter.

Faults: SIGKILL of each service and of two at once (restarted 1-3 s later, as a supervisor
would), SIGSTOP for 20 s, SIGKILL of the broker leading a slack-events partition (restarted),
of all brokers (restarted after 5 s), PostgreSQL stopped for 30 s, the Slack and OpenAI
simulators answering 429 or 5xx storms or holding answers beyond the clients' timeouts for
20 s, and ingest with few descriptors under SC1's connection burst.

Afterwards, per trial: every event answered 200 (HAProxy's log is the ledger: loadgen's samples
have no event_id) is exactly one row in study_logs, and no row is of an event never sent; every
summary job claimed is done and posted (slack-sim's record, by the delivery id in each post's
metadata) once, or twice only after an attempt the notifier counts in doubt (README.md, "The
crash window that remains"); the dead-letter topics hold the poison events and nothing else.

Writes a table per fault and per trial to --out (report.md, result.json); --record also writes
loadtest/results/chaos.md. Exit status 0 when every check holds, 1 when one does not (an
acknowledged event lost, a row doubled, a summary doubled outside the window, a summary never
posted, a dead letter not meant), 2 on a usage error, 130 when interrupted. Every wait has a
deadline; everything started is stopped at the end and on Ctrl-C.

Usage: loadtest/chaos/run_chaos.py [--quick] [--seed N] [--repeat N] [--only REGEX]
           [--stack isolated|shared] [--build DIR] [--out DIR] [--record]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pipeline import (ROOT, SERVICES, Failure, Pipeline, Stack, read_topic, say, sim_config,  # noqa: E402
                      stack_features, start_pipeline, step)
from faults import Fault, Timing, full_matrix, quick_matrix, timing  # noqa: E402
from checks import TrialRecord, by_fault, check_trials, table  # noqa: E402
from main_job import built, http_request, psql, run_main, sign  # noqa: E402
from run_replicas import haproxy_stats, read_ledger  # noqa: E402

RECORD = ROOT / "loadtest" / "results" / "chaos.md"
SCENARIOS = {"sc1": ROOT / "loadtest" / "scenarios" / "sc1.json",
             "sc3": ROOT / "loadtest" / "scenarios" / "sc3.json"}
RECOVERY_DEADLINE_S = 180
LAG_FRESH_S = 2.5  # the services' lag gauges follow librdkafka's statistics (every 1 s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="five telling faults, short (for CI: about 4-5 minutes with the "
                             "stack's start)")
    parser.add_argument("--seed", type=int, help="replays a run (default: random, printed)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="times each fault of the full matrix is made (default 2)")
    parser.add_argument("--only", metavar="REGEX",
                        help="only the faults whose name matches (e.g. 'kill|pg-stop')")
    parser.add_argument("--stack", choices=("isolated", "shared"), default="isolated",
                        help="isolated (default): a stack of its own, three brokers; shared: the "
                             "running stack of KAFKA_BROKERS/DATABASE_URL with topics of its own, "
                             "service and simulator faults only")
    parser.add_argument("--brokers", type=int, default=3, help="brokers of the isolated stack")
    parser.add_argument("--build", default=str(ROOT / "build"), help="build tree (default build/)")
    parser.add_argument("--out", default=str(ROOT / "loadtest" / "out" / "chaos"),
                        help="the run goes to OUT/<run> (default loadtest/out/chaos)")
    parser.add_argument("--record", action="store_true",
                        help=f"also write {RECORD.relative_to(ROOT)}")
    parser.add_argument("--settle-timeout", type=float, default=150,
                        help="seconds a trial may take to store and post everything after its "
                             "load (default 150)")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be 1..10")
    if args.stack == "isolated" and not 1 <= args.brokers <= 3:
        parser.error("--brokers must be 1..3")
    if args.only:
        try:
            re.compile(args.only)
        except re.error as error:
            parser.error(f"--only: {error}")
    if args.stack == "isolated" and "isolated" not in stack_features():
        parser.error("this deploy/local/stack.sh has no TRACKER_STACK_DIR (a stack of the run's "
                     "own): use --stack shared (service and simulator faults only)")
    if shutil.which("haproxy") is None:
        parser.error("haproxy not found: apt-get install -y haproxy")
    return run_main(run, args)


class Context:
    def __init__(self, args, run_id: str, seed: int, out: Path, log_dir: Path):
        self.args = args
        self.run_id = run_id
        self.seed = seed
        self.out = out
        self.log_dir = log_dir
        self.stack: Stack | None = None
        self.pipeline: Pipeline | None = None
        self.binaries: dict[str, Path] = {}
        self.skipped: list[str] = []
        self.findings: list[str] = []


def plan(args, seed: int, stack_kind: str, brokers_ok: bool) -> tuple[list[tuple[Fault, Timing]], list[str]]:
    rng = random.Random(seed)
    faults = quick_matrix() if args.quick else full_matrix(args.repeat, rng)
    if args.only:
        faults = [f for f in faults if re.search(args.only, f.name)]
    kept, skipped = [], []
    for f in faults:
        if f.needs and stack_kind == "shared":
            skipped.append(f"{f.name}: the shared stack's broker and database are not this run's")
        elif f.needs == "brokers" and not brokers_ok:
            skipped.append(f"{f.name}: stack.sh has no three-broker cluster here")
        else:
            kept.append(f)
    if args.quick:
        for f in kept:
            if f.kind == "pg-stop":
                f.duration_s = 10
    return [(f, timing(f, args.quick, rng)) for f in kept], sorted(set(skipped))


def run(args) -> int:
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%m%d%H%M%S") + secrets.token_hex(2).upper()
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    out = Path(args.out).resolve() / run_id
    log_dir = ROOT / ".local" / "run" / f"chaos-{run_id}"
    out.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(args, run_id, seed, out, log_dir)
    features = stack_features()
    brokers_ok = args.stack == "isolated" and "brokers" in features and args.brokers == 3
    trials, ctx.skipped = plan(args, seed, args.stack, brokers_ok)
    if not trials:
        raise Failure("no fault left to run (see --only and --stack)")
    started = time.monotonic()
    say(f"Chaos run {run_id}: {'quick' if args.quick else 'full matrix'}, seed {seed} "
        f"(--seed {seed} replays it), {len(trials)} trials, stack {args.stack}")
    for f, t in trials:
        step("plan", f"{f.name} under {f.scenario.upper()} ×{t.scale:g}: "
                     + ("for the whole load" if f.kind == "ingest-fd" else f"at {t.moment_s:.1f} s")
                     + (f" for {f.duration_s:g} s" if f.duration_s else "")
                     + (f", back after {t.restart_after_s:.1f} s" if f.kind in ("kill", "broker-leader") else ""))
    for s in ctx.skipped:
        step("skipped", s)
    step("logs", str(log_dir.relative_to(ROOT)))

    # Every wait below has its own deadline; this one bounds them all.
    budget = 600 + sum(t.sending_s + 60 + args.settle_timeout + RECOVERY_DEADLINE_S / 3
                       for _, t in trials)

    def out_of_time(_signum, _frame):
        raise Failure(f"the run's deadline ({budget:.0f} s) passed")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(budget))
    ctx.stack = Stack(isolated=args.stack == "isolated", run_id=run_id,
                      brokers=args.brokers if args.stack == "isolated" else 1)
    try:
        return run_trials(ctx, trials, started)
    finally:
        signal.alarm(0)
        if ctx.pipeline:
            unclean = ctx.pipeline.supervisor.stop_all()
            if unclean:
                say(f"  note: did not exit cleanly on SIGTERM: {', '.join(unclean)}")
        ctx.stack.down()


def copy_binaries(ctx: Context) -> dict[str, Path]:
    """The binaries copied for the run, so a restart starts the same build even if build/ is
    rebuilt meanwhile."""
    found = built(Path(ctx.args.build).resolve(), {"loadgen": "loadtest/loadgen",
                                                    "migrate": "tools/tracker-migrate"})
    target = ctx.log_dir / "bin"
    target.mkdir(exist_ok=True)
    out = {}
    for name, path in found.items():
        out[name] = target / name
        shutil.copy2(path, out[name])
    return out


def run_trials(ctx: Context, trials: list[tuple[Fault, Timing]], started: float) -> int:
    args = ctx.args
    ctx.binaries = copy_binaries(ctx)
    ctx.stack.up(ctx.log_dir)
    if ctx.stack.isolated:
        result = subprocess.run([str(ctx.binaries["migrate"])], capture_output=True, text=True,
                                timeout=120, env=dict(os.environ,
                                                      TRACKER_MIGRATIONS_DIR=str(ROOT / "schemas" / "migrations")))
        if result.returncode != 0:
            raise Failure(f"tracker-migrate: {(result.stderr or result.stdout).strip()[-500:]}")
    teams = [f"TCH{ctx.run_id}{i:02d}" for i in range(len(trials))]
    ctx.pipeline = start_pipeline(ctx.binaries, ctx.stack, ctx.log_dir, teams,
                                  secrets.token_hex(16), secrets.token_hex(16), shutil.which("haproxy"))
    stack_ready = time.monotonic() - started
    rng = random.Random(ctx.seed + 1)
    records = []
    for i, ((fault, tm), team) in enumerate(zip(trials, teams)):
        say()
        say(f"[{i + 1}/{len(trials)}] {fault.name} under {fault.scenario.upper()} ×{tm.scale:g}, "
            f"team {team}")
        try:
            records.append(run_trial(ctx, i + 1, fault, tm, team, rng))
        except Failure as failure:
            # One trial that could not be run through is reported, the rest still run.
            step("aborted", str(failure))
            ctx.findings.append(f"trial {i + 1} ({fault.name}) aborted: {failure}")
            restore_all(ctx, fault)
            records.append(aborted_record(ctx, i + 1, fault, tm, team, str(failure)))
    say()
    step("checks", "reading the dead-letter topics and the database")
    dlq = read_dead_letters(ctx)
    results, overall = check_trials(records, ctx.pipeline.proxy_log, ctx.pipeline.ports["slack-sim"],
                                    dlq)
    wall = time.monotonic() - started
    return report(ctx, trials, results, overall, wall, stack_ready)


def send_event(ctx: Context, team: str, event_id: str, user: str, text: str, micros: int) -> int:
    """One signed event_callback through HAProxy (so it is in the ledger); ingest's status, or
    -1 when none came."""
    now = time.time()
    ts = f"{int(now)}.{micros % 1_000_000:06d}"
    body = json.dumps({
        "token": "x", "team_id": team, "api_app_id": "A0TRACKER", "type": "event_callback",
        "event_id": event_id, "event_time": int(now),
        "event": {"type": "message", "channel": "C0CHAOS", "user": user, "text": text, "ts": ts,
                  "event_ts": ts, "channel_type": "channel"},
        "authorizations": [{"team_id": team, "user_id": "U0TRACKER", "is_bot": True}]}).encode()
    stamp = str(int(now))
    try:
        status, _ = http_request(ctx.pipeline.ports["proxy"], "POST", "/slack/events", body=body,
                                 headers={"Content-Type": "application/json",
                                          "X-Slack-Request-Timestamp": stamp,
                                          "X-Slack-Signature": sign(ctx.pipeline.secret, stamp, body)},
                                 timeout=3)
    except OSError:
        status = -1
    return status


def send_poison(ctx: Context, team: str, index: int) -> dict[str, int]:
    """Two events whose text PostgreSQL refuses (a NUL character): ingest takes them (valid JSON,
    signed), the worker must dead-letter them."""
    return {f"EvPOISON{team}{k}": send_event(ctx, team, f"EvPOISON{team}{k}", f"UCHAOS{k}",
                                             f"poison \u0000 {k}", k)
            for k in range(2)}


class Watch:
    """The trial's clock, the services the runner has taken down on purpose, and the recovery
    measured once the fault is undone."""

    def __init__(self, ctx: Context, rec: TrialRecord):
        self.ctx = ctx
        self.rec = rec
        self.t0 = time.monotonic()
        self.down: set[str] = set()
        self.undone_mono: float | None = None
        self.last_probe = 0.0
        self.canary: tuple[str, float] | None = None  # (event_id, sent at) awaiting its row

    def now(self) -> float:
        return time.monotonic() - self.t0

    def poll(self) -> None:
        """Restarts a service that exited by itself (noted: a finding), and measures recovery."""
        sup = self.ctx.pipeline.supervisor
        for name, s in sup.services.items():
            if name in self.down or s.popen is None or s.popen.poll() is None:
                continue
            tail = s.log_path.read_text(errors="replace").splitlines()[-3:]
            note = (f"{name} exited by itself with status {s.popen.returncode} at "
                    f"{self.now():.1f} s (log {s.log_path.name}: {' | '.join(t[:200] for t in tail)})")
            self.rec.notes.append(note)
            self.ctx.findings.append(f"trial {self.rec.index} ({self.rec.fault}): {note}")
            step("exited", note)
            if name in SERVICES:
                sup.start(name)
            else:
                raise Failure(f"{name} exited: {note}")
        if self.undone_mono is None or self.recovered():
            return
        if time.monotonic() - self.last_probe < 0.25:
            return
        self.last_probe = time.monotonic()
        since = time.monotonic() - self.undone_mono
        if self.rec.ready_after_s is None:
            if all(sup.ready(n) for n in SERVICES):
                self.rec.ready_after_s = round(since, 2)
        # The lag gauges are refreshed from librdkafka's statistics once a second: a process
        # just continued after SIGSTOP still shows what it had before, so a zero counts only
        # once a fresh one can have been taken.
        if self.rec.lag_zero_after_s is None and self.rec.ready_after_s is not None \
                and since >= LAG_FRESH_S and sup.lag() == 0:
            self.rec.lag_zero_after_s = round(since, 2)
        if self.rec.ready_after_s is not None and self.rec.stored_after_s is None:
            self.probe_end_to_end(since)
        if since > RECOVERY_DEADLINE_S:
            self.rec.notes.append(f"not recovered within {RECOVERY_DEADLINE_S} s of the fault's end")
            self.rec.lag_zero_after_s = self.rec.lag_zero_after_s  # stays None
            self.undone_mono = None

    def probe_end_to_end(self, since: float) -> None:
        """A canary event through ingest once every service is ready, again every 2 s until one
        has its row: readiness and a zero lag gauge do not prove that events flow (a consumer
        still rejoining its group shows both)."""
        if self.canary is not None:
            event_id, sent = self.canary
            try:
                stored = psql(f"SELECT count(*) FROM study_logs WHERE event_id = '{event_id}'")[0][0]
            except Failure:
                stored = "0"  # the database not back yet: asked again at the next poll
            if stored != "0":
                self.rec.stored_after_s = round(since, 2)
                return
            if time.monotonic() - sent < 2:
                return
        n = len(self.rec.canaries)
        event_id = f"EvCANARY{self.rec.team}{n:03d}"
        status = send_event(self.ctx, self.rec.team, event_id, "UCANARY", f"canary {n}", 500_000 + n)
        self.rec.canaries[event_id] = status
        self.canary = (event_id, time.monotonic()) if status == 200 else None

    def recovered(self) -> bool:
        return self.rec.lag_zero_after_s is not None and self.rec.stored_after_s is not None

    def undone(self) -> None:
        self.undone_mono = time.monotonic()
        self.rec.undone_at_s = round(self.now(), 2)

    def sleep_until(self, at_s: float, done=lambda: False) -> None:
        while self.now() < at_s and not done():
            self.poll()
            time.sleep(0.1)


def run_trial(ctx: Context, index: int, fault: Fault, tm: Timing, team: str,
              rng: random.Random) -> TrialRecord:
    p = ctx.pipeline
    sup = p.supervisor
    rec = TrialRecord(index=index, fault=fault.name, scenario=fault.scenario, team=team,
                      scale=tm.scale, seed_moment_s=tm.moment_s)
    if fault.kind == "ingest-fd":
        # Few descriptors: ingest starts only with a connection cap that fits them (it checks),
        # and SC1's burst of up to 5,000 connections goes beyond it.
        sup.terminate("ingest")
        sup.start("ingest", nofile=512, extra_env={"TRACKER_MAX_CONNECTIONS": "190"})
        sup.wait_ready(["ingest"], timeout_s=60)
        wait_proxy_up(p)
    leader = None
    if fault.kind == "broker-leader":
        partition = rng.randrange(6)
        leader = ctx.stack.leader(ctx.stack.topics["events"], partition)
        rec.notes.append(f"broker {leader} led {ctx.stack.topics['events']}-{partition}")

    loadgen_out = ctx.out / "loadgen" / f"trial-{index:02d}"
    argv = [str(ctx.binaries["loadgen"]), "--scenario", str(SCENARIOS[fault.scenario]),
            "--scale", f"{tm.scale:g}", "--ingest", f"127.0.0.1:{p.ports['proxy']}",
            "--team", team, "--out", str(loadgen_out), "--progress-every", "0"]
    if fault.scenario == "sc3":
        argv += ["--scheduler", f"127.0.0.1:{p.ports['scheduler-ops']}",
                 "--slack-sim", f"127.0.0.1:{p.ports['slack-sim']}"]
    log_path = ctx.log_dir / f"loadgen-{index:02d}.log"
    with open(log_path, "wb") as log:
        loadgen = subprocess.Popen(argv, env=dict(os.environ, SLACK_SIGNING_SECRET=p.secret,
                                                  TRACKER_ADMIN_TOKEN=p.admin_token),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    watch = Watch(ctx, rec)
    try:
        make_fault(ctx, fault, tm, watch, leader, loadgen)
        limit = 1200 * tm.scale + 90
        while loadgen.poll() is None:
            watch.poll()
            if watch.now() > limit:
                raise Failure(f"loadgen still running {limit:.0f} s after its start")
            time.sleep(0.1)
        if fault.kind == "ingest-fd":
            # The fault lasts the burst; ingest is then started again as usual.
            sup.terminate("ingest")
            sup.start("ingest")
            watch.undone()
        while watch.undone_mono is not None and not watch.recovered():
            watch.poll()
            time.sleep(0.2)
    finally:
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()
    if loadgen.returncode != 0:
        rec.notes.append(f"loadgen exited with {loadgen.returncode}")
    # After the load, so that the worker's detour for them (a refused batch is written again one
    # event at a time) does not hold up the logs SC3's trigger needs.
    rec.poison = send_poison(ctx, team, index)
    try:
        result = json.loads((loadgen_out / "result.json").read_text())
        rec.loadgen_run = result["run_id"]
        events_row = next(r for r in result["rows"] if r["label"] == "slack events")
        rec.loadgen_samples = events_row["samples"]
        rec.loadgen_failures = events_row.get("failures_by_cause", {})
        for r in result["rows"]:
            if r["label"] == "scheduler trigger" and r["failures"]:
                rec.notes.append(f"loadgen's trigger: {r.get('failures_by_cause')}")
    except (OSError, ValueError, StopIteration, KeyError) as error:
        raise Failure(f"trial {index}: loadgen's result.json unreadable: {error}; "
                      f"its log: {log_path}")
    settle(ctx, rec, watch)
    step("trial", f"fault at {rec.fault_at_s} s, undone at {rec.undone_at_s} s; ready "
                  f"{rec.ready_after_s} s, lag 0 {rec.lag_zero_after_s} s, a new event stored "
                  f"{rec.stored_after_s} s after; settled in "
                  f"{rec.settle_s:.1f} s" + (f"; {'; '.join(rec.notes)}" if rec.notes else ""))
    return rec


def restore_all(ctx: Context, fault: Fault) -> None:
    """After a trial that failed half-way: the fault undone whatever its state, every service
    running, continued and ready."""
    sup = ctx.pipeline.supervisor
    stack = ctx.stack
    try:
        if fault.kind == "sim":
            sim_config(ctx.pipeline.ports[fault.targets[0]], fault.settings["off"])
        elif fault.kind == "pg-stop":
            stack.sh("pg-start", timeout=120)
        elif fault.kind in ("broker-leader", "brokers-all"):
            stack.sh("kafka-start", *stack.brokers_args(), "--all", timeout=240)
        for name in SERVICES:
            sup.resume(name)
            if not sup.services[name].running:
                sup.start(name)
        if fault.kind == "ingest-fd":
            sup.terminate("ingest")
            sup.start("ingest")
        sup.wait_ready(SERVICES, timeout_s=120)
    except Failure as failure:
        raise Failure(f"could not restore the pipeline after trial with {fault.name}: {failure}")


def aborted_record(ctx: Context, index: int, fault: Fault, tm: Timing, team: str,
                   why: str) -> TrialRecord:
    rec = TrialRecord(index=index, fault=fault.name, scenario=fault.scenario, team=team,
                      scale=tm.scale, seed_moment_s=tm.moment_s)
    rec.notes.append(f"aborted: {why}")
    out = ctx.out / "loadgen" / f"trial-{index:02d}" / "result.json"
    try:
        result = json.loads(out.read_text())
        rec.loadgen_run = result["run_id"]
        rec.loadgen_samples = next(r for r in result["rows"] if r["label"] == "slack events")["samples"]
    except (OSError, ValueError, StopIteration, KeyError):
        pass
    return rec


def wait_proxy_up(p: Pipeline, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if haproxy_stats(p.ports["proxy-stats"]).get("ingest-1", {}).get("status") == "UP":
                return
        except (OSError, Failure):
            pass
        time.sleep(0.1)
    raise Failure(f"HAProxy did not have ingest UP within {timeout_s:.0f} s")


def make_fault(ctx: Context, fault: Fault, tm: Timing, watch: Watch, leader: int | None,
               loadgen: subprocess.Popen) -> None:
    """Waits for the fault's moment, makes it, and undoes it when its time comes."""
    sup = ctx.pipeline.supervisor
    stack = ctx.stack
    rec = watch.rec
    if fault.kind == "ingest-fd":
        rec.fault_at_s = 0.0
        return
    watch.sleep_until(tm.moment_s, done=lambda: loadgen.poll() is not None)
    rec.fault_at_s = round(watch.now(), 2)
    if fault.kind == "kill":
        for name in fault.targets:
            watch.down.add(name)
            sup.kill(name)
        step("fault", f"SIGKILL {', '.join(fault.targets)} at {rec.fault_at_s:.1f} s")
        watch.sleep_until(rec.fault_at_s + tm.restart_after_s)
        for name in fault.targets:
            sup.start(name)
            watch.down.discard(name)
    elif fault.kind == "stop":
        name = fault.targets[0]
        sup.pause(name)
        step("fault", f"SIGSTOP {name} at {rec.fault_at_s:.1f} s for {fault.duration_s:g} s")
        watch.sleep_until(rec.fault_at_s + fault.duration_s)
        sup.resume(name)
    elif fault.kind == "broker-leader":
        stack.sh("kafka-kill", "--broker", str(leader), *stack.brokers_args(), timeout=60)
        step("fault", f"SIGKILL broker {leader} at {rec.fault_at_s:.1f} s")
        watch.sleep_until(rec.fault_at_s + tm.restart_after_s)
        watch.undone()
        run_blocking(watch, lambda: stack.sh("kafka-start", "--broker", str(leader),
                                             *stack.brokers_args(), timeout=180))
        return
    elif fault.kind == "brokers-all":
        stack.sh("kafka-kill", *stack.brokers_args(), "--all", timeout=60)
        step("fault", f"SIGKILL every broker at {rec.fault_at_s:.1f} s")
        watch.sleep_until(rec.fault_at_s + fault.duration_s)
        watch.undone()
        run_blocking(watch, lambda: stack.sh("kafka-start", *stack.brokers_args(), "--all",
                                             timeout=240))
        return
    elif fault.kind == "pg-stop":
        stack.sh("pg-stop", timeout=60)
        step("fault", f"PostgreSQL stopped at {rec.fault_at_s:.1f} s for {fault.duration_s:g} s")
        watch.sleep_until(rec.fault_at_s + fault.duration_s)
        watch.undone()
        run_blocking(watch, lambda: stack.sh("pg-start", timeout=120))
        return
    elif fault.kind == "sim":
        sim = fault.targets[0]
        port = ctx.pipeline.ports[sim]
        sim_config(port, fault.settings["on"])
        step("fault", f"{sim}: {fault.targets[1]} at {rec.fault_at_s:.1f} s for {fault.duration_s:g} s")
        watch.sleep_until(rec.fault_at_s + fault.duration_s)
        sim_config(port, fault.settings["off"])
    watch.undone()


def run_blocking(watch: Watch, action) -> None:
    """A stack.sh command that waits (a broker rejoining), with the trial's watch kept up."""
    error: list[BaseException] = []

    def target():
        try:
            action()
        except BaseException as e:  # noqa: BLE001 (handed over to the main thread)
            error.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while thread.is_alive():
        watch.poll()
        time.sleep(0.2)
    if error:
        raise error[0]


def settle(ctx: Context, rec: TrialRecord, watch: Watch) -> None:
    """Until the trial's acknowledged events are stored, its summary jobs finished and posted,
    and consumer lag is zero (or --settle-timeout)."""
    started = time.monotonic()
    sup = ctx.pipeline.supervisor
    prefix = f"EvLOAD{rec.loadgen_run}"
    ledger, _ = read_ledger(ctx.pipeline.proxy_log)
    acked = sum(1 for line in ledger if line.status == 200 and line.event_id.startswith(prefix))
    while True:
        watch.poll()
        rows = int(psql(f"SELECT count(*) FROM study_logs WHERE team_id = '{rec.team}' "
                        f"AND event_id LIKE '{prefix}%'")[0][0])
        open_jobs = int(psql(f"SELECT count(*) FROM summary_jobs WHERE team_id = '{rec.team}' "
                             f"AND state NOT IN ('done', 'failed')")[0][0])
        pending = int(psql(f"SELECT count(*) FROM slack_deliveries WHERE team_id = '{rec.team}' "
                           f"AND state = 'pending'")[0][0])
        lag = sup.lag()
        if rows >= acked and open_jobs == 0 and pending == 0 and lag == 0:
            # The outbox may still hold records of jobs just done: one more look at lag.
            time.sleep(1)
            if sup.lag() == 0:
                break
        if time.monotonic() - started > ctx.args.settle_timeout:
            rec.notes.append(f"not settled within {ctx.args.settle_timeout:.0f} s: rows {rows} of "
                             f"{acked} acknowledged, jobs open {open_jobs}, deliveries pending "
                             f"{pending}, lag {lag}")
            break
        time.sleep(0.5)
    rec.settle_s = time.monotonic() - started


def read_dead_letters(ctx: Context) -> dict[str, list[str]]:
    roles = ("events_dlq", "requests_dlq", "outbox_dlq")
    out: dict[str, list[str]] = {}
    errors: list[str] = []

    def read(role):
        try:
            out[role] = read_topic(ctx.stack, ctx.stack.topics[role], timeout_s=90)
        except Failure as failure:
            errors.append(str(failure))

    threads = [threading.Thread(target=read, args=(r,), daemon=True) for r in roles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors or len(out) != len(roles):
        raise Failure("dead-letter topics not read: " + "; ".join(errors))
    return out


def command_line(ctx: Context) -> str:
    a = ctx.args
    argv = ["python3", "loadtest/chaos/run_chaos.py"]
    if a.quick:
        argv.append("--quick")
    argv += ["--seed", str(ctx.seed)]
    if not a.quick and a.repeat != 2:
        argv += ["--repeat", str(a.repeat)]
    if a.only:
        argv += ["--only", a.only]
    if a.stack != "isolated":
        argv += ["--stack", a.stack]
    if a.record:
        argv.append("--record")
    return " ".join(shlex.quote(x) for x in argv)


def report(ctx: Context, trials, results: list[dict], overall: dict, wall: float,
           stack_ready: float) -> int:
    failed = [r for r in results if not r["ok"]]
    lost = [r for r in results if r["lost_or_doubled"]]
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick" if ctx.args.quick else f"full matrix (each fault {ctx.args.repeat}×)"
    if ctx.args.only:
        mode += f", only faults matching `{ctx.args.only}`"
    stack = (f"a stack of its own ({ctx.stack.brokers} broker(s), PostgreSQL)" if ctx.stack.isolated
             else "the shared local stack, with topics and consumer groups of its own")
    lines = [
        f"Run {ctx.run_id}, {date}: {mode}, seed {ctx.seed}, on {stack}; {len(results)} trials in "
        f"{wall / 60:.1f} min ({stack_ready:.0f} s of it to start the stack and the pipeline); "
        f"load average {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores.",
        "",
        "```sh", command_line(ctx), "```", "",
        "By fault (sums over its trials):", "", by_fault(results),
        "Every trial (`not 200`: what the other requests got, by status; `posted twice (in "
        "window)`: of the summaries posted more than once, how many after an attempt the "
        "notifier counts in doubt; times in seconds, the fault's after loadgen's start, "
        "recovery after the fault was undone):", "", table(results),
    ]
    notes = [f"- trial {r['trial']} ({r['fault']}): {n}" for r in results for n in r["notes"]]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    failures = [f"- trial {r['trial']} ({r['fault']}): {c['check']}: {c['detail']}"
                for r in results for c in r["checks"] if not c["ok"]]
    if failures:
        lines += ["Failed checks:", "", *failures, ""]
    if ctx.skipped:
        lines += ["Not run here:", "", *[f"- {s}" for s in ctx.skipped], ""]
    lines += [f"Dead letters not meant: {overall['unexpected_dead_letters'] or 'none'}; the "
              f"ledger has {overall['ledger_lines']:,} lines ({overall['answered_twice_in_ledger']} "
              f"event_ids logged twice); deliveries by state: {overall['delivery_states']}.", ""]
    text = "\n".join(lines)
    say()
    say(text)
    summary = {"run_id": ctx.run_id, "seed": ctx.seed, "date": date, "mode": mode,
               "command": command_line(ctx), "stack": stack, "wall_s": round(wall, 1),
               "stack_and_pipeline_start_s": round(stack_ready, 1),
               "plan": [{"fault": f.name, "scenario": f.scenario, "duration_s": f.duration_s,
                         **asdict(t)} for f, t in trials],
               "skipped": ctx.skipped, "findings": ctx.findings, "overall": overall,
               "trials": results, "ok": not failed}
    (ctx.out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    (ctx.out / "report.md").write_text(f"# Chaos run {ctx.run_id}\n\n{text}")
    say(f"  written: {os.path.relpath(ctx.out, ROOT)}/report.md and result.json")
    if ctx.args.record:
        RECORD.write_text(
            "# Chaos: is anything acknowledged lost, or done twice?\n\n"
            "Written by `loadtest/chaos/run_chaos.py --record` (see `loadtest/chaos/README.md` "
            "for what each fault and column means).\n\n" + text)
        say(f"  recorded: {RECORD.relative_to(ROOT)}")
    if failed:
        say(f"\nFAILED: {len(failed)} of {len(results)} trials failed a check"
            + (f"; {len(lost)} lost or doubled something" if lost else ""))
        return 1
    say(f"\nOK: every acknowledged event stored once, every summary posted once (or within the "
        f"documented window), only the poison dead-lettered; wall time {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
