// SC3: 200 people x 300 messages (60,000 events over 10 minutes, 100/s) while the scheduler is
// triggered every minute, 10 times (200 summaries each), each timed to its last Slack post.
//   k6 run -e INGEST=... -e SCHEDULER=... -e SLACK_SIM=... -e SLACK_SIGNING_SECRET=...
//          -e TRACKER_ADMIN_TOKEN=... loadtest/k6/sc3.js
import exec from 'k6/execution';
import { dur, scale, sendEvent, settings, triggerAndWait } from './lib/slack.js';

const s = settings(true);
const runId = Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0');
const rounds = Math.max(1, Math.ceil(300 * scale));
const triggers = Math.max(1, Math.ceil(10 * scale));

export const options = {
  discardResponseBodies: false,
  scenarios: {
    events: {
      executor: 'constant-arrival-rate', exec: 'event', rate: 100, timeUnit: '1s',
      duration: dur(rounds * 2), preAllocatedVUs: 50, maxVUs: 500,
    },
    triggers: {
      executor: 'constant-arrival-rate', exec: 'trigger', rate: 1, timeUnit: dur(60 * scale),
      startTime: dur(60 * scale), duration: dur(60 * scale * triggers),
      preAllocatedVUs: 2, maxVUs: 20, gracefulStop: '300s',
    },
  },
  thresholds: {
    'http_req_failed{name:slack events}': ['rate<0.001'],
    scheduler_trigger_failures: ['count<1'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function event() {
  sendEvent(s, runId, exec.scenario.iterationInTest, 200, 20, 'slack events');
}

export function trigger() {
  triggerAndWait(s, 300);
}
