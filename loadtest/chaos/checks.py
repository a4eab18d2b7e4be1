"""What a chaos run checks once everything has settled, per trial (each trial has a Slack team
of its own): the ledger of every request against study_logs, the summaries claimed against
the posts Slack received, and the dead-letter topics against the poison the run sent."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import Failure, http_request, read_topic  # noqa: F401
from main_job import psql
from run_replicas import read_ledger

# Attempts after which Slack may have posted without the notifier knowing (README.md, "The crash
# window that remains"): cut short by a crash (marked interrupted by the next holder), or a
# request that failed after it was sent (timeout, broken connection, unreadable answer).
IN_DOUBT_SQL = ("(a.outcome = 'interrupted' OR a.outcome IS NULL OR (a.outcome = 'retryable' AND "
                "a.http_status IS NULL AND a.error IN ('timeout', 'io_failed', 'bad_response', "
                "'aborted')))")


@dataclass
class TrialRecord:
    """What happened in a trial, filled in as it runs."""
    index: int
    fault: str
    scenario: str
    team: str
    scale: float
    seed_moment_s: float
    loadgen_run: str = ""
    loadgen_samples: int = 0
    loadgen_failures: dict = field(default_factory=dict)
    poison: dict = field(default_factory=dict)  # event_id -> status ingest gave it
    fault_at_s: float | None = None  # after loadgen's start
    undone_at_s: float | None = None
    ready_after_s: float | None = None  # from undone, every /readyz 200
    lag_zero_after_s: float | None = None  # from undone, ready and consumer lag 0
    stored_after_s: float | None = None  # from undone, a canary event sent once ready is a row
    canaries: dict = field(default_factory=dict)  # event_id -> status ingest gave it
    notes: list[str] = field(default_factory=list)
    settle_s: float = 0.0


def posts_by_delivery(slack_port: int) -> dict[tuple[str, int], int]:
    """slack-sim's record of every post: (delivery_id, part) -> times posted."""
    status, body = http_request(slack_port, "GET", "/_sim/messages", timeout=30)
    if status != 200:
        raise Failure(f"slack-sim's /_sim/messages answered {status}")
    counts: dict[tuple[str, int], int] = {}
    for m in json.loads(body)["messages"]:
        meta = m.get("metadata") or {}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        payload = (meta or {}).get("event_payload") or {}
        delivery = payload.get("delivery_id")
        if delivery:
            key = (delivery, int(payload.get("part", 0)))
            counts[key] = counts.get(key, 0) + 1
    return counts


