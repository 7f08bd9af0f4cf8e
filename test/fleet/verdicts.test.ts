/**
 * FleetVerdicts keeps the fleet's verdicts between askings and re-judges only
 * hosts whose verdict may have changed. Whatever it skips, its answer must be
 * the one a fresh judging of every host gives at that instant
 * (fleetHealthInSql, itself checked against evaluate() in
 * health-sql.test.ts): as the clock moves past windows' edges, as new
 * failures arrive through the collector's statements, and as failures
 * stamped ahead of the clock come due.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Action, Recipient } from '../../src/event/model.js';
import { contentCode } from '../../src/agent/store-rows.js';
import { storeRecords } from '../../src/fleet/collector.js';
import { FORMAT_VERSION, type FailureRecord } from '../../src/fleet/message.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { fleetHealthInSql } from '../../src/fleet/pg-health.js';
import { migratePg } from '../../src/fleet/pg-schema.js';
import { FleetVerdicts } from '../../src/fleet/pg-verdicts.js';
import type { HostHealth } from '../../src/health/evaluate.js';
import { DEFAULT_POLICY, type Policy, parsePolicy } from '../../src/health/policy.js';
import { random } from '../support/random.js';
import { type PostgresServer, startPostgres } from './services.js';

let pg: PostgresServer;
let sql: Sql;

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const MIN_MS = 60_000;
const HOUR_MS = 60 * MIN_MS;
const DAY_MS = 24 * HOUR_MS;

const POLICY: Policy = parsePolicy(
  `{ "rules": [
    { "state": "failing", "kind": "hypervisor-fatal", "atLeast": 1, "within": "7d" },
    { "state": "failing", "kind": "action-required", "atLeast": 3, "vms": 2, "within": "24h" },
    { "state": "degraded", "kind": "guest-reset", "atLeast": 2, "vms": 2, "within": "2d" },
    { "state": "degraded", "kind": "recursive", "atLeast": 1, "within": "24h" },
    { "state": "suspect", "kind": "any", "atLeast": 2, "within": "3d" },
    { "state": "suspect", "kind": "action-required", "atLeast": 1, "within": "90m" }
  ] }`,
  'moving.json',
);

let serial = 0;

function failure(
  host: string,
  vm: string,
  atUs: number,
  f: { recipient?: Recipient; action?: Action; ar?: boolean; recursive?: boolean } = {},
): FailureRecord {
  const content = contentCode({
    recipient: f.recipient ?? 'guest',
    action: f.action ?? 'inject',
    actionRequired: f.ar ?? false,
    recursive: f.recursive ?? false,
  });
  return {
    memfail: FORMAT_VERSION,
    kind: 'failure',
    host,
    vm,
    content,
    tsSeconds: Math.floor(atUs / 1_000_000),
    tsMicros: atUs % 1_000_000,
    receivedUs: atUs,
    dialect: 'qemu',
    raw: '{"event":"MEMORY_FAILURE"}',
    error: null,
    dedup: String(serial++),
  };
}

const rnd = random(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** `n` random failures on random hosts of `hosts`, within `spanMs` before `atMs`. */
function randomFailures(n: number, hosts: number, atMs: number, spanMs: number): FailureRecord[] {
  const out: FailureRecord[] = [];
  for (let i = 0; i < n; i++) {
    const ahead = rnd() < 0.02 ? 2 * HOUR_MS : 0;
    out.push(
      failure(
        `host${Math.floor(rnd() * hosts)}`,
        `vm${Math.floor(rnd() * 3)}`,
        (atMs - Math.floor(rnd() * spanMs) + ahead) * 1000 + Math.floor(rnd() * 1000),
        {
          recipient: pick(['guest', 'guest', 'hypervisor'] as const),
          action: pick(['inject', 'inject', 'ignore', 'reset', 'fatal'] as const),
          ar: rnd() < 0.4,
          recursive: rnd() < 0.1,
        },
      ),
    );
  }
  return out;
}

function sameVerdicts(got: Map<string, HostHealth>, want: Map<string, HostHealth>, at: string) {
  const strip = (m: Map<string, HostHealth>) =>
    [...m].map(([h, v]) => [h, v.state, v.reasons.map((r) => r.text)]).sort();
  assert.deepEqual(strip(got), strip(want), at);
}

before(async () => {
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
  await migratePg(sql);
  await storeRecords(sql, randomFailures(1500, 120, NOW_MS, 9 * DAY_MS));
});

