#!/usr/bin/env python3
"""ingest against a plain Go service doing the same job, and against the machine's ceiling.

One run, one machine, the same signed Slack events from slack-load: hello-server (a Beast server
that answers 200 at once: the ceiling), ingest (with each io-thread count asked for), and the Go
peer (loadtest/peers/go-ingest: net/http, slack-go's verifier, franz-go's ProduceSync with
acks=all and the idempotent producer), each answering 200 only once the local Kafka broker holds
the event. Closed model at 50, 1,000 and 5,000 keep-alive connections; open model at 3,000/s and
8,000/s over 1,000 connections. Every load shape runs each contender --rounds times, in
alternation, so that the machine's drift falls on all of them alike.

ingest and the Go peer write to topics of their own, made for the run and deleted after it:
nothing reaches slack-events. Loopback only; every run is bounded in count and time; the servers
and topics are removed on exit.

  loadtest/ingest/ingest-bench.sh [--build build] [--io-threads 1,2] [--rounds 2] [--quick]

Needs the local stack (deploy/local/stack.sh up), slack-load, hello-server and ingest built, and
Go (the peer is built here, from the Go module proxy's pinned versions in its go.mod). Writes
loadtest/results/ingest-vs-go.md (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Shape:
    name: str
    connections: int
    requests: int
    rate: int | None = None  # open model: requests/s

    def args(self) -> list[str]:
        out = ["--connections", str(self.connections), "--requests", str(self.requests),
               "--time-limit", "120"]
        if self.rate:
            out += ["--rate", str(self.rate)]
        return out


SHAPES = [
    Shape("closed, 50 connections", 50, 30_000),
    Shape("closed, 1,000 connections", 1_000, 60_000),
    Shape("closed, 5,000 connections", 5_000, 60_000),
    Shape("open, 3,000/s over 1,000 connections", 1_000, 45_000, 3_000),
    Shape("open, 8,000/s over 1,000 connections", 1_000, 80_000, 8_000),
]
QUICK = [Shape(s.name, s.connections, max(2_000, s.requests // 10), s.rate) for s in SHAPES]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log: Path
    runs: dict[str, list[dict]] = field(default_factory=dict)
    rss_after: dict[str, float] = field(default_factory=dict)  # at the end of the run
    rss_settled: dict[str, float] = field(default_factory=dict)  # 3 s later
    rss_peak: float = 0.0  # VmHWM over the whole benchmark

    def rss_mib(self, field_name: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")


def say(text: str) -> None:
    print(f"ingest-bench: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(server: Server, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"ingest-bench: {server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"ingest-bench: {server.name} not listening on {server.port}")


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process so far (nan when it cannot be read)."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def broker_pid() -> int | None:
    """The local stack's Kafka broker (it may have been restarted since the last run)."""
    try:
        return int((ROOT / ".local/kafka/kafka.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stack(*args: str) -> str:
    return subprocess.run(["bash", str(ROOT / "deploy/local/stack.sh"), *args], check=True,
                          capture_output=True, text=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--io-threads", default="1,2", help="ingest's TRACKER_IO_THREADS, each a contender")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "loadtest/results/ingest-vs-go.md"))
    parser.add_argument("--shapes", default="",
                        help="only these load shapes, by number (1-5, comma-separated; the "
                             "targets table needs all five)")
    parser.add_argument("--no-hello", action="store_true", help="leave hello-server out")
    parser.add_argument("--also", action="append", default=[],
                        metavar="NAME=BINARY[:THREADS[:VAR=VALUE,...]]",
                        help="another ingest as a contender (say, the build before a change, or "
                             "other settings), named ingest-NAME (repeatable)")
    parser.add_argument("--go-linger", default="0s")
    parser.add_argument("--go-compression", default="snappy")
    parser.add_argument("--ingest-env", action="append", default=[],
                        help="NAME=VALUE for every ingest contender (repeatable)")
    args = parser.parse_args()
    build = (ROOT / args.build).resolve()
    load = build / "loadtest/slack-load"
    hello = build / "loadtest/hello-server"
    ingest = build / "services/ingest/ingest"
    for binary in (load, hello, ingest):
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"ingest-bench: {binary} not built (ninja -C {args.build} slack-load "
                             f"hello-server ingest)")
    peer = build / "loadtest/go-ingest"
    say("building the Go peer (loadtest/peers/go-ingest)")
    subprocess.run(["go", "build", "-trimpath", "-o", str(peer), "."],
                   cwd=ROOT / "loadtest/peers/go-ingest", check=True)
    go_version = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()

    env = dict(os.environ)
    for line in stack("env").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name in ("KAFKA_BROKERS", "DATABASE_URL"):
            env[name] = shlex.split(value)[0] if value else ""
    brokers = env.get("KAFKA_BROKERS") or "127.0.0.1:19092"
    env["SLACK_SIGNING_SECRET"] = secrets.token_hex(16)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tag = secrets.token_hex(3)
    topics = {"ingest": f"bench-ingest-{tag}", "go": f"bench-go-{tag}"}
    work = Path(tempfile.mkdtemp(prefix="ingest-bench."))
    servers: list[Server] = []
    try:
        for topic in topics.values():
            stack("topic-create", topic, "6")
        say(f"topics {', '.join(topics.values())} (6 partitions each)")

        def start(name: str, argv: list[str], extra: dict[str, str], port: int) -> Server:
            log = work / f"{name}.log"
            process = subprocess.Popen(argv, env={**env, **extra}, stdout=log.open("w"),
                                       stderr=subprocess.STDOUT)
            server = Server(name, port, process, log)
            servers.append(server)
            wait_listening(server)
            return server

        if not args.no_hello:
            port = free_port()
            start("hello", [str(hello), "--port", str(port), "--threads", "1"], {}, port)
        ingest_env = dict(item.split("=", 1) for item in args.ingest_env)

        def start_ingest(name: str, binary: str, threads: str, extra: dict[str, str]) -> None:
            port = free_port()
            start(name, [binary],
                  {"TRACKER_INGEST_ADDRESS": "127.0.0.1", "TRACKER_INGEST_PORT": str(port),
                   "TRACKER_OPS_PORT": str(free_port()), "TRACKER_IO_THREADS": threads,
                   "TRACKER_INGEST_TOPIC": topics["ingest"], "TRACKER_LOG_LEVEL": "warn",
                   **ingest_env, **extra}, port)

        for threads in args.io_threads.split(","):
            start_ingest(f"ingest-io{threads}", str(ingest), threads, {})
        for also in args.also:
            name, _, rest = also.partition("=")
            binary, _, rest = rest.partition(":")
            threads, _, variables = rest.partition(":")
            start_ingest(f"ingest-{name}", binary, threads or "1",
                         dict(v.split("=", 1) for v in variables.split(",") if v))
        port = free_port()
        start("go-peer", [str(peer), "--address", f"127.0.0.1:{port}", "--brokers", brokers,
                          "--topic", topics["go"], "--linger", args.go_linger,
                          "--compression", args.go_compression], {}, port)
        # A first small run against each, so that connections to the broker and the producers'
        # metadata are warm before anything is measured.
        for server in servers:
            subprocess.run([str(load), "--target", f"127.0.0.1:{server.port}", "--connections", "20",
                            "--requests", "2000", "--time-limit", "30"], env=env, check=True,
                           capture_output=True, timeout=60)

        shapes = QUICK if args.quick else SHAPES
        if args.shapes:
            shapes = [shapes[int(n) - 1] for n in args.shapes.split(",")]
        for shape in shapes:
            for round_number in range(1, args.rounds + 1):
                for server in servers:
                    out = work / f"{server.name}-{shape.connections}-{shape.rate}-{round_number}.json"
                    say(f"{shape.name}, round {round_number}: {server.name}")
                    broker = broker_pid()
                    server_cpu, broker_cpu = cpu_seconds(server.process.pid), cpu_seconds(broker)
                    subprocess.run([str(load), "--target", f"127.0.0.1:{server.port}", *shape.args(),
                                    "--label", server.name, "--json", str(out)],
                                   env=env, check=True, capture_output=True, timeout=240)
                    run = json.loads(out.read_text())
                    # CPU time per request of the server and of the broker over the run.
                    count = run.get("requests") or 1
                    run["server_cpu_us"] = \
                        (cpu_seconds(server.process.pid) - server_cpu) / count * 1e6
                    run["broker_cpu_us"] = (cpu_seconds(broker) - broker_cpu) / count * 1e6
                    server.runs.setdefault(shape.name, []).append(run)
                    server.rss_after[shape.name] = server.rss_mib()
                    time.sleep(3)  # the broker's and the kernel's queues settle
                    server.rss_settled[shape.name] = server.rss_mib()
                    server.rss_peak = server.rss_mib("VmHWM")
        report(args, shapes, servers, go_version, " ".join(shlex.quote(a) for a in sys.argv))
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
        for topic in topics.values():
            try:
                stack("topic-delete", topic)
            except subprocess.CalledProcessError as error:
                say(f"could not delete topic {topic}: {error.stderr.strip()}")
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    return 0


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def lat(run: dict, key: str) -> float:
    latency = run.get("latency_ms")
    return latency.get(key, float("nan")) if isinstance(latency, dict) else float("nan")


def span(values: list[float], digits: int = 0) -> str:
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return f"{lo:,.{digits}f}" if round(lo, digits) == round(hi, digits) else \
        f"{lo:,.{digits}f}-{hi:,.{digits}f}"


def report(args, shapes: list[Shape], servers: list[Server], go_version: str, command: str) -> None:
    by_name = {s.name: s for s in servers}
    go, hello = by_name["go-peer"], by_name.get("hello")
    ingests = [s for s in servers if s.name.startswith("ingest")]
    lines = ["# ingest against a plain Go service and the machine's ceiling", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} "
             f"cores; slack-load, the servers and the Kafka broker (KRaft, one node, the local "
             f"stack) share the machine over loopback. Each load shape ran each contender "
             f"{args.rounds} times in alternation; a cell shows the range over the rounds.", "",
             "```sh", command, "```", "",
             f"Contenders: hello-server (1 thread); {', '.join(s.name for s in ingests)} (ingest "
             f"with that many event loops, acks=all, publish deadline 2 s"
             f"{'; ' + ', '.join(args.ingest_env) if args.ingest_env else ''}); go-peer "
             f"(loadtest/peers/go-ingest, {go_version}, franz-go ProduceSync, acks=all, idempotent, "
             f"linger {args.go_linger}, {args.go_compression}). ingest and go-peer write to topics "
             f"of their own (6 partitions), deleted after the run.", ""]
    lines += ["## Ratios", "",
              "req/s is the mean over the rounds; p99 the mean of the rounds' p99.", "",
              "RSS: at the end of the shape's last run, and 3 s later.", "",
              "| load | contender | req/s | ÷ go-peer | ÷ hello | p50 ms | p99 ms | p99 ÷ go-peer | "
              "max ms | errors | RSS end / 3 s later MiB |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for shape in shapes:
        go_rps = mean([r["throughput_rps"] for r in go.runs.get(shape.name, [])])
        go_p99 = mean([lat(r, "p99") for r in go.runs.get(shape.name, [])])
        hello_rps = mean([r["throughput_rps"] for r in hello.runs.get(shape.name, [])]) \
            if hello else float("nan")
        for server in [*ingests, go, *([hello] if hello else [])]:
            runs = server.runs.get(shape.name, [])
            rps = mean([r["throughput_rps"] for r in runs])
            p99 = mean([lat(r, "p99") for r in runs])
            errors = sum(r.get("failures", 0) for r in runs)
            lines.append(
                f"| {shape.name} | {server.name} | {span([r['throughput_rps'] for r in runs])} | "
                f"{rps / go_rps:.2f} | {rps / hello_rps:.2f} | "
                f"{span([lat(r, 'median') for r in runs], 2)} | {span([lat(r, 'p99') for r in runs], 2)} | "
                f"{p99 / go_p99:.2f} | {span([lat(r, 'max') for r in runs], 1)} | {errors} | "
                f"{server.rss_after.get(shape.name, float('nan')):.0f} / "
                f"{server.rss_settled.get(shape.name, float('nan')):.0f} |")
    lines += ["", "Peak RSS over the whole benchmark (VmHWM): " +
              ", ".join(f"{s.name} {s.rss_peak:.0f} MiB" for s in servers) + "."]
    lines += cpu_per_request(shapes, servers)
    if len(shapes) == len(SHAPES) and hello:
        lines += targets(shapes, ingests, go, hello)
    lines += every_run(shapes, servers)
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def targets(shapes: list[Shape], ingests: list[Server], go: Server, hello: Server) -> list[str]:
    lines = ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]

    def best(name: str) -> Server:
        # The ingest contender with the most req/s at 1,000 connections: the default to ship.
        return max(ingests, key=lambda s: mean([r["throughput_rps"] for r in s.runs.get(name, [])]))

    for shape in shapes[:3]:
        target = best(shape.name)
        ratio = mean([r["throughput_rps"] for r in target.runs[shape.name]]) / \
            mean([r["throughput_rps"] for r in go.runs[shape.name]])
        errors = sum(r.get("failures", 0) for r in target.runs[shape.name])
        lines.append(f"| {shape.name}: req/s ≥ 1.3 × go-peer, 0 errors | {target.name}: "
                     f"{ratio:.2f} ×, {errors} errors | {'yes' if ratio >= 1.3 and errors == 0 else 'no'} |")
    for shape, limit in ((shapes[2], 300.0), (shapes[1], 50.0)):
        target = best(shape.name)
        p99 = mean([lat(r, "p99") for r in target.runs[shape.name]])
        go_p99 = mean([lat(r, "p99") for r in go.runs[shape.name]])
        ok = p99 <= limit and (shape is not shapes[2] or p99 < go_p99)
        lines.append(f"| {shape.name}: p99 ≤ {limit:.0f} ms"
                     f"{' and below go-peer' if shape is shapes[2] else ''} | {target.name}: "
                     f"{p99:.1f} ms (go-peer {go_p99:.1f}) | {'yes' if ok else 'no'} |")
    for shape, median_limit, p99_limit in ((shapes[3], 1.0, 5.0), (shapes[4], None, 10.0)):
        # Open model: every contender keeps the rate, so the one with the shortest p99.
        target = min(ingests, key=lambda s: mean([lat(r, "p99") for r in s.runs[shape.name]]))
        median = mean([lat(r, "median") for r in target.runs[shape.name]])
        p99 = mean([lat(r, "p99") for r in target.runs[shape.name]])
        ok = p99 <= p99_limit and (median_limit is None or median <= median_limit)
        lines.append(f"| {shape.name}: {'median ≤ 1 ms, ' if median_limit else ''}p99 ≤ "
                     f"{p99_limit:.0f} ms | {target.name}: median {median:.2f}, p99 {p99:.2f} ms | "
                     f"{'yes' if ok else 'no'} |")
    target = best(shapes[1].name)
    ratio = mean([r["throughput_rps"] for r in target.runs[shapes[1].name]]) / \
        mean([r["throughput_rps"] for r in hello.runs[shapes[1].name]])
    lines.append(f"| ingest ÷ hello ≥ 0.5 at 1,000 connections | {target.name}: {ratio:.2f} | "
                 f"{'yes' if ratio >= 0.5 else 'no'} |")
    rss = max(s.rss_after.get(shapes[2].name, 0) for s in ingests)
    settled = max(s.rss_settled.get(shapes[2].name, 0) for s in ingests)
    lines.append(f"| RSS ≤ 64 MiB after the 5,000-connection run | the largest ingest: {rss:.0f} "
                 f"MiB at its end, {settled:.0f} MiB 3 s later | "
                 f"{'yes' if rss <= 64 else ('3 s later' if settled <= 64 else 'no')} |")
    return lines


def cpu_per_request(shapes: list[Shape], servers: list[Server]) -> list[str]:
    """Where the machine's CPU went per request: the server, the broker, the load client."""
    lines = ["", "## CPU per request", "",
             "CPU time (user + system, from /proc) over each run divided by its requests, in µs; "
             "the range over the rounds. The broker's is the Kafka broker's whole process "
             "(hello writes nothing to it). The three share the machine's 2 cores, so at "
             "saturation their sum sets the rate.", "",
             "| load | contender | server µs | broker µs | client µs |", "|---|---|---:|---:|---:|"]
    for shape in shapes:
        for server in servers:
            runs = server.runs.get(shape.name, [])
            client = [(r["client"]["cpu_user_s"] + r["client"]["cpu_system_s"]) /
                      (r.get("requests") or 1) * 1e6 for r in runs if isinstance(r.get("client"), dict)]
            lines.append(f"| {shape.name} | {server.name} | "
                         f"{span([r.get('server_cpu_us', float('nan')) for r in runs])} | "
                         f"{span([r.get('broker_cpu_us', float('nan')) for r in runs])} | "
                         f"{span(client)} |")
    return lines


def every_run(shapes: list[Shape], servers: list[Server]) -> list[str]:
    lines = ["", "## Every run", "",
              "| load | contender | round | req/s | p50 | p90 | p99 | max | errors | client "
              "start lag max ms |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for shape in shapes:
        for server in servers:
            for n, run in enumerate(server.runs.get(shape.name, []), start=1):
                lag = run.get("start_lag_ms")
                lag_max = lag.get("max", float("nan")) if isinstance(lag, dict) else float("nan")
                lines.append(f"| {shape.name} | {server.name} | {n} | {run['throughput_rps']:,.0f} | "
                             f"{lat(run, 'median'):.2f} | {lat(run, 'p90'):.2f} | "
                             f"{lat(run, 'p99'):.2f} | {lat(run, 'max'):.1f} | "
                             f"{run.get('failures', 0)} | {lag_max:.1f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
