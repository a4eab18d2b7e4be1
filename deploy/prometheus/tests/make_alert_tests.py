#!/usr/bin/env python3
"""Writes alerts_test.yml: for every alert of ../rules/alerts.yml, a promtool test in which it
fires on the failure it is about (input series below) and one in which it stays silent on a
healthy series. The expected annotations are the rule's own templates filled with the values the
series give. Run it after changing an alert, then: promtool test rules alerts_test.yml
"""
import os
import re
import sys

import yaml  # PyYAML (Debian's python3-yaml)

HERE = os.path.dirname(os.path.abspath(__file__))
rules = yaml.safe_load(open(os.path.join(HERE, '..', 'rules', 'alerts.yml')))
alerts = {r['alert']: r for g in rules['groups'] for r in g['rules']}
R = '/slack/events'
cases = {
 'TrackerIngestErrorRatioHigh': dict(
   fire=[('tracker_http_requests_total{job="ingest",route="/slack/events",status="200"}','0+540x20'),
         ('tracker_http_requests_total{job="ingest",route="/slack/events",status="503"}','0+60x20')],
   calm=[('tracker_http_requests_total{job="ingest",route="/slack/events",status="200"}','0+540x20'),
         ('tracker_http_requests_total{job="ingest",route="/slack/events",status="503"}','0+0x20')],
   at='15m', labels={'job':'ingest','route':R}, value={'value':'10%'}),
 'TrackerIngestPublishTimeouts': dict(
   fire=[('tracker_ingest_publish_total{job="ingest",outcome="published"}','0+600x20'),
         ('tracker_ingest_publish_total{job="ingest",outcome="timed_out"}','0+30x20')],
   calm=[('tracker_ingest_publish_total{job="ingest",outcome="published"}','0+600x20'),
         ('tracker_ingest_publish_total{job="ingest",outcome="timed_out"}','0+0x20')],
   at='15m', labels={'job':'ingest','outcome':'timed_out'}, value={'value':'500m','outcome':'timed_out'}),
 'TrackerIngestLatencyNearSlackLimit': dict(
   fire=[('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="1"}','0+0x20'),
         ('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="2.5"}','0+60x20'),
         ('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="+Inf"}','0+60x20')],
   calm=[('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="1"}','0+60x20'),
         ('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="2.5"}','0+60x20'),
         ('tracker_http_request_duration_seconds_bucket{job="ingest",route="/slack/events",le="+Inf"}','0+60x20')],
   at='15m', labels={'job':'ingest','route':R}, value={'value':'2.485s'}),
 'TrackerIngestEventsRefusedForGood': dict(
   fire=[('tracker_ingest_publish_total{job="ingest",outcome="too_large"}','0 0 0 0 0 1 1 1 1 1 1')],
   calm=[('tracker_ingest_publish_total{job="ingest",outcome="too_large"}','0+0x10'),
         ('tracker_ingest_publish_total{job="ingest",outcome="published"}','0+600x10')],
   at='10m', labels={'job':'ingest'}, value={'value':'1'}),
 'TrackerConsumerLagGrowing': dict(
   fire=[('tracker_worker_consumer_lag_messages{job="worker",topic="slack-events",partition="0"}','0+200x30')],
   calm=[('tracker_worker_consumer_lag_messages{job="worker",topic="slack-events",partition="0"}','5000+0x30')],
   at='25m', labels={'group':'worker'}, value={'value':'5k','group':'worker'}),
 'TrackerDeadLetters': dict(
   fire=[('tracker_worker_dead_letters_total{job="worker",reason="not_an_envelope"}','0 0 0 0 0 3 3 3 3 3 3')],
   calm=[('tracker_worker_dead_letters_total{job="worker",reason="not_an_envelope"}','0+0x10')],
   at='10m', labels={'job':'worker'}, value={'value':'3','job':'worker'}),
 'TrackerPostgresUnavailable': dict(
   fire=[('tracker_summarizer_db_unavailable{job="summarizer"}','0 0 1 1 1 1 1')],
   calm=[('tracker_summarizer_db_unavailable{job="summarizer"}','0+0x6')],
   at='5m', labels={'job':'summarizer'}, value={'job':'summarizer'}),
 'TrackerPostgresUnavailable#scheduler': dict(
   fire=[('tracker_readiness_check{job="scheduler",instance="127.0.0.1:9466",check="postgresql"}','1 1 0 0 0 0 0')],
   calm=[('tracker_readiness_check{job="scheduler",instance="127.0.0.1:9466",check="postgresql"}','1+0x6')],
   at='5m', labels={'job':'scheduler'}, value={'job':'scheduler'}),
 'TrackerServiceNotReady': dict(
   fire=[('tracker_readiness_check{job="ingest",instance="127.0.0.1:9464",check="kafka"}','1 1 0 0 0 0 0')],
   calm=[('tracker_readiness_check{job="ingest",instance="127.0.0.1:9464",check="kafka"}','1+0x6')],
   at='6m', labels={'job':'ingest','instance':'127.0.0.1:9464','check':'kafka'}, value={'job':'ingest','check':'kafka'}),
 'TrackerSchedulerTicksMissing': dict(
   fire=[('tracker_scheduler_last_tick_timestamp_seconds{job="scheduler"}','0+60x5 300+0x15')],
   calm=[('tracker_scheduler_last_tick_timestamp_seconds{job="scheduler"}','0+60x20')],
   at='15m', labels={'job':'scheduler'}, value={'value':'10m 0s'}),
 'TrackerSchedulerTicksFailing': dict(
   fire=[('tracker_scheduler_ticks_total{job="scheduler",outcome="failed"}','0 0 0 1 2 3 4 5 5 5 5 5 5 5 5 5'),
         ('tracker_scheduler_ticks_total{job="scheduler",outcome="ok"}','0+1x15')],
   calm=[('tracker_scheduler_ticks_total{job="scheduler",outcome="failed"}','0+0x15'),
         ('tracker_scheduler_ticks_total{job="scheduler",outcome="ok"}','0+1x15')],
   at='15m', labels={'job':'scheduler'}, value={'value':'5'}),
 'TrackerSchedulerCatchUpSkipping': dict(
   fire=[('tracker_scheduler_catch_up_skipped_total{job="scheduler"}','0 0 4 4 4 4 4 4 4 4 4')],
   calm=[('tracker_scheduler_catch_up_skipped_total{job="scheduler"}','0+0x10')],
   at='10m', labels={'job':'scheduler'}, value={'value':'4'}),
 'TrackerSummaryJobsFailing': dict(
   fire=[('tracker_summarizer_jobs_total{job="summarizer",outcome="done"}','0+540x30'),
         ('tracker_summarizer_jobs_total{job="summarizer",outcome="failed"}','0+60x30')],
   calm=[('tracker_summarizer_jobs_total{job="summarizer",outcome="done"}','0+540x30'),
         ('tracker_summarizer_jobs_total{job="summarizer",outcome="failed"}','0+0x30')],
   at='25m', labels={'job':'summarizer'}, value={'value':'10%'}),
 'TrackerOpenAIBreakerOpen': dict(
   fire=[('tracker_llm_circuit_state{job="summarizer"}','0 0 1 1 1 1 1')],
   calm=[('tracker_llm_circuit_state{job="summarizer"}','0 0 2 0 0 0 0')],
   at='6m', labels={'job':'summarizer'}, value={}),
 'TrackerOpenAIQuotaExhausted': dict(
   fire=[('tracker_llm_requests_total{job="summarizer",outcome="insufficient_quota"}','0 0 0 2 2 2 2 2 2 2 2')],
   calm=[('tracker_llm_requests_total{job="summarizer",outcome="ok"}','0+60x10')],
   at='10m', labels={'job':'summarizer'}, value={}),
 'TrackerOpenAIRateLimited': dict(
   fire=[('tracker_llm_requests_total{job="summarizer",outcome="ok"}','0+480x30'),
         ('tracker_llm_requests_total{job="summarizer",outcome="rate_limited"}','0+120x30')],
   calm=[('tracker_llm_requests_total{job="summarizer",outcome="ok"}','0+480x30'),
         ('tracker_llm_requests_total{job="summarizer",outcome="rate_limited"}','0+6x30')],
   at='25m', labels={'job':'summarizer'}, value={'value':'20%'}),
 'TrackerOpenAIRetryBudgetExhausted': dict(
   fire=[('tracker_llm_retry_budget_refused_total{job="summarizer"}','0 0 0 7 7 7 7 7 7 7 7')],
   calm=[('tracker_llm_retry_budget_refused_total{job="summarizer"}','0+0x10')],
   at='10m', labels={'job':'summarizer'}, value={'value':'7'}),
 'TrackerSlackRateLimited': dict(
   fire=[('tracker_notifier_rate_limited_total{job="notifier"}','0 0 1 2 3 4 4 4 4 4 4')],
   calm=[('tracker_notifier_rate_limited_total{job="notifier"}','0 0 1 1 1 1 1 1 1 1 1')],
   at='10m', labels={'job':'notifier'}, value={'value':'4'}),
 'TrackerSlackPostsDeadLettered': dict(
   fire=[('tracker_notifier_dead_letters_total{job="notifier",error="channel_not_found"}','0 0 0 2 2 2 2 2 2 2 2')],
   calm=[('tracker_notifier_dead_letters_total{job="notifier",error="channel_not_found"}','0+0x10')],
   at='10m', labels={'job':'notifier'}, value={'value':'2'}),
 'TrackerProcessRestarting': dict(
   fire=[('process_start_time_seconds{job="worker",instance="127.0.0.1:9465"}','100 100 100 700 700 1300 1300 1900 1900 1900')],
   calm=[('process_start_time_seconds{job="worker",instance="127.0.0.1:9465"}','100+0x9')],
   at='9m', labels={'job':'worker','instance':'127.0.0.1:9465'}, value={'value':'3','job':'worker','instance':'127.0.0.1:9465'}),
 'TrackerTargetDown': dict(
   fire=[('up{job="notifier",instance="127.0.0.1:9468"}','1 1 0 0 0 0')],
   calm=[('up{job="notifier",instance="127.0.0.1:9468"}','1+0x5')],
   at='5m', labels={'job':'notifier','instance':'127.0.0.1:9468'}, value={'job':'notifier','instance':'127.0.0.1:9468'}),
}
missing = set(alerts) - {name.split('#')[0] for name in cases}
assert not missing, missing
def render(text, v):
    def sub(m):
        expr = m.group(1).strip()
        if expr.startswith('$value'): return v['value']
        if expr.startswith('$labels.'): return v[expr.split('.')[1]]
        raise ValueError(expr)
    return re.sub(r'\{\{(.*?)\}\}', sub, text)
