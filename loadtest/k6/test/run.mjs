// Checks of the k6 scripts that need no k6: Slack's published signature vector, the event body,
// the triggered day, and that every scenario loads with valid-looking options at full size and
// scaled. Run: node loadtest/k6/test/run.mjs (exit status 1 on a failed check).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

const here = new URL('.', import.meta.url);
const root = new URL('../../../', here);
globalThis.__ENV = {
  INGEST: 'http://127.0.0.1:8080', SCHEDULER: 'http://127.0.0.1:9466',
  SLACK_SIM: 'http://127.0.0.1:8090', SLACK_SIGNING_SECRET: 'x'.repeat(32),
  TRACKER_ADMIN_TOKEN: 'y'.repeat(32),
  // k6 reads SCALE once, when the scripts load: each scale is checked in a process of its own.
  SCALE: process.argv[2] || '1',
};

let failed = 0;
async function check(name, body) {
  try {
    await body();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${e.message.split('\n').join('\n     ')}`);
  }
}

const lib = await import(new URL('../lib/slack.js', here));

await check('signing matches Slack\'s published example', () => {
  const vectorPath = process.env.SIGNATURE_VECTOR ||
    new URL('../shared/testdata/slack/signature-vector.json', root);
  const v = JSON.parse(readFileSync(vectorPath, 'utf8'));
  assert.equal(lib.sign(v.signing_secret, v.timestamp, v.body), v.expected_signature);
});

await check('an event body is an event_callback a receiver accepts', () => {
  const body = JSON.parse(lib.eventBody('TK6RUN', 'ABCD0123', 1000201, 200, 20, 1731974401));
  assert.equal(body.type, 'event_callback');
  assert.equal(body.team_id, 'TK6RUN');
  assert.equal(body.event.type, 'message');
  assert.equal(body.event.user, 'ULOAD0002');
  assert.equal(body.event.channel, 'CLOAD002');
  assert.equal(body.event.ts, '1731974401.000201');
  assert.equal(body.event_id, 'EvK6ABCD0123001000201');
  assert.equal(body.authorizations[0].team_id, 'TK6RUN');
});

await check('the triggered day is the one whose period holds now', () => {
  assert.equal(lib.summaryDay(Date.UTC(2026, 11, 2, 11, 59), 9, 21), '2026-12-02');
  assert.equal(lib.summaryDay(Date.UTC(2026, 11, 2, 12, 0), 9, 21), '2026-12-03');
});

const scale = globalThis.__ENV.SCALE;
for (const name of ['sc1', 'sc1b', 'sc2', 'sc3', 'sc4']) {
  await check(`${name}.js loads at scale ${scale}`, async () => {
    const script = await import(new URL(`../${name}.js`, here));
    assert.equal(lib.scale, Number(scale));
    const scenarios = Object.values(script.options.scenarios);
    assert.ok(scenarios.length > 0);
    for (const s of scenarios) {
      for (const key of ['duration', 'startTime', 'timeUnit', 'maxDuration']) {
        if (s[key] !== undefined) assert.match(s[key], /^\d+(ms|s)$/, `${key} ${s[key]}`);
      }
      for (const stage of s.stages || []) assert.match(stage.duration, /^\d+(ms|s)$/);
      const fn = s.exec || 'default';
      assert.equal(typeof script[fn], 'function', `exec ${fn}`);
    }
  });
}

if (!process.argv[2]) {
  const scaled = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '0.02'],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(scaled.stdout.split('\n').filter((l) => l.includes('scale')).join('\n') + '\n');
  if (scaled.status !== 0) failed += 1;
}

process.exit(failed === 0 ? 0 : 1);
