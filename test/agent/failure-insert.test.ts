import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CHUNK } from '../../src/agent/failure-insert.js';
import type { Observation } from '../../src/agent/records.js';
import { Store } from '../../src/agent/store.js';
import { failure, lifecycle, tempDir } from './fixtures.js';

/** Failures at these microsecond offsets (distinct offsets are distinct events). */
const at = (offsets: readonly number[]): Observation[] => offsets.map((us) => failure('vm', us));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

function withStore(run: (store: Store) => void): void {
  const { dir, cleanup } = tempDir();
  const store = Store.open(join(dir, 'events.db'));
  try {
    run(store);
  } finally {
    store.close();
    cleanup();
  }
}

describe('memory_failure rows in chunks', () => {
  test('a batch of whole chunks and a remainder: every row new, ids in batch order', () => {
    withStore((store) => {
      const batch = at(range(0, 2 * CHUNK + 7));
      const r = store.insert(batch, ['hook']);
      assert.equal(r.duplicates, 0);
      assert.ok(r.fresh.every(Boolean));
      assert.deepEqual(r.newFailureIds, range(1, batch.length));
      // Each id is the row of the observation at that place in the batch.
      const stored = store.failures();
      assert.deepEqual(
        stored.map((f) => [f.id, f.timestamp?.microseconds]),
        batch.map((o, i) => [i + 1, o.kind === 'failure' ? o.timestamp?.microseconds : -1]),
      );
      assert.equal(store.pendingAlerts(['hook'], 1000).length, batch.length);
    });
  });

  test('a chunk holding replays of stored rows: only the others are new, with their own ids', () => {
    withStore((store) => {
      store.insert(at([3, 10, 40]));
      const batch = at(range(0, CHUNK));
      const r = store.insert(batch, ['hook']);
      assert.equal(r.duplicates, 3);
      assert.deepEqual(
        r.fresh.map((f, i) => (f ? -1 : i)).filter((i) => i >= 0),
        [3, 10, 40],
      );
      assert.equal(r.newFailureIds.length, CHUNK - 3);
      assert.equal(store.countFailures(), CHUNK);
      // Every new id names the row of its own observation.
      const byId = new Map(store.failures().map((f) => [f.id, f.timestamp?.microseconds]));
      const freshOffsets = range(0, CHUNK).filter((us) => ![3, 10, 40].includes(us));
      assert.deepEqual(
        r.newFailureIds.map((id) => byId.get(id)),
        freshOffsets.map((us) => failure('vm', us).timestamp?.microseconds),
      );
      // Alerts are owed for the new failures only.
      assert.deepEqual(
        store
          .pendingAlerts(['hook'], 1000)
          .map((a) => a.failure.id)
          .sort((a, b) => a - b),
        [...r.newFailureIds].sort((a, b) => a - b),
      );
    });
  });

  test('an event twice in one chunk is one row, and the first is the new one', () => {
    withStore((store) => {
      const offsets = range(0, CHUNK);
      offsets[20] = 5;
      const r = store.insert(at(offsets));
      assert.equal(r.duplicates, 1);
      assert.equal(r.fresh[5], true);
      assert.equal(r.fresh[20], false);
      assert.equal(store.countFailures(), CHUNK - 1);
      assert.equal(new Set(r.newFailureIds).size, CHUNK - 1);
    });
  });

  test('a batch that is all replays changes nothing', () => {
    withStore((store) => {
      const batch = at(range(0, CHUNK + 1));
      store.insert(batch);
      const r = store.insert([...batch, lifecycle('vm', 'RESET', 1)]);
      assert.equal(r.duplicates, CHUNK + 1);
      assert.deepEqual(r.newFailureIds, []);
      assert.equal(r.newLifecycle, 1);
      assert.deepEqual(r.fresh, [...Array(CHUNK + 1).fill(false), true]);
      assert.equal(store.countFailures(), CHUNK + 1);
    });
  });

  test('failures and lifecycle events mixed: fresh follows the batch order', () => {
    withStore((store) => {
      const batch: Observation[] = [];
      for (let i = 0; i < CHUNK + 2; i++) {
        batch.push(failure('vm', i));
        if (i % 10 === 0) batch.push(lifecycle('vm', 'RESUME', 1000 + i));
      }
      const r = store.insert(batch);
      assert.equal(r.fresh.length, batch.length);
      assert.ok(r.fresh.every(Boolean));
      assert.equal(r.newLifecycle, batch.filter((o) => o.kind === 'lifecycle').length);
      assert.equal(r.newFailureIds.length, CHUNK + 2);
    });
  });
});
