#!/usr/bin/env bash
# Checks deploy/prometheus: the scrape configuration, the recording and alert rules, promtool's
# unit tests of every alert, and that each alert has a summary, a description, a runbook link
# to its own section of RUNBOOK.md, and a test in which it fires and one in which it is silent;
# and deploy/grafana's boards: what a current Grafana needs of them (their queries are checked
# against a real Prometheus by scripts/check_prometheus_queries.py).
# Run by scripts/test.sh; needs promtool (Debian's prometheus, installed by install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/deploy/prometheus
command -v promtool >/dev/null 2>&1 ||
  { echo "check-prometheus: promtool not found; run scripts/install-deps.sh" >&2; exit 1; }
cd "$dir"
promtool check config prometheus.yml
promtool check rules rules/recording.yml rules/alerts.yml
(cd tests && promtool test rules alerts_test.yml)
python3 - <<'PY'
import re, sys
alerts_text = open("rules/alerts.yml", encoding="utf-8").read()
runbook = open("RUNBOOK.md", encoding="utf-8").read()
tests = open("tests/alerts_test.yml", encoding="utf-8").read()
blocks = re.split(r"\n\s*- alert: ", alerts_text)[1:]
problems = []
for block in blocks:
    name = block.split("\n", 1)[0].strip()
    for field in ("summary:", "description:"):
        if field not in block:
            problems.append(f"{name}: no {field[:-1]} annotation")
    if f'runbook: "RUNBOOK.md#{name.lower()}"' not in block:
        problems.append(f"{name}: no runbook annotation pointing at RUNBOOK.md#{name.lower()}")
    if f"\n## {name}\n" not in runbook:
        problems.append(f"{name}: no '## {name}' section in RUNBOOK.md")
    for case in ("fires on the failure", "silent on a healthy series"):
        if f"{name}: {case}" not in tests:
            problems.append(f"{name}: no test '{case}' in tests/alerts_test.yml")
if not blocks:
    problems.append("no alerts found in rules/alerts.yml")
for problem in problems:
    print("check-prometheus:", problem, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-prometheus: {len(blocks)} alerts, each with its annotations, runbook section and two tests")
PY
python3 - "$root/deploy/grafana/dashboards" <<'PY'
import json, pathlib, sys
problems, boards = [], sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
uids = set()
for path in boards:
    board = json.loads(path.read_text())
    where = path.name
    if board.get("schemaVersion", 0) < 39:
        problems.append(f"{where}: schemaVersion {board.get('schemaVersion')} (39 or later)")
    if board.get("uid") in uids or not board.get("uid"):
        problems.append(f"{where}: missing or repeated uid")
    uids.add(board.get("uid"))
    variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append(f"{where}: no datasource variable")
    ids = set()
    for panel in board["panels"]:
        name = f"{where}: {panel.get('title')}"
        if panel.get("id") in ids:
            problems.append(f"{name}: repeated panel id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"{name}: wider than the grid")
        if panel["type"] == "row":
            continue
        if panel["type"] not in ("timeseries", "stat", "gauge", "table", "bargauge"):
            problems.append(f"{name}: panel type {panel['type']} is not a current one")
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{name}: datasource is not the variable")
        if not panel.get("targets") or not all(t.get("expr") for t in panel["targets"]):
            problems.append(f"{name}: a target without a query")
for problem in problems:
    print("check-prometheus:", problem, file=sys.stderr)
if not boards:
    problems.append("no dashboards")
if problems:
    sys.exit(1)
print(f"check-prometheus: {len(boards)} Grafana boards, {sum(len(json.loads(p.read_text())['panels']) for p in boards)} panels and rows")
PY
