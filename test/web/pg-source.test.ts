/**
 * `memfail serve --pg`: the dashboard's API over a real PostgreSQL loaded
 * with the collector's own writer — the same records as `events --pg
 * --json`, each host judged by the policy, live marks, and the overview's
 * range queries answered through indexes (EXPLAIN of the statements the
 * source really sent).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { nowMicros } from '../../src/agent/records.js';
import { openFleetDashboard } from '../../src/cli/serve-run.js';
import { storeRecords } from '../../src/fleet/collector.js';
import type { FleetRecord } from '../../src/fleet/message.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { migratePg } from '../../src/fleet/pg-schema.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { fleetPolicyHealth } from '../../src/web/health.js';
import { PgSource } from '../../src/web/pg-source.js';
import { startDashboard } from '../../src/web/server.js';
import { failureRecord, lifecycleRecord, insertOlderFailures } from '../fleet/records.js';
import { type PostgresServer, startPostgres } from '../fleet/services.js';
import { failureAt, lifecycleAt, liveMarks, minutesAgo } from './fixtures.js';
import { runCli } from '../support/cli.js';

let pg: PostgresServer;
let sql: Sql;
const resetAt = minutesAgo(50);

function fixtures(): FleetRecord[] {
  return [
    failureRecord('host-a', failureAt('vm1', minutesAgo(26 * 60))),
    failureRecord('host-a', failureAt('vm1', minutesAgo(120))),
    failureRecord('host-a', failureAt('vm1', minutesAgo(110), { actionRequired: false })),
    failureRecord('host-a', failureAt('vm2', resetAt, { action: 'reset', recursive: true })),
    lifecycleRecord(
      'host-a',
      lifecycleAt('vm2', 'RESET', resetAt + 2_000, { guest: true, reason: 'guest-reset' }),
    ),
    failureRecord(
      'host-a',
      failureAt('vm3', minutesAgo(20), { recipient: 'hypervisor', action: 'fatal' }),
    ),
    failureRecord('host-b', failureAt('vm1', minutesAgo(30), { actionRequired: false })),
    failureRecord('host-b', failureAt('<img src=x onerror=alert(1)>', minutesAgo(10))),
  ];
}

const run = (...args: string[]) => runCli(args);

async function json<T>(base: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, base));
  const body = await res.text();
  assert.equal(res.status, 200, `${path}: ${body}`);
  return JSON.parse(body) as T;
}

before(async () => {
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
  await migratePg(sql);
  await storeRecords(sql, fixtures());
});

after(async () => {
  await sql?.end();
  await pg?.dispose();
});

describe('dashboard API over the fleet database', () => {
  let base = '';
  let close: () => Promise<void> = async () => {};
  const logs: string[] = [];

  before(async () => {
    const io = { stdout: (s: string) => logs.push(s), stderr: (s: string) => logs.push(s) };
    const served = await openFleetDashboard(pg.url, { host: '127.0.0.1', port: 0 }, io);
    assert.ok(served, logs.join(''));
    base = served.url;
    close = served.close;
  });
  after(async () => await close());

  test('hosts by the policy health, with its reasons', async () => {
    const body = await json<{
      byState: Record<string, number>;
      hosts: { host: string; health: { state: string; reasons: string[] } }[];
    }>(base, '/api/hosts');
    assert.deepEqual(body.byState, { failing: 1, degraded: 0, suspect: 1, healthy: 0, unknown: 0 });
    assert.deepEqual(
      body.hosts.map((h) => [h.host, h.health.state]),
      [
        ['host-a', 'failing'],
        ['host-b', 'suspect'],
      ],
    );
    assert.match(body.hosts[0]!.health.reasons[0]!, /^hypervisor-fatal at .* on vm3$/);
    const one = await json<{ health: { state: string }; facts: { vms: number } }>(
      base,
      '/api/hosts/host-a',
    );
    assert.equal(one.health.state, 'failing');
    assert.equal(one.facts.vms, 3); // vm1's failure of 26 h ago is outside the last day
    assert.equal((await fetch(new URL('/api/hosts/nobody', base))).status, 404);
    assert.equal((await fetch(new URL('/hosts/nobody', base))).status, 404);
    assert.equal((await fetch(new URL('/hosts/host-b', base))).status, 200);
  });

  test('events: the records events --pg --json prints, newest first, paged', async () => {
    const cli = await run('events', '--pg', pg.url, '--json');
    assert.equal(cli.code, 0, cli.stderr);
    const expected = (JSON.parse(cli.stdout) as { id: number }[]).sort((a, b) => b.id - a.id);
    const got: unknown[] = [];
    let path: string | null = '/api/events?range=7d&limit=3';
    while (path !== null) {
      const page: { items: unknown[]; next: number | null } = await json(base, path);
      assert.ok(page.items.length <= 3);
      got.push(...page.items);
      path = page.next === null ? null : `/api/events?range=7d&limit=3&before=${page.next}`;
    }
    assert.deepEqual(got, expected);
    const vm2 = await json<{ items: { vm: string; action: string }[] }>(
      base,
      '/api/events?range=24h&host=host-a&vm=vm2',
    );
    assert.deepEqual(
      vm2.items.map((e) => [e.vm, e.action]),
      [['vm2', 'reset']],
    );
  });

  test('series, top hosts and VMs, a host page of VMs: counted by the database', async () => {
    const series = await json<{
      total: number;
      byAction: Record<string, number[]>;
      byRecipient: Record<string, number[]>;
    }>(base, '/api/series?range=24h');
    assert.equal(series.total, 6);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.equal(sum(series.byAction.fatal!), 1);
    assert.equal(sum(series.byAction.reset!), 1);
    assert.equal(sum(series.byRecipient.hypervisor!), 1);
    const one = await json<{ total: number }>(base, '/api/series?range=24h&host=host-a&vm=vm1');
    assert.equal(one.total, 2);
    assert.deepEqual(await json(base, '/api/top/hosts?range=24h'), [
      { host: 'host-a', failures: 4 },
      { host: 'host-b', failures: 2 },
    ]);
    const top = await json<{ host: string; vm: string; failures: number; severe: number }[]>(
      base,
      '/api/top/vms?range=24h&limit=2',
    );
    assert.deepEqual(
      top.map((v) => [v.host, v.vm, v.failures, v.severe]),
      [
        ['host-a', 'vm1', 2, 0],
        ['host-a', 'vm2', 1, 1],
      ],
    );
    const page = await json<{ items: { vm: string }[] }>(
      base,
      '/api/hosts/host-a/vms?range=24h&limit=2&offset=1',
    );
    assert.deepEqual(
      page.items.map((v) => v.vm),
      ['vm2', 'vm3'],
    );
  });

  test('a VM page: each failure explained, its outcome, the raw message, lifecycle around it', async () => {
    const page = await json<{
      items: {
        host: string;
        action: string;
        explanation: string;
        outcome: unknown;
        raw: string;
        around: { event: string }[];
      }[];
    }>(base, '/api/hosts/host-a/vms/vm2/failures');
    assert.equal(page.items.length, 1);
    const f = page.items[0]!;
    assert.equal(f.host, 'host-a');
    assert.equal(f.action, 'reset');
    assert.match(f.explanation, /vm2/);
    assert.notEqual(f.outcome, null);
    assert.equal(JSON.parse(f.raw).event, 'MEMORY_FAILURE');
    assert.deepEqual(
      f.around.map((e) => e.event),
      ['RESET'],
    );
    const odd = encodeURIComponent('<img src=x onerror=alert(1)>');
    const xss = await json<{ items: { vm: string }[] }>(
      base,
      `/api/hosts/host-b/vms/${odd}/failures`,
    );
    assert.equal(xss.items[0]!.vm, '<img src=x onerror=alert(1)>');
    assert.equal((await fetch(new URL('/api/hosts/host-a/vms/vm9/failures', base))).status, 404);
  });

  test('the live stream announces a failure the collector stores, within a second', async () => {
    const { marks, close } = await liveMarks(base);
    await waitFor(() => marks.length === 1);
    const start = performance.now();
    await storeRecords(sql, [failureRecord('host-c', failureAt('vm1', nowMicros()))]);
    await waitFor(() => marks.length === 2);
    assert.ok(marks[1]!.failure > marks[0]!.failure);
    assert.ok(marks[1]!.at - start < 1000, `${marks[1]!.at - start} ms`);
    close();
  });
});

test('serve --pg on a database without the fleet schema: a clear error, exit 1', async () => {
  await sql`CREATE DATABASE blank`;
  const r = await run(
    'serve',
    '--pg',
    pg.url.replace(/\/memfail$/, '/blank'),
    '--listen',
    '127.0.0.1:0',
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no fleet data in this database/);
});

test("the overview's range queries use indexes (EXPLAIN of the statements sent)", async () => {
  // 50,000 older failures over 500 hosts, so that a scan would cost more than an index.
  await insertOlderFailures(sql);
  await sql`INSERT INTO vm_summary SELECT host, vm, count(*), 0, count(*), 0, count(*), 0, 0, 0,
      0, 0, min(seen_us), max(seen_us) FROM memory_failure WHERE host ~ '^h[0-9]+$' GROUP BY host, vm`;
  await sql`INSERT INTO host_summary SELECT host, sum(failures), max(last_us) FROM vm_summary
      WHERE host ~ '^h[0-9]+$' GROUP BY host`;
  await sql`ANALYZE`;
  const sent: { query: string; params: unknown[] }[] = [];
  const traced = postgres(pg.url, {
    max: 1,
    onnotice: () => {},
    debug: (_conn, query, params) => sent.push({ query, params: params as unknown[] }),
  });
  const source = new PgSource(traced);
  const health = fleetPolicyHealth(traced, DEFAULT_POLICY);
  const dashboard = await startDashboard({ source, health, host: '127.0.0.1', port: 0 });
  try {
    // The last 1,000 seconds of those rows: 2% of the table.
    const from = new Date((1764000000 + 49_000) * 1000).toISOString();
    const to = new Date((1764000000 + 50_000) * 1000).toISOString();
    const range = `from=${from}&to=${to}`;
    for (const path of [
      '/api/hosts',
      `/api/series?${range}`,
      `/api/top/hosts?${range}`,
      `/api/top/vms?${range}`,
      `/api/events?${range}`,
      `/api/series?${range}&host=h42`,
      `/api/hosts/h42/vms?${range}`,
      `/api/events?${range}&host=h42`,
    ]) {
      await json(dashboard.url, path);
    }
  } finally {
    await dashboard.close();
    await source.close();
  }
  const ranged = sent.filter(
    (s) => /FROM memory_failure/.test(s.query) && /seen_us >=/.test(s.query),
  );
  assert.ok(ranged.length >= 9, `${ranged.length} range queries seen`);
  for (const s of ranged) {
    const rows = await sql.unsafe(`EXPLAIN ${s.query}`, s.params as never[]);
    const plan = rows.map((r) => r['QUERY PLAN'] as string).join('\n');
    assert.match(plan, /memory_failure_seen|memory_failure_host_seen|memory_failure_pkey/, plan);
    assert.doesNotMatch(plan, /Seq Scan on memory_failure/, `${s.query}\n${plan}`);
  }
});

test('the host list judges hosts by name and reads the facts of the hosts it shows alone', async () => {
  // Over 500 hosts (the EXPLAIN test's and the fixtures'), the list shows 100.
  const source = new PgSource(sql);
  const health = fleetPolicyHealth(sql, DEFAULT_POLICY);
  // The same verdicts without byHost: every host's facts read, then judged.
  const byFacts = Object.assign((facts: Parameters<typeof health>[0]) => health(facts), {});
  const fast = await startDashboard({ source, health, host: '127.0.0.1', port: 0 });
  const slow = await startDashboard({ source, health: byFacts, host: '127.0.0.1', port: 0 });
  try {
    type Hosts = { byState: Record<string, number>; hosts: { host: string; facts: unknown }[] };
    const [a, b] = await Promise.all([
      json<Hosts>(fast.url, '/api/hosts'),
      json<Hosts>(slow.url, '/api/hosts'),
    ]);
    assert.equal(a.hosts.length, 100);
    assert.ok(Object.values(a.byState).reduce((x, y) => x + y) > 500);
    assert.deepEqual(a, b);
    const one = await json<{ facts: unknown }>(fast.url, `/api/hosts/${a.hosts[0]!.host}`);
    assert.deepEqual(a.hosts[0]!.facts, one.facts);
  } finally {
    await fast.close();
    await slow.close();
  }
});

function waitFor(check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const look = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(look, 10);
    };
    look();
  });
}
