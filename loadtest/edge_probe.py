#!/usr/bin/env python3
"""Probes a running ingest at its edges and prints what it saw, one check at a time.

  python3 loadtest/edge_probe.py --ingest 127.0.0.1:3000 --ops 127.0.0.1:9464 CHECK...

Checks (each bounded in count and time, loopback only):
  sizes        signed event_callback bodies padded in the text to 999,000 ... 1,048,000 bytes
               (step 1,000) and around the body limit: the smallest not answered 200, and what
               each size range got (status, x-slack-no-retry)
  ops-flood    64 idle and 16 trickling connections held on the ops port, then /healthz,
               /readyz and /metrics probed every 0.5 s for --hold seconds
  broker-down  stops the local broker (deploy/local/stack.sh kafka-stop), waits for /readyz to
               turn 503, sends --events signed events one after another, starts the broker
               again and posts until the first 200: latencies of the 503s and the recovery time
  http         HEAD on both ports (does a body follow the headers?), HTTP/1.1 without Host,
               Transfer-Encoding: gzip, chunked
  connections  holds --hold-connections idle connections to ingest, then opens 5 more: what
               each of those gets, and how long it waits (--client-timeout)

Needs SLACK_SIGNING_SECRET in the environment (the one ingest verifies with).
"""
import argparse
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loopback(address):
    host, _, port = address.rpartition(":")
    if not host.startswith("127.") and host != "localhost":
        sys.exit(f"edge_probe: {address} is not a loopback address")
    return host, int(port)


def event_body(event_id, size=None):
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "team_id": "TPROBE",
        "api_app_id": "APROBE",
        "event": {"type": "message", "channel": "C0PROBE", "user": "U0PROBE",
                  "text": "", "ts": "1700000000.000100", "event_ts": "1700000000.000100",
                  "channel_type": "channel"},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
    }
    text = json.dumps(body, separators=(",", ":"))
    if size is not None:
        body["event"]["text"] = "a" * max(0, size - len(text))
        text = json.dumps(body, separators=(",", ":"))
    return text.encode()


def signed_request(secret, body, path="/slack/events", extra=""):
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    head = (f"POST {path} HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
            f"X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: v0={digest.hexdigest()}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n")
    return head.encode() + body


