// SC2: one person sends 300 messages in 5 minutes; then the scheduler is triggered every
// minute, 20 times, each timed to the Slack post of the summary (metric scheduler_trigger).
//   k6 run -e INGEST=... -e SCHEDULER=... -e SLACK_SIM=... -e SLACK_SIGNING_SECRET=...
//          -e TRACKER_ADMIN_TOKEN=... loadtest/k6/sc2.js
import exec from 'k6/execution';
import { dur, scale, schedulerTrigger, sendEvent, settings, triggerAndWait } from './lib/slack.js';

const s = settings(true);
const runId = Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0');
const messages = Math.max(1, Math.ceil(300 * scale));
const triggers = Math.max(1, Math.ceil(20 * scale));

export const options = {
  scenarios: {
    events: {
      executor: 'constant-arrival-rate', exec: 'event', rate: 1, timeUnit: '1s',
      duration: dur(messages), preAllocatedVUs: 2, maxVUs: 10,
    },
    triggers: {
      executor: 'constant-arrival-rate', exec: 'trigger', rate: 1, timeUnit: dur(60 * scale),
      startTime: dur(360 * scale), duration: dur(60 * scale * triggers),
      preAllocatedVUs: 2, maxVUs: 20, gracefulStop: '300s',
    },
  },
  thresholds: { scheduler_trigger: ['count>0'], scheduler_trigger_failures: ['count<1'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function event() {
  sendEvent(s, runId, exec.scenario.iterationInTest, 1, 1, 'slack events');
}

export function trigger() {
  triggerAndWait(s, 300);
}

export { schedulerTrigger };
