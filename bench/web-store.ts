/**
 * A large store for the dashboard's scale test and benchmark: `failures`
 * rows spread evenly over the last `days` days across `vms` VMs, written
 * straight into SQLite by one INSERT … SELECT (the agent's own path would take
 * minutes for a million rows and is measured elsewhere). Rows are in receipt
 * order, as the agent writes them, with the content codes QEMU 7.2 reports.
 */
import Database from 'better-sqlite3';
import { Store } from '../src/agent/store.js';

export interface ScaleStore {
  readonly failures: number;
  readonly vms: number;
  readonly days: number;
  /** The newest row's receipt time (µs). */
  readonly endUs: number;
}

/** Content codes (migration 3): guest inject AR, guest inject AO, hypervisor ignore AO, guest reset AR recursive, hypervisor fatal AR. */
const CODES = [1 | (1 << 1) | 8, 1 | (1 << 1), 0, 1 | (3 << 1) | 8 | 16, (2 << 1) | 8];

export function buildScaleStore(
  path: string,
  failures: number,
  vms: number,
  days: number,
): ScaleStore {
  Store.open(path).close();
  const db = new Database(path);
  try {
    const endUs = Date.now() * 1000;
    const stepUs = Math.floor((days * 86_400_000_000) / failures);
    db.pragma('synchronous = OFF');
    // Most failures are absorbed: four in five are injects, one in a hundred fatal.
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < @count - 1)
       INSERT INTO memory_failure
         (vm, content, ts_seconds, ts_micros, received_us, dialect, layout, raw_text, error, dedup)
       SELECT 'vm-' || ((i * 7919) % @vms),
         CASE WHEN i % 100 = 0 THEN @fatal WHEN i % 50 = 1 THEN @reset WHEN i % 10 = 2 THEN @ignore
              WHEN i % 2 = 0 THEN @ar ELSE @ao END,
         (@start + i * @step) / 1000000, (@start + i * @step) % 1000000,
         @start + i * @step + 150, 'qemu', 3, NULL, NULL, i
       FROM n`,
    ).run({
      count: failures,
      vms,
      // BigInt binds as INTEGER (a number binds as REAL, which a STRICT table refuses).
      start: BigInt(endUs - (failures - 1) * stepUs - 150),
      step: BigInt(stepUs),
      ar: CODES[0],
      ao: CODES[1],
      ignore: CODES[2],
      reset: CODES[3],
      fatal: CODES[4],
    });
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { failures, vms, days, endUs };
  } finally {
    db.close();
  }
}
