/**
 * Agent store → publisher → JetStream → collector → PostgreSQL, against a
 * real nats-server and a real PostgreSQL 15.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Store } from '../../src/agent/store.js';
import { Collector } from '../../src/fleet/collector.js';
import { CollectorMetrics } from '../../src/fleet/collector-metrics.js';
import {
  encode,
  type FailureRecord,
  FORMAT_VERSION,
  MAX_MESSAGE_BYTES,
  messageId,
} from '../../src/fleet/message.js';
import {
  DEFAULT_STREAM,
  ensureStream,
  parseNatsUrl,
  type StreamSettings,
} from '../../src/fleet/nats.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { migratePg, PG_MIGRATIONS, PG_SCHEMA_VERSION } from '../../src/fleet/pg-schema.js';
import { Publisher } from '../../src/fleet/publisher.js';
import { failure, invalidFailure, lifecycle, tempDir } from '../agent/fixtures.js';
import { type NatsServer, type PostgresServer, startNats, startPostgres } from './services.js';

let nats: NatsServer;
let pg: PostgresServer;
let sql: Sql;
const tmp = tempDir('memfail-fleet-');
let streamNo = 0;

before(async () => {
  nats = await startNats();
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
});

after(async () => {
  await sql?.end();
  await nats?.dispose();
  await pg?.dispose();
  tmp.cleanup();
});

/** Each test its own stream (the previous one deleted) and host names; one PostgreSQL database. */
async function freshStream(): Promise<StreamSettings> {
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  for await (const s of jsm.streams.list()) await jsm.streams.delete(s.config.name);
  await nc.close();
  streamNo++;
  return { ...DEFAULT_STREAM, name: `T${streamNo}` };
}

async function until(check: () => Promise<boolean>, what: string, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function count(table: string, host: string): Promise<number> {
  const [r] = await sql.unsafe(`SELECT count(*) AS n FROM ${table} WHERE host = $1`, [host]);
  return Number(r!.n);
}

test('every record reaches PostgreSQL once, with the store key; a replay adds nothing', async () => {
  const stream = await freshStream();
  const path = join(tmp.dir, 'a.db');
  const store = Store.open(path);
  const obs = [];
  for (let i = 0; i < 500; i++) {
    obs.push(failure(`vm${i % 3}`, i * 10, { actionRequired: i % 2 === 0, action: 'inject' }));
  }
  obs.push(invalidFailure('vm0', 99_999, { event: 'MEMORY_FAILURE', data: { recipient: 'moon' } }));
  obs.push(lifecycle('vm1', 'RESET', 5000));
  store.insert(obs);
  store.insert([
    {
      kind: 'lifecycle',
      vm: 'vm1',
      event: 'CONNECTED',
      timestamp: null,
      receivedUs: 1,
      data: null,
    },
    {
      kind: 'lifecycle',
      vm: 'vm1',
      event: 'CONNECTED',
      timestamp: null,
      receivedUs: 2,
      data: null,
    },
  ]);
  const target = parseNatsUrl(nats.url);
  const metrics = new CollectorMetrics();
  const collector = new Collector(target, sql, { stream, durable: 'c1', batch: 100, metrics });
  await collector.start();
  const publisher = new Publisher(path, target, { host: 'host-a.example', stream, chunk: 64 });
  publisher.start();
  await until(async () => (await count('memory_failure', 'host-a.example')) === 501, 'failures');
  await until(async () => (await count('lifecycle', 'host-a.example')) === 3, 'lifecycle');
  await until(async () => publisher.backlog() === 0, 'backlog to drain');

  // The same rows, key by key.
  const local = store.failures({ includeUnreadable: true }).length;
  assert.equal(local, 501);
  const [summary] = await sql`SELECT sum(failures) AS f, sum(invalid) AS i, sum(guest) AS g
    FROM vm_summary WHERE host = 'host-a.example'`;
  assert.deepEqual(
    { f: Number(summary!.f), i: Number(summary!.i), g: Number(summary!.g) },
    { f: 500, i: 1, g: 500 },
  );
  const [host] =
    await sql`SELECT failures, last_us FROM host_summary WHERE host = 'host-a.example'`;
  const [last] =
    await sql`SELECT max(seen_us) AS t FROM memory_failure WHERE host = 'host-a.example'`;
  assert.deepEqual([Number(host!.failures), Number(host!.last_us)], [500, Number(last!.t)]);
  const [one] = await sql`SELECT vm, recipient, action, action_required, valid, raw
    FROM memory_failure WHERE host = 'host-a.example' AND vm = 'vm0' AND valid
    ORDER BY seen_us LIMIT 1`;
  assert.equal(one!.recipient, 'guest');
  assert.equal(one!.action_required, true);
  assert.equal(JSON.parse(one!.raw as string).event, 'MEMORY_FAILURE');

  // Publish everything again from the start (a lost cursor): nothing new in PostgreSQL.
  await publisher.stop();
  const db = (await import('better-sqlite3')).default(path);
  db.prepare('DELETE FROM fleet_published').run();
  db.close();
  const again = new Publisher(path, target, { host: 'host-a.example', stream });
  again.start();
  await until(async () => again.backlog() === 0, 'replay to be acked');
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(await count('memory_failure', 'host-a.example'), 501);
  assert.equal(await count('lifecycle', 'host-a.example'), 3);
  await again.stop();
  await collector.stop();
  store.close();
  const text = await metrics.registry.metrics();
  assert.match(text, /memfail_collector_records_total\{result="new"\} 504/);
});

test('bad messages are stored aside with a metric and never block the ones behind them', async () => {
  const stream = await freshStream();
  const target = parseNatsUrl(nats.url);
  const metrics = new CollectorMetrics();
  const lines: string[] = [];
  const collector = new Collector(target, sql, {
    stream,
    durable: 'bad',
    metrics,
    log: (l) => lines.push(l),
  });
  await collector.start();
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const good: FailureRecord = {
    memfail: FORMAT_VERSION,
    kind: 'failure',
    host: 'host-bad',
    vm: 'vm1',
    content: 3,
    tsSeconds: 1_764_000_000,
    tsMicros: 1,
    receivedUs: 1_764_000_000_000_002,
    dialect: 'qemu',
    raw: '{}',
    error: null,
    dedup: '3',
  };
  await js.publish('memfail.host-bad.failure', Buffer.from('{"hello": "world"}'));
  await js.publish('memfail.host-bad.failure', Buffer.from('{not json'));
  await js.publish(
    'memfail.host-bad.failure',
    Buffer.from(JSON.stringify({ ...good, memfail: 2 })),
  );
  await js.publish('memfail.host-bad.failure', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));
  await js.publish('memfail.host-bad.failure', encode(good), { msgID: messageId(good) });
  await until(async () => (await count('memory_failure', 'host-bad')) === 1, 'the good record');
  const rejected = await sql`SELECT reason, version, payload IS NULL AS dropped FROM rejected
    WHERE stream = ${stream.name} ORDER BY stream_seq`;
  assert.deepEqual(
    rejected.map((r) => [r.reason, r.version, r.dropped]),
    [
      ['not-ours', null, false],
      ['malformed', null, false],
      ['newer-version', 2, false],
      ['oversized', null, true],
    ],
  );
  assert.equal(lines.filter((l) => l.startsWith('rejected message')).length, 4);
  const text = await metrics.registry.metrics();
  for (const reason of ['not-ours', 'malformed', 'newer-version', 'oversized']) {
    assert.match(text, new RegExp(`memfail_collector_rejected_total\\{reason="${reason}"\\} 1`));
  }
  await collector.stop();
  await nc.close();
});

