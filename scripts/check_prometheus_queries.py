#!/usr/bin/env python3
"""Evaluates every recording and alert rule that a running Prometheus has loaded (and the panel
queries of any dashboards given) through its HTTP API, after services have run against it, and
fails on a query error, on a rule Prometheus reports unhealthy, and on a metric name that a query
uses but that no service exported. A renamed metric breaks this check, not an alert in production.

  python3 scripts/check_prometheus_queries.py [--prometheus URL] [--exposition-dir DIR]
                                              [--dashboard FILE ...]

--prometheus defaults to TRACKER_PROMETHEUS_URL (deploy/local/stack.sh env). A metric counts as
exported when Prometheus stored a sample of it, or when a service's /metrics text named it: the
texts are the *.metrics.txt files the main job keeps beside its logs (--exposition-dir, default
the newest .local/run/* that has them). A name no service exported during the run is listed; it
fails the check unless the services' code registers it (a labelled family has no series until
what it counts happens, such as a 429). Loopback only; every request is bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Names that are not metrics in PromQL: functions, aggregations, keywords, label names used in
# by/without/on/ignoring clauses are filtered by the pattern below (they never start so).
METRIC_PREFIXES = ("tracker_", "process_")
BUILTIN = {"up"}
IDENT = re.compile(r"(?<![\w:\"'])([a-zA-Z_][a-zA-Z0-9_]*)(?![\w(])")
NAME_REGEX = re.compile(r'__name__\s*=~\s*"([^"]+)"')


def get(base: str, path: str, params: dict[str, str] | None = None) -> dict:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    host = urllib.parse.urlparse(url).hostname or ""
    if not (host.startswith("127.") or host == "localhost"):
        sys.exit(f"check_prometheus_queries: {base} is not a loopback address")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 400/422: the query is wrong
        return json.load(error)


def names_in(query: str) -> tuple[set[str], list[str]]:
    """Metric names a query reads, and the __name__ regexes it matches names with."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "",
                               without_labels)
    names = {n for n in IDENT.findall(without_groupings)
             if n.startswith(METRIC_PREFIXES) or n in BUILTIN}
    return names, NAME_REGEX.findall(query)


def exported_from_texts(folder: Path | None) -> set[str]:
    names: set[str] = set()
    if folder is None:
        return names
    for text in folder.glob("*.metrics.txt"):
        for line in text.read_text(errors="replace").splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                names.add(name)
                if kind in ("histogram", "summary"):
                    names.update({name + "_bucket", name + "_sum", name + "_count"})
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def registered_in_source() -> set[str]:
    """Metric names the services' code registers (metrics::counter(registry, "name", ...) and
    the other declarations of tracker/metrics/declare.hpp, or prometheus-cpp's Build*().Name(...)
    called directly): a labelled family shows no series until something happens, so a name may be
    real without a sample from the run. A name in neither place was renamed or never existed."""
    names: set[str] = set()
    prefixes = {"tracker_http"}
    pattern = re.compile(r'(?:metrics::(counter|gauge|histogram)s?\(\s*\w+\s*,|'
                         r'Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\()\s*'
                         r'(options\.metric_prefix\s*\+\s*)?"([^"]+)"')
    sources = [p for folder in ("libs", "services") for p in (ROOT / folder).rglob("*.[ch]pp")]
    for source in sources:
        text = source.read_text(errors="replace")
        prefixes.update(re.findall(r'metric_prefix\s*=\s*"([a-z_]+)"', text))
    for source in sources:
        for declared, built, prefixed, name in pattern.findall(
                source.read_text(errors="replace")):
            kind = (declared or built).lower()
            for full in ([p + name for p in prefixes] if prefixed else [name]):
                names.add(full)
                if kind in ("histogram", "summary"):
                    names.update({full + "_bucket", full + "_sum", full + "_count"})
    names.add("tracker_readiness_check")  # built by hand at each scrape (ops_endpoint.cpp)
    return names


def newest_exposition_dir() -> Path | None:
    runs = [d for d in (ROOT / ".local" / "run").glob("*") if any(d.glob("*.metrics.txt"))]
    return max(runs, key=lambda d: d.stat().st_mtime) if runs else None


def dashboard_queries(path: Path) -> list[tuple[str, str]]:
    board = json.loads(path.read_text())
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    # Grafana's own variables, as Grafana would fill them in.
                    expr = target["expr"].replace("$__rate_interval", "1m").replace(
                        "$__interval", "15s").replace("$__range", "1h")
                    out.append((f"{path.name}: {panel.get('title', '?')}", expr))
            walk(panel.get("panels", []))

    walk(board.get("panels", []))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default=os.environ.get("TRACKER_PROMETHEUS_URL", ""))
    parser.add_argument("--exposition-dir", type=Path, default=None)
    parser.add_argument("--dashboard", type=Path, action="append", default=[])
    args = parser.parse_args()
    if not args.prometheus:
        sys.exit("check_prometheus_queries: no --prometheus and no TRACKER_PROMETHEUS_URL")
    exposition = args.exposition_dir or newest_exposition_dir()

    queries: list[tuple[str, str]] = []
    problems: list[str] = []
    rules = get(args.prometheus, "/api/v1/rules")
    for group in rules.get("data", {}).get("groups", []):
        for rule in group["rules"]:
            where = f"{group['name']}: {rule['name']}"
            queries.append((where, rule["query"]))
            if rule.get("health") == "err":
                problems.append(f"{where}: Prometheus reports {rule.get('lastError')}")
    for path in args.dashboard:
        queries.extend(dashboard_queries(path))
    if not queries:
        problems.append("Prometheus has no rules loaded (was it started by stack.sh?)")

    stored = set(get(args.prometheus, "/api/v1/label/__name__/values").get("data", []))
    exported = stored | exported_from_texts(exposition)
    registered = registered_in_source()
    unknown: dict[str, list[str]] = {}
    for where, query in queries:
        answer = get(args.prometheus, "/api/v1/query", {"query": query})
        if answer.get("status") != "success":
            problems.append(f"{where}: {answer.get('errorType')}: {answer.get('error')}")
        names, regexes = names_in(query)
        for name in names - exported:
            unknown.setdefault(name, []).append(where)
        for pattern in regexes:
            if not any(re.fullmatch(pattern, name) for name in exported):
                unknown.setdefault(f'__name__=~"{pattern}"', []).append(where)
    not_seen = []
    for name, wheres in sorted(unknown.items()):
        used_by = ", ".join(sorted(set(wheres)))
        if name.startswith("__name__"):
            pattern = name.split('"')[1]
            known = any(re.fullmatch(pattern, n) for n in registered)
        else:
            known = name in registered
        if known:
            not_seen.append(f"{name} (used by {used_by})")
        else:
            problems.append(f"{name}: used by {used_by}, but no service exported it during the run "
                            f"and none registers it: renamed, or never existed")

    print(f"check_prometheus_queries: {len(queries)} queries evaluated; {len(stored)} metric names "
          f"stored, {len(exported)} known with the texts of {exposition or 'no run'}")
    if not_seen:
        print(f"  {len(not_seen)} names no service exported during the run (registered, and shown "
              f"only once what they count happens):")
        for line in not_seen:
            print("    " + line)
    for problem in problems:
        print("  " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