def read_response(sock, timeout, head_only=False):
    """Reads one response; returns (status, headers dict, body bytes, extra bytes after it)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, b"", b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def exchange(address, raw, timeout=10.0, head_only=False):
    started = time.monotonic()
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(raw)
            status, headers, body, extra = read_response(sock, timeout, head_only)
    except (OSError, ValueError, IndexError) as error:
        return {"status": 0, "error": type(error).__name__, "ms": (time.monotonic() - started) * 1e3}
    return {"status": status, "headers": headers, "body": body, "extra": extra,
            "ms": (time.monotonic() - started) * 1e3}


def check_sizes(args, secret):
    sizes = list(range(999_000, 1_048_001, 1_000)) + [1_048_576, 1_048_577, 1_100_000]
    results = []
    for i, size in enumerate(sizes):
        body = event_body(f"EvSIZE{i:05d}{int(time.time())}", size)
        got = exchange(args.ingest, signed_request(secret, body), timeout=15)
        results.append((len(body), got["status"], got.get("headers", {}).get("x-slack-no-retry", "-"),
                        got.get("body", b"")[:120].decode("utf-8", "replace")))
    first_bad = next((r for r in results if r[1] != 200), None)
    print("sizes: body bytes -> status (x-slack-no-retry)")
    start = results[0]
    for previous, current in zip(results, results[1:] + [None]):
        if current is None or current[1:3] != previous[1:3]:
            print(f"  {start[0]:>9,} .. {previous[0]:>9,}  {previous[1]} ({previous[2]})  {previous[3]}")
            start = current
    print(f"  smallest not 200: {first_bad[0]:,} bytes -> {first_bad[1]}" if first_bad
          else "  every size was 200")


def ops_probe(address, path):
    got = exchange(address, f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode(), timeout=2)
    return got["status"], got["ms"]


def check_ops_flood(args):
    held = []
    for i in range(80):
        sock = socket.create_connection(args.ops, timeout=5)
        if i % 5 == 0:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # a request started, never finished
        held.append(sock)
    results = []
    until = time.monotonic() + args.hold
    while time.monotonic() < until:
        for path in ("/healthz", "/readyz", "/metrics"):
            results.append(ops_probe(args.ops, path))
        time.sleep(0.5)
    for sock in held:
        sock.close()
    ok = [ms for status, ms in results if status in (200, 503)]
    print(f"ops-flood: 64 idle + 16 trickling connections held for {args.hold:.0f} s; "
          f"{len(ok)} of {len(results)} probes answered"
          + (f", median {statistics.median(ok):.1f} ms, max {max(ok):.1f} ms" if ok else ""))


def stack(verb):
    return subprocess.run(["bash", os.path.join(ROOT, "deploy/local/stack.sh"), verb],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def check_broker_down(args, secret):
    stopped = time.monotonic()
    stack("kafka-stop")
    stop_took = time.monotonic() - stopped
    not_ready = None
    while time.monotonic() - stopped < 30:
        status, _ = ops_probe(args.ops, "/readyz")
        if status == 503:
            not_ready = time.monotonic() - stopped
            break
        time.sleep(0.02)
    answers = []
    for i in range(args.events):
        got = exchange(args.ingest, signed_request(secret, event_body(f"EvDOWN{i}{int(time.time())}")))
        answers.append((got["status"], got["ms"], got.get("headers", {}).get("x-slack-no-retry", "-")))
    restart = {}

    def start_broker():
        restart["began"] = time.monotonic()
        stack("kafka-start")
        restart["ready"] = time.monotonic()

    thread = threading.Thread(target=start_broker)
    thread.start()
    while "began" not in restart:
        time.sleep(0.001)
    first_ok = None
    while time.monotonic() - restart["began"] < 60:
        got = exchange(args.ingest, signed_request(secret, event_body(f"EvBACK{int(time.time() * 1e3)}")))
        if got["status"] == 200:
            first_ok = time.monotonic() - restart["began"]
            break
        time.sleep(0.05)
    thread.join()
    latencies = [ms for _, ms, _ in answers]
    statuses = sorted({s for s, _, _ in answers})
    print(f"broker-down: kafka-stop took {stop_took:.2f} s; /readyz 503 after "
          + (f"{not_ready:.2f} s" if not_ready is not None else "never (30 s)"))
    print(f"  {len(answers)} events while down: statuses {statuses}, x-slack-no-retry "
          f"{sorted({n for _, _, n in answers})}, median {statistics.median(latencies):.1f} ms, "
          f"max {max(latencies):.1f} ms, over 1 s: {sum(ms > 1000 for ms in latencies)}")
    print(f"  kafka-start ready after {restart['ready'] - restart['began']:.2f} s; first 200 "
          + (f"{first_ok:.2f} s after kafka-start began" if first_ok is not None else "not within 60 s"))


def check_http(args):
    print("http:")
    for name, address in (("ingest", args.ingest), ("ops", args.ops)):
        for path in ("/slack/events", "/", "/healthz"):
            with socket.create_connection(address, timeout=2) as sock:
                sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
                status, headers, _, extra = read_response(sock, 2, head_only=True)
                sock.settimeout(0.3)
                try:
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        extra += chunk
                except OSError:
                    pass
            print(f"  HEAD {path:<14} on {name:<6} -> {status}, content-length "
                  f"{headers.get('content-length', '-')}, {len(extra)} body bytes after the headers")
    for name, raw in (
        ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n"),
        ("Transfer-Encoding: gzip, chunked",
         b"POST /slack/events HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
         b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ):
        target = args.ops if b"healthz" in raw else args.ingest
        got = exchange(target, raw, timeout=3)
        print(f"  {name:<33} -> {got['status']}")


def check_connections(args):
    held = []
    refused_open = 0
    for _ in range(args.hold_connections):
        try:
            held.append(socket.create_connection(args.ingest, timeout=2))
        except OSError:
            refused_open += 1
    time.sleep(0.5)
    results = []
    for _ in range(5):
        got = exchange(args.ingest, b"GET /slack/events HTTP/1.1\r\nHost: probe\r\n\r\n",
                       timeout=args.client_timeout)
        results.append((got["status"], got["ms"], got.get("error", "")))
    for sock in held:
        sock.close()
    print(f"connections: {len(held)} idle connections held ({refused_open} could not open); "
          f"5 more got:")
    for status, ms, error in results:
        print(f"  {status or 'no answer'} after {ms:.0f} ms {error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingest", required=True, help="ingest's address, 127.0.0.1:PORT")
    parser.add_argument("--ops", required=True, help="ingest's ops address, 127.0.0.1:PORT")
    parser.add_argument("--hold", type=float, default=10.0, help="ops-flood: seconds (max 120)")
    parser.add_argument("--events", type=int, default=20, help="broker-down: events (max 1000)")
    parser.add_argument("--hold-connections", type=int, default=400,
                        help="connections: idle connections held (max 5000)")
    parser.add_argument("--client-timeout", type=float, default=5.0)
    parser.add_argument("checks", nargs="+",
                        choices=["sizes", "ops-flood", "broker-down", "http", "connections"])
    args = parser.parse_args()
    if not 0 < args.hold <= 120 or not 0 < args.events <= 1000 or not 0 < args.hold_connections <= 5000:
        sys.exit("edge_probe: --hold, --events or --hold-connections out of range")
    args.ingest = loopback(args.ingest)
    args.ops = loopback(args.ops)
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret and any(c in ("sizes", "broker-down") for c in args.checks):
        sys.exit("edge_probe: SLACK_SIGNING_SECRET is not set")
    for check in args.checks:
        {"sizes": lambda: check_sizes(args, secret),
         "ops-flood": lambda: check_ops_flood(args),
         "broker-down": lambda: check_broker_down(args, secret),
         "http": lambda: check_http(args),
         "connections": lambda: check_connections(args)}[check]()


if __name__ == "__main__":
    main()