tests = []
for case_name, c in cases.items():
    name = case_name.split('#')[0]
    variant = f" ({case_name.split('#')[1]})" if '#' in case_name else ''
    rule = alerts[name]
    labels = dict(c['labels']); labels.update(rule.get('labels', {}))
    ann = {k: render(t, c['value']) for k, t in rule['annotations'].items()}
    for kind in ('fire', 'calm'):
        tests.append({
          'name': f'{name}: ' + ('fires on the failure' if kind == 'fire' else 'silent on a healthy series') + variant,
          'interval': '1m',
          'input_series': [{'series': s, 'values': v} for s, v in c[kind]],
          'alert_rule_test': [{'eval_time': c['at'], 'alertname': name,
                               'exp_alerts': [{'exp_labels': labels, 'exp_annotations': ann}] if kind == 'fire' else []}],
        })
doc = {'rule_files': ['../rules/recording.yml', '../rules/alerts.yml'], 'evaluation_interval': '1m', 'group_eval_order': ['tracker-recording', 'tracker-ingest', 'tracker-pipeline', 'tracker-summaries', 'tracker-slack', 'tracker-processes'], 'tests': tests}
header = ("# promtool unit tests of every alert in ../rules/alerts.yml: each fires on the failure it is\n"
          "# about and stays silent on a healthy series. Run: promtool test rules tests/alerts_test.yml\n")
open(os.path.join(HERE, 'alerts_test.yml'), 'w').write(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100))
print(len(tests), 'tests')
