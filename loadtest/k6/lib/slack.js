// What every scenario shares: Slack's request signing, event bodies shaped as Slack sends them,
// and the scheduler trigger timed to its last Slack post (watched on slack-sim).
//
// Settings come from the environment (k6 run -e NAME=value, or exported variables):
//   INGEST      ingest's base URL, http://127.0.0.1:PORT (loopback only)
//   SCHEDULER   the scheduler's ops URL, for POST /trigger (scenarios with triggers)
//   SLACK_SIM   the Slack simulator's URL, whose posts time the triggers
//   SLACK_SIGNING_SECRET, TRACKER_ADMIN_TOKEN   never printed
//   TEAM        the team the events come from (default TK6<random>: a new team per run)
//   SCALE       0 < SCALE <= 1 shrinks durations and counts for a quick run (default 1)
import crypto from 'k6/crypto';
import http from 'k6/http';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

export const scale = Number(__ENV.SCALE || '1');
if (!(scale > 0 && scale <= 1)) throw new Error(`SCALE must be above 0 and at most 1 (got ${__ENV.SCALE})`);

// A duration in whole milliseconds, as k6 options want it ("3000ms", never "3.0000000004s").
export function dur(seconds) {
  return `${Math.max(0, Math.round(seconds * 1000))}ms`;
}

function loopback(name, required) {
  const url = __ENV[name];
  if (!url) {
    if (required) throw new Error(`${name} is required (http://127.0.0.1:PORT)`);
    return '';
  }
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/.test(url)) {
    throw new Error(`${name} must be a loopback URL such as http://127.0.0.1:8080 (got ${url})`);
  }
  return url;
}

export function settings(withTriggers) {
  const secret = __ENV.SLACK_SIGNING_SECRET;
  if (!secret) throw new Error('SLACK_SIGNING_SECRET is required (ingest\'s signing secret)');
  const s = {
    ingest: loopback('INGEST', true),
    scheduler: loopback('SCHEDULER', withTriggers),
    slackSim: loopback('SLACK_SIM', withTriggers),
    secret,
    adminToken: __ENV.TRACKER_ADMIN_TOKEN || '',
    team: __ENV.TEAM || `TK6${Math.floor(Math.random() * 0xffffffff).toString(16).toUpperCase()}`,
  };
  if (withTriggers && !s.adminToken) throw new Error('TRACKER_ADMIN_TOKEN is required for triggers');
  if (!/^[A-Z0-9]{1,32}$/.test(s.team)) throw new Error(`TEAM must be upper-case letters and digits (got ${s.team})`);
  return s;
}

// X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
export function sign(secret, timestamp, body) {
  return 'v0=' + crypto.hmac('sha256', secret, `v0:${timestamp}:${body}`, 'hex');
}

const TEXTS = [
  'Studied Kafka for 25 minutes #kafka',
  'Read about PostgreSQL MVCC for 40 minutes #postgres',
  '오늘 C++ 코루틴 1시간 공부 #cpp',
  'Reviewed Asio strands for 15 minutes #asio',
  'Studied Kafka consumer groups for 2h #kafka',
];

function pad(n, width) {
  return String(n).padStart(width, '0');
}

// An event_callback for a message by user `seq % users` in its channel, unique per (run, seq).
export function eventBody(team, runId, seq, users, channels, nowUnix) {
  const user = seq % users;
  const channel = channels > 1 ? `CLOAD${pad((user % channels) + 1, 3)}` : 'CLOAD';
  const ts = `${nowUnix}.${pad(seq % 1000000, 6)}`;
  return JSON.stringify({
    token: 'XXYYZZ',
    team_id: team,
    api_app_id: 'ALOAD',
    event: {
      type: 'message',
      channel,
      user: `ULOAD${pad(user + 1, 4)}`,
      text: TEXTS[seq % TEXTS.length],
      ts,
      event_ts: ts,
      channel_type: 'channel',
      client_msg_id: `${runId.toLowerCase()}-0000-4000-8000-${pad(seq.toString(16), 12)}`,
    },
    type: 'event_callback',
    authorizations: [{ enterprise_id: null, team_id: team, user_id: 'ULOADBOT', is_bot: true, is_enterprise_install: false }],
    event_id: `EvK6${runId}${pad(seq, 9)}`,
    event_time: nowUnix,
  });
}

// Sends event `seq`, signed now; tagged with the label so k6's summary splits by it.
export function sendEvent(s, runId, seq, users, channels, label) {
  const now = Math.floor(Date.now() / 1000);
  const body = eventBody(s.team, runId, seq, users, channels, now);
  return http.post(`${s.ingest}/slack/events`, body, {
    headers: {
      'Content-Type': 'application/json',
      'X-Slack-Request-Timestamp': String(now),
      'X-Slack-Signature': sign(s.secret, String(now), body),
    },
    tags: { name: label },
    timeout: '10s',
  });
}

// Local date of the day whose summary period holds now (period of D: D-1 at hour to D at hour).
export function summaryDay(nowMs, utcOffsetHours, summaryHour) {
  const shifted = new Date(nowMs + (utcOffsetHours + 24 - summaryHour) * 3600 * 1000);
  return shifted.toISOString().slice(0, 10);
}

export const schedulerTrigger = new Trend('scheduler_trigger', true);
export const triggerFailures = new Counter('scheduler_trigger_failures');

// POST /trigger for the team (forced: a new summary each time), then waits for a Slack post of
// every job it claimed; records the time from the trigger to the last of them.
export function triggerAndWait(s, timeoutS) {
  const started = Date.now();
  const answer = http.post(`${s.scheduler}/trigger`,
    JSON.stringify({ team_id: s.team, day: summaryDay(started, 9, 21), force: true }), {
      headers: { Authorization: `Bearer ${s.adminToken}`, 'Content-Type': 'application/json' },
      tags: { name: 'POST /trigger' },
    });
  if (answer.status !== 200) {
    triggerFailures.add(1, { reason: `http_${answer.status}` });
    return;
  }
  const reply = answer.json();
  const wanted = new Set((reply.jobs || []).map((job) => `summary:${job}`));
  if (wanted.size === 0 || wanted.size < reply.claimed) {
    triggerFailures.add(1, { reason: wanted.size === 0 ? 'nothing_claimed' : 'jobs_not_listed' });
    return;
  }
  let after = 0;
  let latest = 0;
  while (Date.now() - started < timeoutS * 1000) {
    const page = http.get(`${s.slackSim}/_sim/messages?after=${after}`, { tags: { name: 'slack-sim poll' } });
    if (page.status === 200) {
      for (const m of page.json().messages) {
        after = Math.max(after, m.sequence);
        const id = m.metadata && m.metadata.event_payload && m.metadata.event_payload.delivery_id;
        if (id && wanted.delete(id)) {
          const [sec, micro] = m.ts.split('.');
          latest = Math.max(latest, Number(sec) * 1000 + Number(micro) / 1000);
        }
      }
    }
    if (wanted.size === 0) {
      schedulerTrigger.add(latest - started);
      return;
    }
    sleep(0.2);
  }
  triggerFailures.add(1, { reason: 'timeout' });
}
