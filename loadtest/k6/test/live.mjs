// Calls the k6 scripts' own functions against a running pipeline, with k6's modules stood in
// for by shims/ (http through curl): SC1's events and SC4's day, then its trigger, waited for
// to the last Slack post. Checks that ingest accepts every signed event and that the trigger's
// summaries are all posted. Needs INGEST, SCHEDULER, SLACK_SIM, SLACK_SIGNING_SECRET,
// TRACKER_ADMIN_TOKEN and TEAM (a team the worker accepts) in the environment.
//   K6_SHIM_LIVE=1 node loadtest/k6/test/live.mjs      (loadtest/run_scenarios.py --k6-check does)
import { register } from 'node:module';

if (process.env.K6_SHIM_LIVE !== '1') {
  console.error('live.mjs: run with K6_SHIM_LIVE=1');
  process.exit(2);
}
register('./hooks.mjs', import.meta.url);
globalThis.__ENV = { ...process.env, SCALE: '0.02' };

const { seen } = await import('./shims/http-live.mjs');
const { recorded } = await import('./shims/metrics-live.mjs');
const sc1 = await import('../sc1.js');
const sc4 = await import('../sc4.js');

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
  if (!ok) failed += 1;
}

for (let i = 0; i < 20; i += 1) sc1.default();
const events = seen.filter((r) => r.name === 'slack events');
check('sc1.js: 20 signed events, every one answered 200', events.length === 20 &&
      events.every((r) => r.status === 200), JSON.stringify(events.map((r) => r.status)));

seen.length = 0;
for (let i = 0; i < 50; i += 1) sc4.event();  // one round: each of the 50 people once
check('sc4.js: 50 people\'s messages, every one answered 200',
      seen.every((r) => r.status === 200), JSON.stringify(seen.map((r) => r.status)));

// The worker stores them within a second or two; the trigger then claims all 50.
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
const started = Date.now();
sc4.trigger();
const times = recorded.scheduler_trigger || [];
const failures = recorded.scheduler_trigger_failures || [];
check('sc4.js: the trigger timed to its last Slack post', times.length === 1 && failures.length === 0,
      JSON.stringify({ times, failures }));
if (times.length === 1) {
  console.log(`     scheduler_trigger ${times[0].value.toFixed(0)} ms (the wait took ${Date.now() - started} ms)`);
}
process.exit(failed === 0 ? 0 : 1);
