/**
 * The drain limit across agents that share no journal, kept in the fleet
 * database (PgDrainGate, table `draining`): admissions under one lock, a
 * resumed host admitted again, leases that expire when not renewed, and
 * failing hosts acting with journals of their own never draining more than
 * the limit at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { HealthActor } from '../../src/evacuate/act.js';
import { ExecDriver } from '../../src/evacuate/exec-driver.js';
import { type Evacuation, Journal } from '../../src/evacuate/journal.js';
import { PgDrainGate } from '../../src/fleet/drain-pg.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { BASE_SECONDS, failure } from '../agent/fixtures.js';
import { memfail, until } from '../agent/child.js';
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

function ago(ms: number): number {
  return (Date.now() - ms) * 1000 - BASE_SECONDS * 1_000_000;
}

/** Failing hosts each with a journal of its own (its store), and healthy ones. */
function fleet() {
  const dir = mkdtempSync(join(tmpdir(), 'mf-drain-pg-'));
  const hosts: Record<string, { db: string; vms: Record<string, { uuid: string }> }> = {};
  const stores: Record<string, Store> = {};
  for (const h of [...FAILING, ...HEALTHY]) {
    const db = join(dir, `${h}.db`);
    const store = Store.open(db);
    const vms: Record<string, { uuid: string }> = {};
    if (FAILING.includes(h)) {
      vms[`${h}-vm1`] = { uuid: `u-${h}-1` };
      vms[`${h}-vm2`] = { uuid: `u-${h}-2` };
      store.insert([
        failure(`${h}-vm1`, ago(60_000), { actionRequired: true }),
        failure(`${h}-vm2`, ago(50_000), { actionRequired: true }),
        failure(`${h}-vm1`, ago(40_000), { actionRequired: true }),
      ]);
    }
    stores[h] = store;
    hosts[h] = { db, vms };
  }
  const inventory = join(dir, 'hosts.json');
  writeFileSync(inventory, JSON.stringify({ hosts }, null, 2));
  return {
    dir,
    inventory,
    stores,
    close: () => {
      for (const s of Object.values(stores)) s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The most evacuations that were running at one instant. */
function maxOverlap(evacuations: readonly Evacuation[]): number {
  const points = evacuations.flatMap((e) => [
    { t: Date.parse(e.startedAt), d: 1 },
    { t: Date.parse(e.endedAt ?? new Date().toISOString()), d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) {
    now += p.d;
    max = Math.max(max, now);
  }
  return max;
}

test('failing hosts with journals of their own: never more than the limit drain at once, all drained', async () => {
  const f = fleet();
  const logs: string[] = [];
  const actors = FAILING.map(
    (host) =>
      new HealthActor({
        host,
        policy: DEFAULT_POLICY,
        store: f.stores[host]!,
        act: true,
        evacuation: {
          inventoryPath: f.inventory,
          journalPath: f.stores[host]!.path, // no journal shared
          driver: new ExecDriver({ argv: ['sh', '-c', 'sleep 0.3'] }),
          drainLimit: 2,
          drainGate: PgDrainGate.open(pg.url),
          parallel: 2,
        },
        retryMs: 50,
        log: (l) => logs.push(`${host}: ${l}`),
      }),
  );
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
  const f = fleet();
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
