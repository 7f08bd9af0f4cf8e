/**
 * Safety under a storm: many hosts fail at once, every one of them with
 * `--act`; never more than the drain limit evacuate at the same time (in one
 * process, and across processes sharing the journal), every failing host is
 * drained in the end, and no VM is sent to a host that is not healthy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Journal } from '../../src/evacuate/journal.js';
import { memfail, until } from '../agent/child.js';
import { maxOverlap, stormActors, stormFleet } from './storm-fleet.js';

const FAILING = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
const HEALTHY = ['h1', 'h2'];
const DEGRADED = 'd1';

describe('a storm of failing hosts', () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
  });

  test('acting hosts in one process: at most 2 drain at once, all drained, only to healthy hosts', async () => {
    const f = stormFleet(FAILING, HEALTHY, DEGRADED);
    cleanups.push(f.close);
    const logs: string[] = [];
    const actors = stormActors(f, FAILING, logs, {
      journalOf: () => f.journal,
      migrateSeconds: 0.2,
    });
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
    const f = stormFleet(FAILING, HEALTHY, DEGRADED);
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
