#!/usr/bin/env python3
"""Runs load scenarios (loadtest/scenarios/*.json) with loadgen against the whole pipeline on
this machine: the Slack and OpenAI simulators and the five services, started here on free
loopback ports, against the Kafka broker and PostgreSQL of deploy/local/stack.sh. Prints each
scenario's JMeter table and, at the end, what each stage did; stops everything it started.

Usage: loadtest/run_scenarios.py [--build DIR] [--scale F] [--out DIR] [--together] [--check]
                                 SCENARIO.json...

Scenarios run one after another, or with --together all at once (each with its own team, so
each trigger summarises its own scenario's people; they share the services and Slack's limits).

Needs KAFKA_BROKERS and DATABASE_URL: eval "$(bash deploy/local/stack.sh env)" first.
The simulated workspace takes 600 posts a minute (burst 20) and one a second per channel; the
notifier paces itself to the same limits, and summaries go to each person's DM
(TRACKER_SUMMARY_DESTINATION=dm). The OpenAI simulator answers in 400 ms (median, p99 1.2 s)
and allows 5,000 requests and 4,000,000 tokens a minute; the summarizer keeps to the same.
"""

import argparse
import datetime as dt
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The OpenAI account's limits, enforced by the simulator and kept to by the summarizer: those of
# OpenAI's usage tier 3 for gpt-4o-mini. (The summarizer's defaults, 500 / 200,000, are tier 1's:
# about 60 summaries a minute with a full 3,000-token prompt, a third of what SC3 asks for.)
OPENAI_RPM = "5000"
OPENAI_TPM = "4000000"
sys.path.insert(0, str(ROOT / "scripts"))

from main_job import (TRIGGER_ONLY_SCHEDULER, Failure, Processes, built, free_port,  # noqa: E402
                      print_stage_rows, run_main, say, stage_rows, step, wait_listening,
                      wait_ready)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="+", help="scenario files")
    parser.add_argument("--build", default=str(ROOT / "build"), help="build tree (default build/)")
    parser.add_argument("--scale", default="1", help="loadgen --scale (default 1: full size)")
    parser.add_argument("--out", default=str(ROOT / "loadtest" / "out"),
                        help="results go to OUT/<scenario>-<run> (default loadtest/out)")
    parser.add_argument("--together", action="store_true",
                        help="run the scenarios at the same time instead of one after another")
    parser.add_argument("--k6-check", action="store_true",
                        help="afterwards, call the k6 scripts' functions against the pipeline "
                             "(node loadtest/k6/test/live.mjs: k6's modules stood in for)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every request and every trigger succeeded")
    return run_main(run, parser.parse_args())


def run(args) -> int:
    for var in ("KAFKA_BROKERS", "DATABASE_URL"):
        if not os.environ.get(var):
            raise Failure(f"{var} is not set: eval \"$(bash deploy/local/stack.sh env)\" first")
    build = Path(args.build).resolve()
    binaries = built(build, {"loadgen": "loadtest/loadgen"})
    scenarios = [Path(s).resolve() for s in args.scenarios]
    for s in scenarios:
        if not s.is_file():
            raise Failure(f"no scenario file {s}")

    run_id = dt.datetime.now(dt.timezone.utc).strftime("%m%d%H%M%S") + secrets.token_hex(2).upper()
    teams = {s: f"TLG{run_id}{i}" for i, s in enumerate(scenarios)}
    teams["k6"] = f"TK6{run_id}"
    log_dir = ROOT / ".local" / "run" / f"load-{run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes(log_dir)
    try:
        return run_all(args, binaries, processes, scenarios, teams, run_id, log_dir)
    finally:
        unclean = processes.stop_all()
        if unclean:
            say(f"  note: did not exit cleanly on SIGTERM: {', '.join(unclean)}")


def stack_processes() -> dict[str, int]:
    """The local stack's broker and PostgreSQL postmaster (deploy/local/stack.sh), whose CPU and
    memory loadgen reads from /proc: they export no metrics. Those not running are left out."""
    found = {}
    kafka_pid = ROOT / ".local" / "kafka" / "kafka.pid"
    datadir_record = ROOT / ".local" / "pg-datadir"
    candidates = [("kafka", kafka_pid)]
    if datadir_record.is_file():
        candidates.append(("postgresql", Path(datadir_record.read_text().strip()) / "postmaster.pid"))
    for name, pid_file in candidates:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").is_dir():
            found[name] = pid
    return found


