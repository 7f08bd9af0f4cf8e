/**
 * The drain limit across agents that share no journal, kept in the fleet
 * database (PgDrainGate, table `draining`): admissions under one lock, a
 * resumed host admitted again, leases that expire when not renewed, and
 * failing hosts acting with journals of their own never draining more than
 * the limit at once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Journal } from '../../src/evacuate/journal.js';
import { PgDrainGate } from '../../src/fleet/drain-pg.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { memfail, until } from '../agent/child.js';
import { maxOverlap, stormActors, stormFleet } from '../evacuate/storm-fleet.js';
import { type PostgresServer, startPostgres } from './services.js';

let pg: PostgresServer;
let sql: Sql;

before(async () => {
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
});

after(async () => {
  await sql?.end();
  await pg?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one place: the second host is refused until the first leaves; the first is admitted again', async () => {
  const a = PgDrainGate.open(pg.url);
  const b = PgDrainGate.open(pg.url);
  try {
    assert.equal(await a.enter('host-a', 1, 'failing: x'), null);
    assert.deepEqual(await b.enter('host-b', 1, 'failing: y'), { draining: ['host-a'] });
    // A resumed evacuation of host-a keeps its place.
    assert.equal(await a.enter('host-a', 1, 'failing: x'), null);
    const [row] = await sql`SELECT reason, owner FROM draining WHERE host = 'host-a'`;
    assert.equal(row!.reason, 'failing: x');
    assert.match(row!.owner as string, /:\d+$/);
    await a.leave('host-a');
    assert.equal(await b.enter('host-b', 1, 'failing: y'), null);
    await b.leave('host-b');
    assert.equal((await sql`SELECT count(*)::int AS n FROM draining`)[0]!.n, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test('twelve agents asking at once for two places: exactly two admitted', async () => {
  const gates = Array.from({ length: 12 }, () => PgDrainGate.open(pg.url));
  try {
    const answers = await Promise.all(gates.map((g, i) => g.enter(`race-${i}`, 2, 'failing')));
    const admitted = answers.filter((x) => x === null).length;
    assert.equal(admitted, 2);
    for (const x of answers) if (x !== null) assert.equal(x.draining.length, 2);
    await Promise.all(gates.map((g, i) => g.leave(`race-${i}`)));
  } finally {
    await Promise.all(gates.map((g) => g.close()));
  }
});

test('a place not renewed expires; a renewed one holds', async () => {
  const dead = PgDrainGate.open(pg.url, 600);
  const live = PgDrainGate.open(pg.url, 600);
  const other = PgDrainGate.open(pg.url, 600);
  try {
    assert.equal(await dead.enter('dead-host', 1, 'failing'), null);
    await sleep(800); // its agent stopped renewing
    assert.equal(await live.enter('live-host', 1, 'failing'), null);
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      await live.renew('live-host');
    }
    assert.deepEqual(await other.enter('other-host', 1, 'failing'), { draining: ['live-host'] });
    await live.leave('live-host');
  } finally {
    await Promise.all([dead, live, other].map((g) => g.close()));
  }
});

const FAILING = ['f1', 'f2', 'f3', 'f4', 'f5'];
const HEALTHY = ['h1', 'h2'];

test('failing hosts with journals of their own: never more than the limit drain at once, all drained', async () => {
  const f = stormFleet(FAILING, HEALTHY);
  const logs: string[] = [];
  const actors = stormActors(f, FAILING, logs, {
    journalOf: (host) => f.stores[host]!.path, // no journal shared
    gate: () => PgDrainGate.open(pg.url),
    migrateSeconds: 0.3,
  });
  try {
    for (const a of actors) a.start();
    let sampledMax = 0;
    const sampler = setInterval(() => {
      sql`SELECT count(*)::int AS n FROM draining`.then(
        ([r]) => {
          sampledMax = Math.max(sampledMax, r!.n as number);
        },
        () => {},
      );
    }, 10);
    try {
      await until(
        () => actors.every((a) => a.results.some((x) => x.outcome === 'done')),
        'every failing host drained',
        60_000,
      );
    } finally {
      clearInterval(sampler);
    }
    for (const a of actors) await a.stop();
    const evacuations = FAILING.flatMap((host) => {
      const j = Journal.open(f.stores[host]!.path);
      try {
        return j.evacuations();
      } finally {
        j.close();
      }
    });
    assert.equal(evacuations.length, FAILING.length);
    assert.ok(sampledMax <= 2, `${sampledMax} hosts drained at once`);
    assert.ok(maxOverlap(evacuations) <= 2, `${maxOverlap(evacuations)} at once`);
    assert.ok(
      logs.some((l) => /not evacuating: 2 hosts already draining in the fleet database/.test(l)),
      'the limit never held anyone back',
    );
    assert.equal((await sql`SELECT count(*)::int AS n FROM draining`)[0]!.n, 0);
  } finally {
    for (const a of actors) await a.stop();
    f.close();
  }
});

test('memfail evacuate --drain-pg: needs --drain-limit; an unreachable database holds the host back with why', async () => {
  const f = stormFleet(FAILING, HEALTHY);
  try {
    const alone = memfail(['evacuate', 'f1', '--inventory', f.inventory, '--drain-pg', pg.url]);
    assert.equal(await alone.exited, 2);
    assert.match(alone.stderr(), /--drain-pg goes with --drain-limit N/);
    const down = memfail([
      'evacuate', 'f1',
      '--inventory', f.inventory,
      '--db', join(f.dir, 'journal.db'),
      '--driver', 'exec', '--exec', 'true',
      '--drain-limit', '1',
      '--drain-pg', 'postgres://memfail@127.0.0.1:1/memfail',
    ]); // biome-ignore format: flag and value on one line
    assert.equal(await down.exited, 1);
    assert.match(
      down.stdout(),
      /f1: not evacuating: the drain limit in the fleet database postgres:\/\/memfail@127\.0\.0\.1:1\/memfail cannot be read/,
    );
  } finally {
    f.close();
  }
});
