/**
 * Safety under a storm: many hosts fail at once, every one of them with
 * `--act`; never more than the drain limit evacuate at the same time (in one
 * process, and across processes sharing the journal), every failing host is
 * drained in the end, and no VM is sent to a host that is not healthy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { HealthActor } from '../../src/evacuate/act.js';
import { ExecDriver } from '../../src/evacuate/exec-driver.js';
import { type Evacuation, Journal } from '../../src/evacuate/journal.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { BASE_SECONDS, failure } from '../agent/fixtures.js';
import { memfail, until } from '../agent/child.js';

const FAILING = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
const HEALTHY = ['h1', 'h2'];
const DEGRADED = 'd1';

function ago(ms: number): number {
  return (Date.now() - ms) * 1000 - BASE_SECONDS * 1_000_000;
}

/** A fleet in a temp dir: failing hosts with 2 VMs each, healthy and degraded ones. */
function fleet() {
  const dir = mkdtempSync(join(tmpdir(), 'mf-storm-'));
  const hosts: Record<string, { db: string; vms: Record<string, { uuid: string }> }> = {};
  const stores: Record<string, Store> = {};
  for (const h of [...FAILING, ...HEALTHY, DEGRADED]) {
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
    if (h === DEGRADED) {
      store.insert([
        failure('d1-x', ago(60_000), { actionRequired: true }),
        failure('d1-x', ago(50_000), { actionRequired: true }),
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
    journal: join(dir, 'journal.db'),
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
  // Ends before starts at the same millisecond: one ending lets the next begin.
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) {
    now += p.d;
    max = Math.max(max, now);
  }
  return max;
}

describe('a storm of failing hosts', () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
  });

  test('acting hosts in one process: at most 2 drain at once, all drained, only to healthy hosts', async () => {
    const f = fleet();
    cleanups.push(f.close);
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
            journalPath: f.journal,
            driver: new ExecDriver({ argv: ['sh', '-c', 'sleep 0.2'] }),
            drainLimit: 2,
            parallel: 2,
          },
          retryMs: 50,
          log: (l) => logs.push(`${host}: ${l}`),
        }),
    );
    for (const a of actors) assert.equal(a.current.state, 'failing');
    for (const a of actors) a.start();
    const journal = Journal.open(f.journal);
    let sampledMax = 0;
    await until(
      () => {
        sampledMax = Math.max(sampledMax, journal.draining().length);
        return actors.every((a) => a.results.some((r) => r.outcome === 'done'));
      },
      'every failing host drained',
      60_000,
    );
    for (const a of actors) await a.stop();
    const evacuations = journal.evacuations();
    assert.equal(evacuations.length, FAILING.length);
    assert.ok(sampledMax <= 2, `${sampledMax} hosts drained at once`);
    assert.equal(maxOverlap(evacuations), 2);
    assert.ok(
      actors.some((a) => a.results.some((r) => r.outcome === 'drain-limit')),
      'the limit never held anyone back',
    );
    assert.ok(logs.some((l) => /not evacuating: 2 hosts already draining/.test(l)));
    for (const e of evacuations) {
      assert.equal(e.state, 'done');
      for (const s of journal.steps(e.id)) {
        assert.ok(HEALTHY.includes(s.dest), `${s.vm} was sent to ${s.dest}`);
        assert.equal(s.state, 'completed');
      }
    }
    // The degraded host was considered and refused, with its reason.
    assert.ok(
      logs.some((l) =>
        /not d1: it is degraded \(2 action-required failures on 1 VM in 24 h/.test(l),
      ),
    );
    journal.close();
  });

  test('separate memfail processes sharing the journal never exceed the limit', async () => {
    const f = fleet();
    cleanups.push(f.close);
    const runs = FAILING.map(
      (host) =>
      memfail([
        'evacuate', host,
        '--inventory', f.inventory,
        '--db', f.journal,
        '--driver', 'exec',
        '--exec', "sh -c 'sleep 1'",
        '--drain-limit', '2',
      ]), // biome-ignore format: flag and value on one line
    );
    const codes = await Promise.all(runs.map((r) => r.exited));
    const journal = Journal.open(f.journal);
    const evacuations = journal.evacuations();
    journal.close();
    assert.ok(maxOverlap(evacuations) <= 2, `${maxOverlap(evacuations)} at once`);
    runs.forEach((r, i) => {
      const refused =
        /not evacuating: \d hosts? already draining \(.*\), the drain limit is 2/.test(r.stdout());
      // Each run either drained its host or was refused for the limit; nothing else.
      if (codes[i] === 0) assert.match(r.stdout(), /: evacuated \(2 migrated/);
      else assert.ok(refused, r.stdout() + r.stderr());
    });
    assert.equal(evacuations.length, codes.filter((c) => c === 0).length);
    // No move undid another: every drained host is empty, its VMs on h1/h2.
    const inv = JSON.parse(readFileSync(f.inventory, 'utf8')) as {
      hosts: Record<string, { vms: Record<string, unknown> }>;
    };
    const drained = FAILING.filter((_, i) => codes[i] === 0);
    for (const h of drained) assert.deepEqual(Object.keys(inv.hosts[h]!.vms), []);
    const onHealthy = HEALTHY.flatMap((h) => Object.keys(inv.hosts[h]!.vms));
    assert.deepEqual(onHealthy.sort(), drained.flatMap((h) => [`${h}-vm1`, `${h}-vm2`]).sort());
  });
});