def run_all(args, binaries, processes: Processes, scenarios, teams, run_id, log_dir) -> int:
    common = {"TRACKER_LOG_LEVEL": os.environ.get("TRACKER_LOG_LEVEL", "warn")}
    slack = processes.start("slack-sim", [str(binaries["slack-sim"]), "--port", "0",
                                          "--channel-per-second", "1",
                                          "--workspace-per-minute", "600"], {})
    slack_port = wait_listening(slack)
    openai = processes.start("openai-sim", [str(binaries["openai-sim"]), "--port", "0",
                                            "--latency-median-ms", "400",
                                            "--latency-p99-ms", "1200",
                                            "--rpm", OPENAI_RPM, "--tpm", OPENAI_TPM], {})
    openai_port = wait_listening(openai)
    secret = secrets.token_hex(16)
    admin_token = secrets.token_hex(16)
    ports = {name: free_port() for name in
             ("ingest", "ingest-ops", "worker", "scheduler", "summarizer", "notifier")}
    processes.start("notifier", [str(binaries["notifier"])],
                    {**common, "SLACK_BOT_TOKEN": "xoxb-simulated",
                     "SLACK_API_BASE_URL": f"http://127.0.0.1:{slack_port}/api",
                     "TRACKER_SLACK_WORKSPACE_PER_MINUTE": "600",
                     "TRACKER_SLACK_WORKSPACE_BURST": "20",
                     "TRACKER_OPS_PORT": str(ports["notifier"])})
    processes.start("summarizer", [str(binaries["summarizer"])],
                    {**common, "OPENAI_API_KEY": "sk-simulated",
                     "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
                     "TRACKER_SUMMARY_DESTINATION": "dm",
                     "TRACKER_OPENAI_REQUESTS_PER_MINUTE": OPENAI_RPM,
                     "TRACKER_OPENAI_TOKENS_PER_MINUTE": OPENAI_TPM,
                     "TRACKER_OPS_PORT": str(ports["summarizer"])})
    processes.start("worker", [str(binaries["worker"])],
                    {**common, "TRACKER_OPS_PORT": str(ports["worker"]),
                     "TRACKER_ALLOWED_TEAM_IDS": ",".join(teams.values())})
    # Only the scenarios' triggers claim summaries.
    processes.start("scheduler", [str(binaries["scheduler"])],
                    {**common, **TRIGGER_ONLY_SCHEDULER, "TRACKER_OPS_PORT": str(ports["scheduler"]),
                     "TRACKER_ADMIN_TOKEN": admin_token})
    processes.start("ingest", [str(binaries["ingest"])],
                    {**common, "SLACK_SIGNING_SECRET": secret,
                     "TRACKER_INGEST_ADDRESS": "127.0.0.1",
                     "TRACKER_INGEST_PORT": str(ports["ingest"]),
                     "TRACKER_OPS_PORT": str(ports["ingest-ops"])})
    started = time.monotonic()
    for name in ("notifier", "summarizer", "worker", "scheduler"):
        wait_ready(processes, name, ports[name])
    wait_ready(processes, "ingest", ports["ingest-ops"])
    step("pipeline", f"ingest :{ports['ingest']}, scheduler :{ports['scheduler']}, slack-sim "
                     f":{slack_port}, openai-sim :{openai_port}; ready in "
                     f"{time.monotonic() - started:.1f} s; logs in {log_dir.relative_to(ROOT)}")
    resources: list[str] = []
    if registered := processes.register_with_prometheus(f"load-{run_id}", ports):
        step("Prometheus", f"scraping the pipeline ({registered})")
        prometheus = urllib.parse.urlparse(os.environ.get("TRACKER_PROMETHEUS_URL", ""))
        if prometheus.hostname and prometheus.port:
            resources += ["--prometheus", f"{prometheus.hostname}:{prometheus.port}",
                          "--prometheus-run", f"load-{run_id}"]
    for name, pid in stack_processes().items():
        resources += ["--process", f"{name}={pid}"]

    env = dict(os.environ, SLACK_SIGNING_SECRET=secret, TRACKER_ADMIN_TOKEN=admin_token)
    outs = {s: Path(args.out) / f"{s.stem}-{run_id}" for s in scenarios}

    def loadgen(scenario: Path) -> list[str]:
        return [str(binaries["loadgen"]), "--scenario", str(scenario), "--scale", args.scale,
                "--ingest", f"127.0.0.1:{ports['ingest']}",
                "--scheduler", f"127.0.0.1:{ports['scheduler']}",
                "--slack-sim", f"127.0.0.1:{slack_port}", "--team", teams[scenario],
                "--out", str(outs[scenario]), *resources]

    if args.together:
        # Each loadgen's output goes to its own file, shown once it is done.
        running = {}
        for scenario in scenarios:
            outs[scenario].mkdir(parents=True, exist_ok=True)
            log = open(outs[scenario] / "loadgen.log", "wb")
            running[scenario] = subprocess.Popen(loadgen(scenario), env=env, stdout=log,
                                                 stderr=subprocess.STDOUT)
            log.close()
        step("together", ", ".join(s.stem for s in scenarios) + f" started; progress in "
                         f"{Path(args.out)}/<scenario>-{run_id}/loadgen.log")
        codes = {}
        try:
            while len(codes) < len(running):
                for scenario, popen in running.items():
                    if scenario not in codes and popen.poll() is not None:
                        codes[scenario] = popen.returncode
                        say()
                        say((outs[scenario] / "loadgen.log").read_text(errors="replace"))
                processes.check_alive()
                time.sleep(1)
        finally:
            for popen in running.values():
                if popen.poll() is None:
                    popen.terminate()
                    popen.wait()
    else:
        codes = {}
        for scenario in scenarios:
            say()
            codes[scenario] = subprocess.call(loadgen(scenario), env=env)
            processes.check_alive()

    failed = []
    for scenario in scenarios:
        if codes[scenario] != 0:
            raise Failure(f"loadgen exited with status {codes[scenario]} on {scenario.name}")
        for line in (outs[scenario] / "summary.csv").read_text().splitlines()[1:]:
            label, samples, failures = line.split(",")[:3]
            if failures != "0":
                failed.append(f"{scenario.stem}: {label}: {failures} of {samples} failed")

    if args.k6_check:
        say()
        step("k6 scripts", "their functions against the pipeline (node, k6's modules stood in for)")
        code = subprocess.call(["node", str(ROOT / "loadtest" / "k6" / "test" / "live.mjs")], env=dict(
            env, K6_SHIM_LIVE="1", INGEST=f"http://127.0.0.1:{ports['ingest']}",
            SCHEDULER=f"http://127.0.0.1:{ports['scheduler']}",
            SLACK_SIM=f"http://127.0.0.1:{slack_port}", TEAM=teams["k6"]))
        if code != 0:
            failed.append(f"k6 scripts against the pipeline: live.mjs exited with {code}")

    say()
    _, rows = stage_rows(ports)
    print_stage_rows(rows)
    if failed:
        say("\nfailures:\n  " + "\n  ".join(failed))
        if args.check:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
