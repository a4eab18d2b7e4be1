// SC4: a realistic day: 50 people x 3 messages a minute apart (150 events), then one trigger 15
// minutes after the start, timed to the last of the 50 summaries' Slack posts.
//   k6 run -e INGEST=... -e SCHEDULER=... -e SLACK_SIM=... -e SLACK_SIGNING_SECRET=...
//          -e TRACKER_ADMIN_TOKEN=... loadtest/k6/sc4.js
import exec from 'k6/execution';
import { dur, scale, sendEvent, settings, triggerAndWait } from './lib/slack.js';

const s = settings(true);
const runId = Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0');

export const options = {
  scenarios: {
    // Each round: the 50 people post within 10 s; rounds a minute apart.
    events: {
      executor: 'ramping-arrival-rate', exec: 'event', startRate: 0, timeUnit: '1s',
      preAllocatedVUs: 5, maxVUs: 50,
      stages: [0, 1, 2].slice(0, Math.max(1, Math.ceil(3 * scale))).flatMap(() => [
        { target: 5, duration: '0s' }, { target: 5, duration: '10s' },
        { target: 0, duration: '0s' }, { target: 0, duration: '50s' },
      ]),
    },
    trigger: {
      executor: 'shared-iterations', exec: 'trigger', iterations: 1, vus: 1,
      startTime: dur(900 * scale), maxDuration: '300s',
    },
  },
  thresholds: { scheduler_trigger_failures: ['count<1'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function event() {
  sendEvent(s, runId, exec.scenario.iterationInTest, 50, 1, 'slack events');
}

export function trigger() {
  triggerAndWait(s, 300);
}
