#!/usr/bin/env python3
"""Writes the Grafana dashboards of the study tracker into dashboards/: an overview of the whole
pipeline (the panels the old system's report watched) and one board per service. Panels read the
Prometheus of deploy/prometheus/ through a datasource variable, so the boards load in any Grafana
(schemaVersion 39, timeseries and stat panels). Run it after changing a panel; the JSON is what
Grafana and scripts/check_prometheus_queries.py read.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}


class Board:
    def __init__(self, uid, title, description):
        self.uid, self.title, self.description = uid, title, description
        self.panels = []
        self.y = 0
        self.x = 0

    def row(self, title):
        if self.x:
            self.y += 8
            self.x = 0
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                            "id": len(self.panels) + 1})
        self.y += 1

    def panel(self, title, targets, unit="short", kind="timeseries", width=12, description=""):
        if self.x + width > 24:
            self.y += 8
            self.x = 0
        panel = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries"
            else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                  "colorMode": "value", "graphMode": "area", "textMode": "auto"},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DS, "expr": expr,
                         "legendFormat": legend, "range": True}
                        for i, (expr, legend) in enumerate(targets)],
        }
        self.panels.append(panel)
        self.x += width

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["study-tracker"],
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "refresh": "10s",
            "time": {"from": "now-1h", "to": "now"},
            "templating": {"list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource",
                 "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
            ]},
            "annotations": {"list": []},
            "links": [{"title": "Study tracker", "type": "dashboards", "tags": ["study-tracker"],
                       "asDropdown": True}],
            "panels": self.panels,
        }


def quantile(q, histogram, by=""):
    """The q-quantile of a histogram's buckets over Grafana's rate interval, per `by`."""
    labels = f"{by}, le" if by else "le"
    return (f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({histogram}_bucket[$__rate_interval])))")


def http_panels(b, job, route):
    b.panel(f"{job}: requests by status",
            [(f'sum by (status) (rate(tracker_http_requests_total{{job="{job}",route="{route}"}}[$__rate_interval]))',
              "{{status}}")], "reqps")
    b.panel(f"{job}: latency p50 / p99",
            [(f'job_route:tracker_http_request_duration_seconds:p50_5m{{job="{job}",route="{route}"}}', "p50"),
             (f'job_route:tracker_http_request_duration_seconds:p99_5m{{job="{job}",route="{route}"}}', "p99")], "s")
    b.panel(f"{job}: open connections and requests in flight",
            [(f'sum(tracker_http_open_connections{{job="{job}"}})', "open connections"),
             (f'sum(tracker_http_requests_in_flight{{job="{job}"}})', "in flight")])
    b.panel(f"{job}: refused and evicted connections",
            [(f'sum by (reason) (rate(tracker_http_rejected_requests_total{{job="{job}"}}[$__rate_interval]))', "rejected {{reason}}"),
             (f'sum(rate(tracker_http_connections_refused_total{{job="{job}"}}[$__rate_interval]))', "refused at the cap"),
             (f'sum(rate(tracker_ops_http_connections_evicted_total{{job="{job}"}}[$__rate_interval]))', "ops port evictions")], "reqps")


def process_panels(b, job_filter):
    b.panel("CPU per process",
            [(f'sum by (job, instance) (rate(process_cpu_seconds_total{{{job_filter}}}[$__rate_interval]))',
              "{{job}} {{instance}}")], "percentunit")
    b.panel("resident memory per process",
            [(f'process_resident_memory_bytes{{{job_filter}}}', "{{job}} {{instance}}")], "bytes")
    b.panel("open file descriptors per process",
            [(f'process_open_fds{{{job_filter}}}', "{{job}} {{instance}}")])
    b.panel("readiness checks failing",
            [(f'sum by (job, check) (1 - tracker_readiness_check{{{job_filter}}})', "{{job}} {{check}}")])


def lag_panel(b, service):
    b.panel(f"{service}: consumer lag by partition",
            [(f'sum by (topic, partition) (tracker_{service}_consumer_lag_messages)', "{{topic}}[{{partition}}]")])


def overview():
    b = Board("tracker-overview", "Study tracker: overview",
              "The whole pipeline: ingest, Kafka, worker, scheduler, summarizer, notifier.")
    b.row("ingest: Slack's events in")
    b.panel("events: request rate and 5xx ratio",
            [('sum(rate(tracker_http_requests_total{job="ingest",route="/slack/events"}[$__rate_interval]))', "requests/s"),
             ('job_route:tracker_http_requests_5xx:ratio5m{job="ingest",route="/slack/events"}', "5xx ratio")])
    b.panel("events offered to Kafka, by outcome",
            [('sum by (outcome) (rate(tracker_ingest_publish_total{job="ingest"}[$__rate_interval]))', "{{outcome}}")], "ops")
    b.panel("latency p50 / p99 by service and route",
            [('job_route:tracker_http_request_duration_seconds:p50_5m', "p50 {{job}} {{route}}"),
             ('job_route:tracker_http_request_duration_seconds:p99_5m', "p99 {{job}} {{route}}")], "s")
    b.panel("open connections and requests in flight",
            [('sum by (job) (tracker_http_open_connections)', "open {{job}}"),
             ('sum by (job) (tracker_http_requests_in_flight)', "in flight {{job}}")])
    b.row("Kafka consumers")
    b.panel("consumer lag by group",
            [('group:tracker_consumer_lag_messages:sum', "{{group}}")])
    b.panel("consumer lag by group and partition",
            [('sum by (partition) (tracker_worker_consumer_lag_messages)', "worker [{{partition}}]"),
             ('sum by (partition) (tracker_summarizer_consumer_lag_messages)', "summarizer [{{partition}}]"),
             ('sum by (partition) (tracker_notifier_consumer_lag_messages)', "notifier [{{partition}}]")])
    b.panel("dead letters by service",
            [('sum by (job) (rate({__name__=~"tracker_(worker|summarizer|notifier)_dead_letters_total"}[$__rate_interval]))', "{{job}}")], "ops")
    b.panel("PostgreSQL: pool use and outages",
            [('sum(tracker_worker_db_pool_connections_in_use)', "worker pool in use"),
             ('sum(tracker_worker_db_pool_connections_open)', "worker pool open"),
             ('max by (job) ({__name__=~"tracker_(worker|summarizer|notifier)_db_unavailable"})', "{{job}} unavailable")])
    b.row("scheduler and summarizer")
    b.panel("scheduler: claims, publishes, failures, catch-up",
            [('sum by (reason) (increase(tracker_scheduler_claimed_total[$__rate_interval]))', "claimed {{reason}}"),
             ('sum(increase(tracker_scheduler_published_total[$__rate_interval]))', "published"),
             ('sum(increase(tracker_scheduler_publish_failures_total[$__rate_interval]))', "publish failures"),
             ('sum(increase(tracker_scheduler_catch_up_skipped_total[$__rate_interval]))', "catch-up skipped")])
    b.panel("summarizer: OpenAI calls by outcome, retries",
            [('sum by (outcome) (rate(tracker_llm_requests_total[$__rate_interval]))', "{{outcome}}"),
             ('sum(rate(tracker_llm_retries_total[$__rate_interval]))', "retries")], "reqps")
    b.panel("summarizer: tokens",
            [('sum by (kind) (rate(tracker_llm_tokens_total[$__rate_interval]))', "{{kind}}")], "short")
    b.panel("summarizer: limiter waits and breaker",
            [(quantile(0.99, "tracker_llm_limiter_wait_seconds"), "limiter wait p99"),
             ('max(tracker_llm_circuit_state)', "breaker (0 closed, 1 open, 2 half-open)")])
    b.row("notifier: Slack")
    b.panel("posts, 429s",
            [('job:tracker_notifier_posted:rate5m', "posted/s"),
             ('sum(rate(tracker_notifier_rate_limited_total[$__rate_interval]))', "429/s")], "ops")
    b.panel("pacing and Retry-After waits p99",
            [(quantile(0.99, "tracker_notifier_pacing_wait_seconds", by="limit"), "{{limit}}")], "s")
    b.row("processes")
    process_panels(b, 'job=~"ingest|worker|scheduler|summarizer|notifier"')
    return b


def ingest():
    b = Board("tracker-ingest", "Study tracker: ingest", "Slack's Events API endpoint.")
    b.row("HTTP")
    http_panels(b, "ingest", "/slack/events")
    b.row("Kafka")
    b.panel("events offered to Kafka, by outcome",
            [('sum by (outcome) (rate(tracker_ingest_publish_total{job="ingest"}[$__rate_interval]))', "{{outcome}}")], "ops")
    b.panel("publish time p50 / p99",
            [(quantile(0.5, "tracker_ingest_publish_duration_seconds"), "p50"),
             (quantile(0.99, "tracker_ingest_publish_duration_seconds"), "p99")], "s")
    b.panel("Slack: signature failures, retries, app_rate_limited",
            [('sum by (reason) (rate(tracker_ingest_signature_failures_total[$__rate_interval]))', "signature {{reason}}"),
             ('sum by (reason) (rate(tracker_ingest_slack_retries_total[$__rate_interval]))', "retry {{reason}}"),
             ('sum(rate(tracker_ingest_app_rate_limited_total[$__rate_interval]))', "app_rate_limited")], "ops")
    b.row("process")
    process_panels(b, 'job="ingest"')
    return b


def worker():
    b = Board("tracker-worker", "Study tracker: worker", "slack-events to study_logs.")
    b.row("events")
    b.panel("consumed, stored by change, duplicates, skipped",
            [('sum(rate(tracker_worker_events_consumed_total[$__rate_interval]))', "consumed"),
             ('sum by (change) (rate(tracker_worker_events_stored_total[$__rate_interval]))', "stored {{change}}"),
             ('sum(rate(tracker_worker_events_duplicate_total[$__rate_interval]))', "duplicates"),
             ('sum by (reason) (rate(tracker_worker_events_skipped_total[$__rate_interval]))', "skipped {{reason}}")], "ops")
    lag_panel(b, "worker")
    b.panel("batch size and transaction time p99",
            [(quantile(0.99, "tracker_worker_batch_size"), "batch size p99"),
             (quantile(0.99, "tracker_worker_transaction_seconds"), "transaction p99 (s)")])
    b.panel("ingest's receipt to commit p50 / p99",
            [(quantile(0.5, "tracker_worker_received_to_commit_seconds"), "p50"),
             (quantile(0.99, "tracker_worker_received_to_commit_seconds"), "p99")], "s")
    b.panel("buffered, paused, outages",
            [('sum(tracker_worker_buffered_events)', "buffered"),
             ('max(tracker_worker_consumer_paused)', "paused"),
             ('max(tracker_worker_db_unavailable)', "database unavailable"),
             ('max(tracker_worker_dead_letter_unavailable)', "dead-letter topic unavailable")])
    b.panel("dead letters by reason, database retries",
            [('sum by (reason) (rate(tracker_worker_dead_letters_total[$__rate_interval]))', "{{reason}}"),
             ('sum(rate(tracker_worker_db_retries_total[$__rate_interval]))', "db retries")], "ops")
    b.row("process")
    process_panels(b, 'job="worker"')
    return b


def scheduler():
    b = Board("tracker-scheduler", "Study tracker: scheduler", "Whose summary is due.")
    b.row("ticks and jobs")
    b.panel("ticks by outcome, tick time p99",
            [('sum by (outcome) (increase(tracker_scheduler_ticks_total[$__rate_interval]))', "{{outcome}}"),
             (quantile(0.99, "tracker_scheduler_tick_seconds"), "tick p99 (s)")])
    b.panel("seconds since the last tick",
            [('time() - max(tracker_scheduler_last_tick_timestamp_seconds)', "since last tick")], "s", kind="stat", width=6)
    b.panel("due now", [('sum(tracker_scheduler_due_total)', "due")], kind="stat", width=6)
    b.panel("claimed by reason, published, republished",
            [('sum by (reason) (increase(tracker_scheduler_claimed_total[$__rate_interval]))', "claimed {{reason}}"),
             ('sum(increase(tracker_scheduler_published_total[$__rate_interval]))', "published"),
             ('sum(increase(tracker_scheduler_republished_total[$__rate_interval]))', "republished")])
    b.panel("failures: publish, timed-out jobs, catch-up skipped",
            [('sum(increase(tracker_scheduler_publish_failures_total[$__rate_interval]))', "publish failures"),
             ('sum(increase(tracker_scheduler_jobs_timed_out_total[$__rate_interval]))', "jobs timed out"),
             ('sum(increase(tracker_scheduler_catch_up_skipped_total[$__rate_interval]))', "catch-up skipped")])
    b.panel("triggers by scope and outcome",
            [('sum by (scope, outcome) (increase(tracker_scheduler_triggers_total[$__rate_interval]))', "{{scope}} {{outcome}}")])
    b.row("HTTP (/trigger, probes)")
    http_panels(b, "scheduler", "/trigger")
    b.row("process")
    process_panels(b, 'job="scheduler"')
    return b


def summarizer():
    b = Board("tracker-summarizer", "Study tracker: summarizer", "Summary jobs through OpenAI.")
    b.row("jobs")
    b.panel("jobs by outcome",
            [('sum by (outcome) (rate(tracker_summarizer_jobs_total[$__rate_interval]))', "{{outcome}}")], "ops")
    lag_panel(b, "summarizer")
    b.panel("in flight, queued, paused, database",
            [('sum(tracker_summarizer_in_flight)', "in flight"), ('sum(tracker_summarizer_queued)', "queued"),
             ('max(tracker_summarizer_consumer_paused)', "paused"),
             ('max(tracker_summarizer_db_unavailable)', "database unavailable")])
    b.panel("job time p50 / p99",
            [(quantile(0.5, "tracker_summarizer_job_seconds"), "p50"),
             (quantile(0.99, "tracker_summarizer_job_seconds"), "p99")], "s")
    b.row("OpenAI")
    b.panel("calls by outcome, retries by cause",
            [('sum by (outcome) (rate(tracker_llm_requests_total[$__rate_interval]))', "{{outcome}}"),
             ('sum by (cause) (rate(tracker_llm_retries_total[$__rate_interval]))', "retry {{cause}}")], "reqps")
    b.panel("429s by code, retries held back",
            [('sum by (code) (rate(tracker_llm_rate_limited_total[$__rate_interval]))', "{{code}}"),
             ('sum(rate(tracker_llm_retry_budget_refused_total[$__rate_interval]))', "held back by the retry budget")], "reqps")
    b.panel("tokens by kind",
            [('sum by (kind) (rate(tracker_llm_tokens_total[$__rate_interval]))', "{{kind}}")])
    b.panel("call time p99, limiter wait p99, breaker",
            [(quantile(0.99, "tracker_llm_request_seconds"), "call p99 (s)"),
             (quantile(0.99, "tracker_llm_limiter_wait_seconds"), "limiter wait p99 (s)"),
             ('max(tracker_llm_circuit_state)', "breaker")])
    b.row("process")
    process_panels(b, 'job="summarizer"')
    return b


def notifier():
    b = Board("tracker-notifier", "Study tracker: notifier", "Posts to Slack at Slack's pace.")
    b.row("posts")
    b.panel("posted, attempts by outcome",
            [('sum(rate(tracker_notifier_posted_total[$__rate_interval]))', "posted"),
             ('sum by (outcome) (rate(tracker_notifier_attempts_total[$__rate_interval]))', "attempt {{outcome}}")], "ops")
    lag_panel(b, "notifier")
    b.panel("429s, retries by cause, in doubt",
            [('sum(rate(tracker_notifier_rate_limited_total[$__rate_interval]))', "429"),
             ('sum by (cause) (rate(tracker_notifier_retries_total[$__rate_interval]))', "retry {{cause}}"),
             ('sum by (reason) (rate(tracker_notifier_in_doubt_total[$__rate_interval]))', "in doubt {{reason}}")], "ops")
    b.panel("pacing and Retry-After waits p99",
            [(quantile(0.99, "tracker_notifier_pacing_wait_seconds", by="limit"), "{{limit}}")], "s")
    b.panel("post time p99, outbox to Slack p99",
            [(quantile(0.99, "tracker_notifier_post_seconds"), "post p99"),
             (quantile(0.99, "tracker_notifier_delivery_seconds"), "delivery p99")], "s")
    b.panel("channels, queue depth, in flight, buffered",
            [('sum(tracker_notifier_channels_active)', "channels active"),
             ('sum(tracker_notifier_channel_queue_depth)', "queued in channels"),
             ('sum(tracker_notifier_in_flight)', "in flight"), ('sum(tracker_notifier_buffered)', "buffered")])
    b.panel("dead letters by error, duplicates",
            [('sum by (error) (rate(tracker_notifier_dead_letters_total[$__rate_interval]))', "{{error}}"),
             ('sum(rate(tracker_notifier_duplicates_total[$__rate_interval]))', "duplicates")], "ops")
    b.row("process")
    process_panels(b, 'job="notifier"')
    return b


def main():
    out = os.path.join(HERE, "dashboards")
    os.makedirs(out, exist_ok=True)
    for board in (overview(), ingest(), worker(), scheduler(), summarizer(), notifier()):
        with open(os.path.join(out, f"{board.uid}.json"), "w", encoding="utf-8") as f:
            json.dump(board.json(), f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"{board.uid}.json: {sum(1 for p in board.panels if p['type'] != 'row')} panels")


if __name__ == "__main__":
    main()
