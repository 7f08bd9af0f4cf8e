/**
 * Host health over the fleet database: `hosts --pg` and `health --pg` judge
 * each host as `--db` judges the same failures in a local store, in one
 * query over the time index.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FailureObservation } from '../../src/agent/records.js';
import { Store } from '../../src/agent/store.js';
import { storeRecords } from '../../src/fleet/collector.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { healthWindowQuery } from '../../src/fleet/pg-health.js';
import { migratePg } from '../../src/fleet/pg-schema.js';
import { BASE_SECONDS, failure, tempDir } from '../agent/fixtures.js';
import { failureRecord, insertOlderFailures } from './records.js';
import { type PostgresServer, startPostgres } from './services.js';
import { runCli } from '../support/cli.js';

let pg: PostgresServer;
let sql: Sql;
const tmp = tempDir('memfail-fleet-health-');
const dbs: Record<string, string> = {};
const HOUR_US = 3_600_000_000;

/** A fixture offset `hours` before now. */
function ago(hours: number): number {
  return Date.now() * 1000 - BASE_SECONDS * 1_000_000 - Math.round(hours * HOUR_US);
}

const FAILURES: Record<string, FailureObservation[]> = {
  // 3 action-required failures on 2 VMs within 24 h: failing under the built-in policy.
  sick: [
    failure('vm1', ago(5), { actionRequired: true }),
    failure('vm2', ago(3), { actionRequired: true }),
    failure('vm1', ago(1), { actionRequired: true, action: 'reset' }),
  ],
  // One action-optional failure this week: suspect.
  odd: [failure('vm9', ago(2))],
  // Its only failure a month ago: healthy.
  old: [failure('vm3', ago(24 * 30), { actionRequired: true })],
};

const run = (...args: string[]) => runCli(args);

before(async () => {
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
  await migratePg(sql);
  for (const [host, observations] of Object.entries(FAILURES)) {
    dbs[host] = join(tmp.dir, `${host}.db`);
    const store = Store.open(dbs[host]!);
    store.insert(observations);
    store.close();
    await storeRecords(
      sql,
      observations.map((o) => failureRecord(host, o)),
    );
  }
});

after(async () => {
  await sql?.end();
  await pg?.dispose();
  tmp.cleanup();
});

interface HostJson {
  host: string;
  failures: number;
  health: { host: string; state: string; level: number; reasons: { text: string }[] };
}

test('hosts --pg judges every host; --db judges the same failures the same way', async () => {
  const r = await run('hosts', '--pg', pg.url, '--json');
  assert.equal(r.code, 0, r.stderr);
  const hosts = JSON.parse(r.stdout) as HostJson[];
  assert.deepEqual(
    hosts.map((h) => [h.host, h.failures, h.health.state, h.health.level]),
    [
      ['odd', 1, 'suspect', 1],
      ['old', 1, 'healthy', 0],
      ['sick', 3, 'failing', 3],
    ],
  );
  const sick = hosts.find((h) => h.host === 'sick')!;
  assert.match(sick.health.reasons[0]!.text, /^3 action-required failures on 2 VMs in 24 h/);
  for (const h of hosts) {
    const local = await run('hosts', '--db', dbs[h.host]!, '--host', h.host, '--json');
    assert.equal(local.code, 0, local.stderr);
    const [mine] = JSON.parse(local.stdout) as HostJson[];
    const { evaluatedAt: _a, ...fromDb } = mine!.health as unknown as Record<string, unknown>;
    const { evaluatedAt: _b, ...fromPg } = h.health as unknown as Record<string, unknown>;
    assert.deepEqual(fromPg, fromDb, h.host);
  }
  const text = (await run('hosts', '--pg', pg.url)).stdout.split('\n');
  assert.match(text[0]!, /^HOST\s+VMS\s+FAILURES\s+INVALID\s+LAST FAILURE\s+HEALTH$/);
  assert.match(text[3]!, /^sick\s+2\s+3\s+0\s+\S+\s+failing: 3 action-required failures/);
  assert.match(text[2]!, /^old\s+.*\s+healthy$/);
});