test('two collectors share the work with no duplicate row', async () => {
  const stream = await freshStream();
  const path = join(tmp.dir, 'two.db');
  const store = Store.open(path);
  const obs = [];
  for (let i = 0; i < 5000; i++) obs.push(failure(`vm${i % 7}`, i));
  store.insert(obs);
  const target = parseNatsUrl(nats.url);
  const a = new Collector(target, sql, { stream, durable: 'shared', batch: 50 });
  const b = new Collector(target, sql, { stream, durable: 'shared', batch: 50 });
  await a.start();
  await b.start();
  const publisher = new Publisher(path, target, { host: 'host-two', stream });
  publisher.start();
  await until(async () => (await count('memory_failure', 'host-two')) === 5000, 'all rows');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await count('memory_failure', 'host-two'), 5000);
  assert.ok(a.totals.inserted > 0 && b.totals.inserted > 0, 'both collectors took a share');
  assert.equal(a.totals.inserted + b.totals.inserted, 5000);
  await publisher.stop();
  await Promise.all([a.stop(), b.stop()]);
  store.close();
});

test('NATS down: the backlog stays on disk, is reported, and drains when NATS is back', async () => {
  const stream = await freshStream();
  const path = join(tmp.dir, 'down.db');
  const store = Store.open(path);
  const target = parseNatsUrl(nats.url);
  const collector = new Collector(target, sql, { stream, durable: 'down' });
  await collector.start();
  const lines: string[] = [];
  const backlog: number[] = [];
  const publisher = new Publisher(path, target, {
    host: 'host-down',
    stream,
    log: (l) => lines.push(l),
    onBacklog: (n) => backlog.push(n),
  });
  publisher.start();
  store.insert([failure('vm1', 1)]);
  publisher.wake();
  await until(async () => (await count('memory_failure', 'host-down')) === 1, 'first row');
  await nats.stop();
  const obs = [];
  for (let i = 0; i < 300; i++) obs.push(failure('vm1', 100 + i));
  store.insert(obs);
  publisher.wake();
  await until(
    async () => lines.some((l) => /300 events kept on disk/.test(l)),
    'the log line',
    20_000,
  );
  assert.equal(publisher.backlog(), 300);
  await nats.start();
  await until(
    async () => (await count('memory_failure', 'host-down')) === 301,
    'the backlog',
    60_000,
  );
  await until(async () => publisher.backlog() === 0, 'backlog 0');
  assert.equal(backlog.at(-1), 0);
  assert.ok(
    lines.some((l) => /is back; draining/.test(l)),
    lines.join('\n'),
  );
  await publisher.stop();
  await collector.stop();
  store.close();
});