def check_trials(records: list[TrialRecord], proxy_log: Path, slack_port: int,
                 dlq: dict[str, list[str]]) -> tuple[list[dict], dict]:
    ledger, _ = read_ledger(proxy_log)
    status_of: dict[str, int] = {}
    answered_twice = 0
    for line in ledger:
        answered_twice += line.event_id in status_of
        status_of[line.event_id] = line.status
    posts = posts_by_delivery(slack_port)
    teams = [r.team for r in records]
    team_list = ",".join(f"'{t}'" for t in teams)
    rows_by_team: dict[str, dict[str, int]] = {t: {} for t in teams}
    for team, event_id, count in psql(f"SELECT team_id, event_id, count(*) FROM study_logs "
                                      f"WHERE team_id IN ({team_list}) GROUP BY 1, 2"):
        rows_by_team[team][event_id] = int(count)
    jobs_by_team: dict[str, dict[str, str]] = {t: {} for t in teams}
    for team, job_id, state in psql(f"SELECT team_id, job_id, state FROM summary_jobs "
                                    f"WHERE team_id IN ({team_list})"):
        jobs_by_team[team][job_id] = state
    in_doubt: dict[str, int] = {}
    for delivery, count in psql(
            f"SELECT a.delivery_id, count(*) FROM slack_delivery_attempts a JOIN slack_deliveries d "
            f"USING (delivery_id) WHERE d.team_id IN ({team_list}) AND {IN_DOUBT_SQL} GROUP BY 1"):
        in_doubt[delivery] = int(count)
    delivery_state = {d: s for d, s in psql(
        f"SELECT delivery_id, state FROM slack_deliveries WHERE team_id IN ({team_list})")}

    # Dead letters: every one must be a poison record the run sent, each poison record there.
    dlq_ids: dict[str, int] = {}
    unexpected_dlq: dict[str, int] = {}
    for topic, values in dlq.items():
        for value in values:
            ids = set(re.findall(r"EvPOISON[A-Z0-9]+", value))
            if ids and topic == "events_dlq":
                for i in ids:
                    dlq_ids[i] = dlq_ids.get(i, 0) + 1
            else:
                unexpected_dlq[topic] = unexpected_dlq.get(topic, 0) + 1

    results = []
    for r in records:
        prefix = f"EvLOAD{r.loadgen_run}"
        sent = {f"{prefix}{seq:09d}" for seq in range(r.loadgen_samples)}
        # The canaries of the recovery probe are events like the others.
        sent |= set(r.canaries)
        acked = {e for e in sent if status_of.get(e) == 200}
        rows = rows_by_team[r.team]
        lost = sorted(acked - rows.keys())
        doubled = sorted(e for e, c in rows.items() if c > 1)
        unknown = sorted(e for e in rows.keys() - sent)
        refused = {}
        for e in sent:
            s = status_of.get(e)
            if s != 200:
                key = "no answer" if s is None or s < 0 else str(s)
                refused[key] = refused.get(key, 0) + 1
        jobs = jobs_by_team[r.team]
        claimed = len(jobs)
        states: dict[str, int] = {}
        for state in jobs.values():
            states[state] = states.get(state, 0) + 1
        posted = doubled_posts = doubled_in_window = not_posted = 0
        doubled_outside: list[str] = []
        for job_id in jobs:
            delivery = f"summary:{job_id}"
            parts = {p: c for (d, p), c in posts.items() if d == delivery}
            if not parts:
                not_posted += 1
                continue
            posted += 1
            extra = sum(c - 1 for c in parts.values())
            if extra > 0:
                doubled_posts += 1
                if extra <= in_doubt.get(delivery, 0):
                    doubled_in_window += 1
                else:
                    doubled_outside.append(job_id)
        poison_ok = {e for e, s in r.poison.items() if s == 200}
        poison_in_dlq = {e: dlq_ids.get(e, 0) for e in r.poison}
        poison_rows = sorted(e for e in r.poison if e in rows)
        aborted = [n for n in r.notes if n.startswith("aborted")]
        checks = [
            ("the trial ran through", not aborted, aborted[0] if aborted else "yes"),
            ("every 200 is a row", not lost, f"{len(lost)} acknowledged events without a row"
             + (f" (first: {', '.join(lost[:3])})" if lost else "")),
            ("no row doubled", not doubled, f"{len(doubled)} event_ids with more than one row"),
            ("no row that was not sent", not unknown, f"{len(unknown)} rows of event_ids never sent"),
            ("every claimed summary done", states.get("done", 0) == claimed,
             ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none claimed"),
            ("every summary posted", not_posted == 0, f"{not_posted} of {claimed} never posted"),
            ("no summary posted twice outside the window", not doubled_outside,
             f"{doubled_posts} posted twice, {doubled_in_window} of them after an in-doubt attempt"
             + (f"; outside: {', '.join(doubled_outside[:3])}" if doubled_outside else "")),
            ("poison dead-lettered, not stored", not poison_rows and
             all(poison_in_dlq[e] >= 1 for e in poison_ok),
             f"{len(r.poison)} sent ({len(poison_ok)} acknowledged), in the DLQ "
             f"{sum(1 for e in poison_ok if poison_in_dlq[e] >= 1)}"
             + (f" (copies: {sum(poison_in_dlq.values())})" if sum(poison_in_dlq.values()) > len(poison_ok) else "")
             + (f"; stored: {len(poison_rows)}" if poison_rows else "")),
        ]
        results.append({
            "trial": r.index, "fault": r.fault, "scenario": r.scenario, "team": r.team,
            "scale": r.scale, "loadgen_run": r.loadgen_run,
            "sent": len(sent), "acknowledged": len(acked), "refused": refused,
            "stored": len(rows.keys() & sent), "stored_of_acknowledged": len(rows.keys() & acked),
            "lost": len(lost), "doubled": len(doubled), "unknown_rows": len(unknown),
            "summaries": {"claimed": claimed, "states": states, "posted": posted,
                          "doubled": doubled_posts, "doubled_in_window": doubled_in_window,
                          "doubled_outside_window": len(doubled_outside),
                          "not_posted": not_posted},
            "poison": {"sent": len(r.poison), "acknowledged": len(poison_ok),
                       "in_dlq": sum(1 for e in poison_ok if poison_in_dlq[e] >= 1),
                       "dlq_copies": sum(poison_in_dlq.values()), "stored": len(poison_rows)},
            "fault_at_s": r.fault_at_s, "undone_at_s": r.undone_at_s,
            "ready_after_s": r.ready_after_s, "lag_zero_after_s": r.lag_zero_after_s,
            "stored_after_s": r.stored_after_s, "canaries": len(r.canaries),
            "settle_s": round(r.settle_s, 1), "notes": r.notes,
            "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks],
            "ok": all(ok for _, ok, _ in checks),
            # Exit status 1 only for what "nothing is lost" means; the rest is reported.
            "lost_or_doubled": bool(lost or doubled or doubled_outside),
        })
    overall = {"ledger_lines": len(ledger), "answered_twice_in_ledger": answered_twice,
               "unexpected_dead_letters": unexpected_dlq,
               "delivery_states": _count(delivery_state.values())}
    return results, overall


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: list[dict]) -> str:
    lines = ["| # | fault | load | sent | 200 | stored | lost | doubled | not 200 | summaries claimed "
             "| done | posted | posted twice (in window) | poison → DLQ | fault at (s) | ready after (s) "
             "| lag 0 after (s) | new event stored after (s) | checks |",
             "|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        s = r["summaries"]
        refused = ", ".join(f"{v} {k}" for k, v in sorted(r["refused"].items())) or "-"
        failed = [c["check"] for c in r["checks"] if not c["ok"]]
        lines.append(
            f"| {r['trial']} | {r['fault']} | {r['scenario'].upper()} ×{r['scale']:g} | "
            f"{r['sent']:,} | {r['acknowledged']:,} | {r['stored']:,} | {r['lost']} | {r['doubled']} | "
            f"{refused} | {s['claimed']} | {s['states'].get('done', 0)} | {s['posted']} | "
            f"{s['doubled']} ({s['doubled_in_window']}) | {r['poison']['in_dlq']}/{r['poison']['sent']} | "
            f"{sec(r['fault_at_s'])} | {sec(r['ready_after_s'])} | {sec(r['lag_zero_after_s'])} | "
            f"{sec(r['stored_after_s'])} | "
            f"{'ok' if r['ok'] else 'FAILED: ' + '; '.join(failed)} |")
    return "\n".join(lines) + "\n"


def by_fault(results: list[dict]) -> str:
    """One row per fault kind, over its repetitions."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r["fault"], []).append(r)
    lines = ["| fault | runs | sent | 200 | stored | lost | doubled | summaries claimed | posted | "
             "posted twice: in window / outside | ready after (s, max) | lag 0 after (s, max) | "
             "new event stored after (s, max) | all checks |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for fault, rs in groups.items():
        def mx(key):
            values = [r[key] for r in rs if r[key] is not None]
            return sec(max(values)) if values else "-"
        lines.append(
            f"| {fault} | {len(rs)} | {sum(r['sent'] for r in rs):,} | "
            f"{sum(r['acknowledged'] for r in rs):,} | {sum(r['stored'] for r in rs):,} | "
            f"{sum(r['lost'] for r in rs)} | {sum(r['doubled'] for r in rs)} | "
            f"{sum(r['summaries']['claimed'] for r in rs)} | {sum(r['summaries']['posted'] for r in rs)} | "
            f"{sum(r['summaries']['doubled_in_window'] for r in rs)} / "
            f"{sum(r['summaries']['doubled_outside_window'] for r in rs)} | {mx('ready_after_s')} | "
            f"{mx('lag_zero_after_s')} | {mx('stored_after_s')} | "
            f"{'yes' if all(r['ok'] for r in rs) else 'NO'} |")
    return "\n".join(lines) + "\n"
