// What the dashboard's receipt-time index (migration 6) costs the agent's
// writes: the same failures inserted through Store.insert in batches into a
// store with the index and one with it dropped, alternating, same run.
//
//   node bench/web-index-cost.mjs [--failures 200000] [--batch 256] [--rounds 3]
//
// Needs `npm run build` (imports dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Store } from '../dist/src/agent/store.js';

const { values } = parseArgs({
  options: {
    failures: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '3' },
  },
});
const count = Number(values.failures);
const batchSize = Number(values.batch);

function observations() {
  const out = [];
  const base = Date.now() * 1000;
  for (let i = 0; i < count; i++) {
    const us = base + i * 1000;
    const timestamp = { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
    const failure = {
      recipient: 'guest',
      action: 'inject',
      actionRequired: i % 2 === 0,
      recursive: false,
    };
    out.push({
      kind: 'failure',
      vm: `vm-${i % 1000}`,
      failure,
      error: null,
      timestamp,
      receivedUs: us + 100,
      dialect: 'qemu',
      message: {
        timestamp,
        event: 'MEMORY_FAILURE',
        data: {
          recipient: 'guest',
          action: 'inject',
          flags: { 'action-required': failure.actionRequired, recursive: false },
        },
      },
    });
  }
  return out;
}

function run(dir, withIndex, obs) {
  const path = join(dir, `${withIndex ? 'with' : 'without'}-${Math.random()}.db`);
  Store.open(path).close();
  if (!withIndex) {
    const db = new Database(path);
    db.exec('DROP INDEX memory_failure_received');
    db.close();
  }
  const store = Store.open(path);
  const start = performance.now();
  for (let i = 0; i < obs.length; i += batchSize) store.insert(obs.slice(i, i + batchSize));
  const ms = performance.now() - start;
  store.close();
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-index-'));
try {
  const obs = observations();
  const times = { with: [], without: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    times.without.push(run(dir, false, obs));
    times.with.push(run(dir, true, obs));
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(
    `${count} failures in batches of ${batchSize}, ${values.rounds} rounds (ms): without index ${fmt(times.without)}; with ${fmt(times.with)}`,
  );
  console.log(
    `median: without ${med(times.without).toFixed(0)} ms, with ${med(times.with).toFixed(0)} ms, ratio ${(med(times.with) / med(times.without)).toFixed(2)}x`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