test('hosts --policy FILE judges with that policy; a bad file is refused before any output', async () => {
  const strict = join(tmp.dir, 'strict.json');
  writeFileSync(
    strict,
    '{"rules": [{"state": "degraded", "kind": "any", "atLeast": 1, "within": "60d"}]}\n',
  );
  const r = await run('hosts', '--pg', pg.url, '--policy', strict, '--json');
  assert.equal(r.code, 0, r.stderr);
  const states = (JSON.parse(r.stdout) as HostJson[]).map((h) => [h.host, h.health.state]);
  assert.deepEqual(states, [
    ['odd', 'degraded'],
    ['old', 'degraded'],
    ['sick', 'degraded'],
  ]);
  const bad = join(tmp.dir, 'bad.json');
  writeFileSync(bad, '{"rules": [{"state": "dire", "kind": "any"}]}\n');
  const refused = await run('hosts', '--pg', pg.url, '--policy', bad);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /bad\.json:1:\d+/);
});

test('health --pg judges one host, or lists every host with recent failures', async () => {
  const one = await run('health', '--pg', pg.url, '--host', 'sick');
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^sick: failing\n {2}failing +3 action-required failures on 2 VMs/);
  const quiet = await run('health', '--pg', pg.url, '--host', 'nobody', '--json');
  assert.equal(JSON.parse(quiet.stdout).state, 'healthy');
  const all = await run('health', '--pg', pg.url, '--json');
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(
    (JSON.parse(all.stdout) as { host: string; state: string }[]).map((h) => [h.host, h.state]),
    [
      ['odd', 'suspect'],
      ['sick', 'failing'],
    ],
  );
});

test('report --pg --health: every host judged, or --host judged as report --db --health does', async () => {
  const all = await run('report', '--pg', pg.url, '--health', '--json');
  assert.equal(all.code, 0, all.stderr);
  const report = JSON.parse(all.stdout) as { overall: unknown; health: HostJson['health'][] };
  assert.ok(report.overall);
  assert.deepEqual(
    report.health.map((h) => [h.host, h.state]),
    [
      ['odd', 'suspect'],
      ['old', 'healthy'],
      ['sick', 'failing'],
    ],
  );
  const text = await run('report', '--pg', pg.url, '--health');
  assert.match(text.stdout, /\nhost health: 2 of 3 hosts not healthy\nodd: suspect\n/);
  assert.match(text.stdout, /\nsick: failing\n {2}failing +3 action-required/);
  const fleet = await run('report', '--pg', pg.url, '--host', 'sick', '--health', '--json');
  const local = await run('report', '--db', dbs.sick!, '--host', 'sick', '--health', '--json');
  assert.equal(local.code, 0, local.stderr);
  const unstamped = (out: string) => {
    const { evaluatedAt: _, ...rest } = JSON.parse(out).health;
    return rest;
  };
  assert.deepEqual(unstamped(fleet.stdout), unstamped(local.stdout));
  assert.equal(unstamped(fleet.stdout).state, 'failing');
});

test('the health window query reads through the time index, fleet-wide and per host', async () => {
  // 50,000 older failures over 500 hosts: enough that a scan would cost more than the index.
  await insertOlderFailures(sql);
  await sql`ANALYZE memory_failure`;
  const plan = async (host?: string) => {
    // The window holds the last 1,000 seconds of those rows (2% of the table).
    const nowUs = (1764000000 + 50_000) * 1_000_000;
    const q = healthWindowQuery(nowUs - 1000 * 1_000_000, nowUs, host);
    const rows = await sql.unsafe(`EXPLAIN ${q.text}`, q.params);
    return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  };
  const fleet = await plan();
  assert.match(fleet, /memory_failure_seen/);
  assert.doesNotMatch(fleet, /Seq Scan/);
  const one = await plan('h42');
  assert.match(one, /memory_failure_host_seen/);
  assert.doesNotMatch(one, /Seq Scan/);
});
