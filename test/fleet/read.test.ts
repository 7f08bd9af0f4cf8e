/**
 * `memfail events|report|hosts --pg` against a real PostgreSQL filled through
 * the real pipeline: the same answers as --db, and query plans that use indexes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { Collector } from '../../src/fleet/collector.js';
import { DEFAULT_STREAM, parseNatsUrl } from '../../src/fleet/nats.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { eventsQuery } from '../../src/fleet/pg-read.js';
import { Publisher } from '../../src/fleet/publisher.js';
import { failure, invalidFailure, lifecycle, tempDir } from '../agent/fixtures.js';
import { type NatsServer, type PostgresServer, startNats, startPostgres } from './services.js';
import { runCli } from '../support/cli.js';
import { insertOlderFailures } from './records.js';

let nats: NatsServer;
let pg: PostgresServer;
let sql: Sql;
const tmp = tempDir('memfail-fleet-read-');
const dbs: Record<string, string> = {};

const run = (...args: string[]) => runCli(args);

before(async () => {
  nats = await startNats();
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
  const target = parseNatsUrl(nats.url);
  const collector = new Collector(target, sql, { stream: DEFAULT_STREAM });
  await collector.start();
  const publishers: Publisher[] = [];
  for (const host of ['alpha', 'beta']) {
    const path = join(tmp.dir, `${host}.db`);
    dbs[host] = path;
    const store = Store.open(path);
    const shift = host === 'alpha' ? 0 : 7;
    store.insert([
      failure('vm1', 1000 + shift, { recipient: 'guest', action: 'inject', actionRequired: true }),
      lifecycle('vm1', 'RESET', 1500 + shift),
      failure('vm1', 90_000_000 + shift, { recipient: 'guest', action: 'reset', recursive: true }),
      lifecycle('vm1', 'RESET', 90_000_100 + shift),
      failure('vm2', 2000 + shift, { recipient: 'hypervisor', action: 'ignore' }),
      invalidFailure('vm2', 3000 + shift, { event: 'MEMORY_FAILURE', data: { recipient: 'moon' } }),
    ]);
    store.close();
    const p = new Publisher(path, target, { host, stream: DEFAULT_STREAM });
    p.start();
    publishers.push(p);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [r] = await sql`SELECT count(*) AS n FROM memory_failure`;
    if (Number(r!.n) === 8) break;
    if (Date.now() > deadline) throw new Error('records did not arrive');
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const p of publishers) await p.flush(10_000);
  for (const p of publishers) await p.stop();
  await new Promise((r) => setTimeout(r, 1500));
  await collector.stop();
});

after(async () => {
  await sql?.end();
  await nats?.dispose();
  await pg?.dispose();
  tmp.cleanup();
});

test('events --pg --host lists what events --db lists, VMs named host/vm', async () => {
  const local = await run('events', '--db', dbs.alpha!);
  const fleet = await run('events', '--pg', pg.url, '--host', 'alpha');
  assert.equal(fleet.code, 0, fleet.stderr);
  assert.equal(fleet.stdout, local.stdout.replaceAll('  vm', '  alpha/vm'));
  const all = await run('events', '--pg', pg.url, '--count');
  assert.equal(all.stdout, '6\n');
  const unreadable = await run('events', '--pg', pg.url, '--all', '--count');
  assert.equal(unreadable.stdout, '8\n');
});

test('events --pg --json: the local records plus host', async () => {
  const local = JSON.parse((await run('events', '--db', dbs.beta!, '--json')).stdout);
  const fleet = JSON.parse(
    (await run('events', '--pg', pg.url, '--host', 'beta', '--json')).stdout,
  );
  assert.equal(fleet.length, 3);
  const strip = (r: Record<string, unknown>) => ({ ...r, id: 0, host: undefined });
  assert.deepEqual(fleet.map(strip), local.map(strip));
  assert.ok(fleet.every((r: { host: string }) => r.host === 'beta'));
});

test('MEMFAIL_PG_URL stands for --pg when no --db is given', async () => {
  process.env.MEMFAIL_PG_URL = pg.url;
  try {
    assert.equal((await run('events', '--count', '--host', 'beta')).stdout, '3\n');
  } finally {
    delete process.env.MEMFAIL_PG_URL;
  }
});

test('report --pg: the local report of each host, VMs named host/vm, in text and JSON', async () => {
  const local = await run('report', '--db', dbs.alpha!, '--json');
  const fleet = await run('report', '--pg', pg.url, '--host', 'alpha', '--json');
  assert.equal(fleet.code, 0, fleet.stderr);
  const ids = (text: string) => text.replace(/"id": \d+/g, '"id": 0');
  // The same report, with every VM name (in "vm" and in the explanations) qualified by its
  // host, less the local record's own state (its gaps and quarantine stay on the host: the
  // fleet's report has neither member, as a report source without them has none).
  const mine = JSON.parse(ids(local.stdout.replace(/(?<![\w/])vm(\d)/g, 'alpha/vm$1')));
  assert.deepEqual(mine.gaps, []);
  assert.equal(mine.quarantined, 0);
  delete mine.gaps;
  delete mine.quarantined;
  assert.deepEqual(JSON.parse(ids(fleet.stdout)), mine);
  const text = await run('report', '--pg', pg.url);
  assert.match(text.stdout, /alpha\/vm1/);
  assert.match(text.stdout, /beta\/vm2/);
  const both = JSON.parse((await run('report', '--pg', pg.url, '--json')).stdout);
  assert.equal(both.overall.failures, 6);
  assert.equal(both.overall.vms, 4);
  assert.equal(both.overall.invalid, 2);
});

test('hosts --pg lists each host with counts and last failure; --db shows the local one', async () => {
  const fleet = await run('hosts', '--pg', pg.url, '--json');
  assert.equal(fleet.code, 0, fleet.stderr);
  const hosts = JSON.parse(fleet.stdout);
  assert.deepEqual(
    hosts.map((h: { host: string; vms: number; failures: number; invalid: number }) => [
      h.host,
      h.vms,
      h.failures,
      h.invalid,
    ]),
    [
      ['alpha', 2, 3, 1],
      ['beta', 2, 3, 1],
    ],
  );
  const local = JSON.parse(
    (await run('hosts', '--db', dbs.beta!, '--host', 'beta', '--json')).stdout,
  );
  // The same verdict from either database, judged a few milliseconds apart.
  const unstamped = (h: { health: { evaluatedAt: string } }) => ({
    ...h,
    health: { ...h.health, evaluatedAt: '' },
  });
  assert.deepEqual(local.map(unstamped), hosts.slice(1).map(unstamped));
  const text = (await run('hosts', '--pg', pg.url)).stdout.split('\n');
  assert.match(text[0]!, /^HOST\s+VMS\s+FAILURES\s+INVALID\s+LAST FAILURE\s+HEALTH$/);
  assert.match(text[1]!, /^alpha\s+2\s+3\s+1\s+\d{4}-\d\d-\d\dT\S+\s+healthy$/);
});

test('a database without the fleet schema: a clear error, exit 1', async () => {
  await sql`CREATE DATABASE empty`;
  const r = await run('hosts', '--pg', pg.url.replace(/\/memfail$/, '/empty'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no fleet data in this database \(has `memfail collect` run\?\)/);
});

test('the per-host and time-range queries use indexes, not a scan of the table', async () => {
  // Enough rows over enough hosts that a scan would cost more than an index.
  await insertOlderFailures(sql);
  await sql`ANALYZE memory_failure`;
  const plan = async (filter: Parameters<typeof eventsQuery>[0]) => {
    const q = eventsQuery(filter);
    const rows = await sql.unsafe(`EXPLAIN ${q.text}`, q.params);
    return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  };
  const perHost = await plan({ host: 'h42' });
  assert.match(perHost, /Index Scan|Bitmap Index Scan/);
  assert.match(perHost, /memory_failure_host_seen|memory_failure_key/);
  assert.doesNotMatch(perHost, /Seq Scan/);
  const recent = await plan({ since: new Date((1764000000 + 49_000) * 1000) });
  assert.match(recent, /memory_failure_seen/);
  assert.doesNotMatch(recent, /Seq Scan/);
  const hostRecent = await plan({ host: 'h42', since: new Date((1764000000 + 40_000) * 1000) });
  assert.match(hostRecent, /memory_failure_host_seen/);
  assert.doesNotMatch(hostRecent, /Seq Scan/);
});
