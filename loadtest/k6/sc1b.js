// SC1b: 60,000 Slack events at 1,000/s, a new connection for every request (no keep-alive),
// up to 5,000 at once.
//   k6 run -e INGEST=http://127.0.0.1:PORT -e SLACK_SIGNING_SECRET=... loadtest/k6/sc1b.js
import exec from 'k6/execution';
import { dur, scale, sendEvent, settings } from './lib/slack.js';

const s = settings(false);
const runId = Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0');

export const options = {
  discardResponseBodies: true,
  noConnectionReuse: true,
  scenarios: {
    events: {
      executor: 'constant-arrival-rate',
      rate: 1000,
      timeUnit: '1s',
      duration: dur(Math.max(1, 60 * scale)),
      preAllocatedVUs: 500,
      maxVUs: 5000,
    },
  },
  thresholds: { 'http_req_failed{name:slack events (no keep-alive)}': ['rate<0.001'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  sendEvent(s, runId, exec.scenario.iterationInTest, 200, 20, 'slack events (no keep-alive)');
}