after(async () => {
  await sql?.end();
  await pg?.dispose();
});

for (const [name, policy] of [
  ['the built-in policy', DEFAULT_POLICY],
  ['a policy of short and long windows', POLICY],
] as const) {
  test(`kept verdicts equal a fresh judging of every host as time passes, under ${name}`, async () => {
    const verdicts = new FleetVerdicts(sql, policy);
    let at = NOW_MS;
    let partial = 0;
    let skipped = 0;
    // 4 days in uneven steps: windows' edges pass between askings.
    while (at < NOW_MS + 4 * DAY_MS) {
      const got = await verdicts.judge(new Date(at));
      sameVerdicts(
        got,
        await fleetHealthInSql(sql, policy, new Date(at)),
        new Date(at).toISOString(),
      );
      if (!verdicts.last.whole) partial++;
      skipped += verdicts.last.hosts - verdicts.last.judged;
      at += Math.floor(rnd() * 7 * HOUR_MS);
    }
    assert.ok(partial > 3, `most askings judge some hosts only (${partial})`);
    assert.ok(skipped > 0);
  });
}

test('a new failure re-judges its host alone; an unchanged fleet is not judged again', async () => {
  const verdicts = new FleetVerdicts(sql, POLICY);
  const at = new Date(NOW_MS + 5 * DAY_MS);
  await verdicts.judge(at);
  assert.equal(verdicts.last.whole, true);
  const hosts = verdicts.last.hosts;

  await verdicts.judge(at);
  assert.deepEqual(verdicts.last, { hosts, judged: 0, whole: false });

  // host7 gets 3 action-required failures on 2 VMs: failing, at once.
  const nowUs = at.getTime() * 1000;
  await storeRecords(sql, [
    failure('host7', 'vm0', nowUs - 3000, { ar: true }),
    failure('host7', 'vm1', nowUs - 2000, { ar: true }),
    failure('host7', 'vm1', nowUs - 1000, { ar: true }),
  ]);
  const got = await verdicts.judge(at);
  assert.deepEqual(verdicts.last, { hosts, judged: 1, whole: false });
  assert.equal(got.get('host7')?.state, 'failing');
  sameVerdicts(got, await fleetHealthInSql(sql, POLICY, at), 'after host7');

  // A host never seen before is judged too.
  await storeRecords(sql, [
    failure('new-host', 'a', nowUs, { recipient: 'hypervisor', action: 'fatal' }),
  ]);
  const again = await verdicts.judge(at);
  assert.deepEqual(verdicts.last, { hosts: hosts + 1, judged: 1, whole: false });
  assert.equal(again.get('new-host')?.state, 'failing');
});

test('a failure stamped ahead of the clock counts once the clock reaches it', async () => {
  const verdicts = new FleetVerdicts(sql, POLICY);
  const at = NOW_MS + 20 * DAY_MS; // every earlier failure is out of every window
  await storeRecords(sql, [
    failure('ahead', 'a', (at + HOUR_MS) * 1000, { recipient: 'hypervisor', action: 'fatal' }),
  ]);
  assert.equal((await verdicts.judge(new Date(at))).get('ahead'), undefined);
  assert.equal((await verdicts.judge(new Date(at + HOUR_MS - 1))).get('ahead'), undefined);
  assert.equal(verdicts.last.judged, 0);
  const due = await verdicts.judge(new Date(at + HOUR_MS));
  assert.equal(verdicts.last.judged, 1);
  assert.equal(due.get('ahead')?.state, 'failing');
  // Seven days later, to the µs, it still counts; a millisecond after, it does not.
  assert.equal(
    (await verdicts.judge(new Date(at + HOUR_MS + 7 * DAY_MS))).get('ahead')?.state,
    'failing',
  );
  assert.equal(
    (await verdicts.judge(new Date(at + HOUR_MS + 7 * DAY_MS + 1))).get('ahead'),
    undefined,
  );
});

test('concurrent askings are taken one at a time and agree', async () => {
  const verdicts = new FleetVerdicts(sql, POLICY);
  const at = new Date(NOW_MS + DAY_MS);
  const [a, b, c] = await Promise.all([verdicts.judge(at), verdicts.judge(at), verdicts.judge(at)]);
  sameVerdicts(a, b, 'a/b');
  sameVerdicts(b, c, 'b/c');
  assert.equal(verdicts.last.judged, 0);
});
