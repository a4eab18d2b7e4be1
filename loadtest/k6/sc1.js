// SC1: connections ramped 100 -> 5,000, 33,600 Slack events; each connection sends one event
// every 4.5 s, so the arrival rate ramps from 22 to 1,111 events/s over 60 s (open model:
// k6's arrival-rate executors start iterations on schedule, whatever the latency).
//   k6 run -e INGEST=http://127.0.0.1:PORT -e SLACK_SIGNING_SECRET=... loadtest/k6/sc1.js
import exec from 'k6/execution';
import { dur, scale, sendEvent, settings } from './lib/slack.js';

const s = settings(false);
const runId = Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0');

export const options = {
  discardResponseBodies: true,
  scenarios: {
    events: {
      executor: 'ramping-arrival-rate',
      startRate: 22,
      timeUnit: '1s',
      preAllocatedVUs: 100,
      maxVUs: 5000,
      stages: [{ target: 1111, duration: dur(Math.max(1, 60 * scale)) }],
    },
  },
  thresholds: { 'http_req_failed{name:slack events}': ['rate<0.001'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  sendEvent(s, runId, exec.scenario.iterationInTest, 200, 20, 'slack events');
}