test('NATS down when the agent starts: it says so, keeps the events, publishes once NATS is up', async () => {
  const stream = await freshStream();
  const path = join(tmp.dir, 'late.db');
  const store = Store.open(path);
  store.insert([failure('vm1', 1), failure('vm1', 2)]);
  const target = parseNatsUrl(nats.url);
  await nats.stop();
  const lines: string[] = [];
  const publisher = new Publisher(path, target, {
    host: 'host-late',
    stream,
    log: (l) => lines.push(l),
  });
  publisher.start();
  await until(
    async () => lines.some((l) => /unreachable .*2 events kept on disk meanwhile/.test(l)),
    'the log line',
  );
  await nats.start();
  const collector = new Collector(target, sql, { stream, durable: 'late' });
  await collector.start();
  await until(async () => (await count('memory_failure', 'host-late')) === 2, 'both rows');
  await publisher.stop();
  await collector.stop();
  store.close();
});

test('stop() commits and acks the batch in hand: the next collector stores the rest, no duplicate', async () => {
  const stream = await freshStream();
  const path = join(tmp.dir, 'stop.db');
  const store = Store.open(path);
  const obs = [];
  for (let i = 0; i < 6000; i++) obs.push(failure(`vm${i % 5}`, i));
  store.insert(obs);
  const target = parseNatsUrl(nats.url);
  const publisher = new Publisher(path, target, { host: 'host-stop', stream });
  publisher.start();
  assert.ok(await publisher.flush(30_000));
  await publisher.stop();
  const first = new Collector(target, sql, { stream, durable: 'stop', batch: 100 });
  await first.start();
  await until(async () => first.totals.batches >= 1, 'a first batch');
  await first.stop();
  const stored = await count('memory_failure', 'host-stop');
  assert.equal(stored, first.totals.inserted);
  assert.ok(stored > 0 && stored < 6000, `stopped part-way (${stored})`);
  const second = new Collector(target, sql, { stream, durable: 'stop', batch: 500 });
  await second.start();
  await until(async () => (await count('memory_failure', 'host-stop')) === 6000, 'the rest');
  await second.stop();
  // Everything the first committed was acked: nothing came to the second twice.
  assert.equal(second.totals.duplicates, 0);
  assert.equal(second.totals.inserted, 6000 - stored);
  store.close();
});

test('the stream is created with the retention, storage and replicas asked for; an existing one is kept', async () => {
  await freshStream();
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const asked = {
    ...DEFAULT_STREAM,
    name: 'TUNED',
    retention: 'workqueue',
    storage: 'memory',
  } as const;
  const info = await ensureStream(jsm, asked);
  assert.equal(info.config.retention, 'workqueue');
  assert.equal(info.config.storage, 'memory');
  assert.equal(info.config.num_replicas, 1);
  assert.equal(info.config.duplicate_window, 10 * 60 * 1e9);
  const again = await ensureStream(jsm, { ...asked, retention: 'limits', storage: 'file' });
  assert.equal(again.config.retention, 'workqueue');
  assert.equal(again.config.storage, 'memory');
  await jsm.streams.delete('TUNED');
  await nc.close();
});

test('migrations run once under concurrency; a newer schema is refused', async () => {
  const [a, b] = await Promise.all([migratePg(sql), migratePg(sql)]);
  assert.equal(a, b);
  const rows = await sql`SELECT version FROM memfail_migrations ORDER BY version`;
  assert.deepEqual(
    rows.map((r) => r.version),
    PG_MIGRATIONS.map((m) => m.version),
  );
  await sql`INSERT INTO memfail_migrations (version, description) VALUES (999, 'future')`;
  await assert.rejects(migratePg(sql), /schema version 999, newer than this memfail understands/);
  await sql`DELETE FROM memfail_migrations WHERE version = 999`;
});

test("migration 2 adds up a version-1 database's vm_summary per host", async () => {
  await sql`CREATE DATABASE fleet_v1`;
  const v1 = openPg(pg.url.replace(/\/[^/?]*(\?|$)/, '/fleet_v1$1'));
  try {
    await v1.unsafe(`CREATE TABLE memfail_migrations (version integer PRIMARY KEY,
      description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await v1.unsafe(PG_MIGRATIONS[0]!.sql);
    await v1`INSERT INTO memfail_migrations (version, description) VALUES (1, 'v1')`;
    await v1`INSERT INTO vm_summary VALUES
      ('h1', 'a', 3, 0, 3, 0, 3, 0, 0, 0, 0, 1, 10, 50),
      ('h1', 'b', 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 20, 70),
      ('h2', 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 5, 6)`;
    assert.equal(await migratePg(v1), PG_SCHEMA_VERSION);
    const rows = await v1`SELECT host, failures, last_us FROM host_summary ORDER BY host`;
    assert.deepEqual(
      rows.map((r) => [r.host, Number(r.failures), Number(r.last_us)]),
      [
        ['h1', 5, 70],
        ['h2', 0, 6],
      ],
    );
  } finally {
    await v1.end();
    await sql`DROP DATABASE fleet_v1`;
  }
});
