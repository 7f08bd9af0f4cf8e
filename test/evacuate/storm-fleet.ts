/**
 * A fleet for drain-limit tests, in a temp dir: failing hosts with 2 VMs
 * each (three action-required failures on them in the last minute),
 * healthy hosts, and optionally a degraded one; an inventory naming each
 * host's store. Used by storm.test.ts (one journal) and
 * test/fleet/drain.test.ts (a journal per host, the limit in PostgreSQL).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/agent/store.js';
import { HealthActor } from '../../src/evacuate/act.js';
import type { DrainGate } from '../../src/evacuate/drain.js';
import { ExecDriver } from '../../src/evacuate/exec-driver.js';
import type { Evacuation } from '../../src/evacuate/journal.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { BASE_SECONDS, failure } from '../agent/fixtures.js';

function ago(ms: number): number {
  return (Date.now() - ms) * 1000 - BASE_SECONDS * 1_000_000;
}

export interface StormFleet {
  readonly dir: string;
  readonly inventory: string;
  /** A journal file none of the stores is. */
  readonly journal: string;
  readonly stores: Readonly<Record<string, Store>>;
  close(): void;
}

export function stormFleet(
  failing: readonly string[],
  healthy: readonly string[],
  degraded?: string,
): StormFleet {
  const dir = mkdtempSync(join(tmpdir(), 'mf-storm-'));
  const hosts: Record<string, { db: string; vms: Record<string, { uuid: string }> }> = {};
  const stores: Record<string, Store> = {};
  for (const h of [...failing, ...healthy, ...(degraded === undefined ? [] : [degraded])]) {
    const db = join(dir, `${h}.db`);
    const store = Store.open(db);
    const vms: Record<string, { uuid: string }> = {};
    if (failing.includes(h)) {
      vms[`${h}-vm1`] = { uuid: `u-${h}-1` };
      vms[`${h}-vm2`] = { uuid: `u-${h}-2` };
      store.insert([
        failure(`${h}-vm1`, ago(60_000), { actionRequired: true }),
        failure(`${h}-vm2`, ago(50_000), { actionRequired: true }),
        failure(`${h}-vm1`, ago(40_000), { actionRequired: true }),
      ]);
    }
    if (h === degraded) {
      store.insert([
        failure(`${h}-x`, ago(60_000), { actionRequired: true }),
        failure(`${h}-x`, ago(50_000), { actionRequired: true }),
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
export function maxOverlap(evacuations: readonly Evacuation[]): number {
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

/**
 * An acting health actor per failing host, drain limit 2, each migration a
 * `sleep` of `migrateSeconds` (the exec driver); each logs into `logs`.
 */
export function stormActors(
  f: StormFleet,
  failing: readonly string[],
  logs: string[],
  options: { journalOf: (host: string) => string; gate?: () => DrainGate; migrateSeconds: number },
): HealthActor[] {
  return failing.map(
    (host) =>
      new HealthActor({
        host,
        policy: DEFAULT_POLICY,
        store: f.stores[host]!,
        act: true,
        evacuation: {
          inventoryPath: f.inventory,
          journalPath: options.journalOf(host),
          driver: new ExecDriver({ argv: ['sh', '-c', `sleep ${options.migrateSeconds}`] }),
          drainLimit: 2,
          ...(options.gate === undefined ? {} : { drainGate: options.gate() }),
          parallel: 2,
        },
        retryMs: 50,
        log: (l) => logs.push(`${host}: ${l}`),
      }),
  );
}
