/**
 * Regression tests for issue 10: input a buggy or hostile peer can send must
 * never stop, crash or corrupt the record. Each test names the bug it pins.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AlertDispatcher } from '../../src/agent/alerts.js';
import { BatchWriter } from '../../src/agent/batch.js';
import { toAlertPayload, toEventRecord } from '../../src/agent/event-record.js';
import type { FailureObservation } from '../../src/agent/records.js';
import { reportText } from '../../src/agent/report.js';
import { Store } from '../../src/agent/store.js';
import { until } from '../support/wait.js';
import { failure, lifecycle, tempDir } from './fixtures.js';

function withTimestamp(
  obs: FailureObservation,
  timestamp: { seconds: number; microseconds: number } | null,
): FailureObservation {
  const message = { ...obs.message, timestamp: timestamp ?? { seconds: -1, microseconds: -1 } };
  return { ...obs, timestamp, message };
}

function collect(store: Store): string {
  return [...reportText(store.reportSource(), { json: false, horizonMs: 60_000 })].join('');
}

describe('one bad event never blocks others', () => {
  for (const [what, seconds, micros] of [
    ['fractional seconds', 1_764_000_000.5, 0],
    ['fractional microseconds', 1_764_000_000, 0.25],
    ['seconds beyond any integer SQLite holds', 1e300, 0],
    ['microseconds beyond a second', 1_764_000_000, 5_000_000],
  ] as const) {
    test(`${what}: the event is stored flagged and every other VM's events commit`, () => {
      const { dir, cleanup } = tempDir();
      const store = Store.open(join(dir, 'events.db'));
      const writer = new BatchWriter(store, { maxDelayMs: 1 });
      const errors: string[] = [];
      writer.onError((e) => errors.push(e.message));
      try {
        writer.push(failure('good', 1));
        writer.push(withTimestamp(failure('bad', 2), { seconds, microseconds: micros }));
        writer.push(lifecycle('good', 'RESET', 3));
        assert.equal(writer.flush(), true);
        assert.deepEqual(errors, []);
        assert.equal(writer.pendingCount, 0);
        const rows = store.failures({ includeUnreadable: true });
        assert.deepEqual(rows.map((r) => r.vm).sort(), ['bad', 'good']);
        const bad = rows.find((r) => r.vm === 'bad')!;
        assert.equal(bad.valid, false);
        assert.match(bad.error ?? '', /timestamp/);
        assert.equal(bad.timestamp, null);
        // The message as it came is kept: the timestamp can still be read there.
        assert.match(bad.raw, /"timestamp"/);
        writer.push(failure('good', 4));
        assert.equal(writer.flush(), true);
        assert.equal(store.countFailures({ vm: 'good' }), 2);
      } finally {
        writer.close();
        store.close();
        cleanup();
      }
    });
  }

  test('a row the database still refuses goes to quarantine with its reason, logged once', () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const writer = new BatchWriter(store, { maxDelayMs: 1 });
    const quarantined: string[] = [];
    writer.onQuarantine((q) => quarantined.push(q.reason));
    try {
      // A VM name a STRICT table refuses as TEXT (a blob): not reachable
      // from the CLI, so it stands for whatever the next unforeseen value is.
      const poison = { ...failure('x', 1), vm: Buffer.from('vm') as unknown as string };
      writer.push(failure('good', 1));
      writer.push(poison);
      writer.push(failure('good', 2));
      assert.equal(writer.flush(), true);
      assert.equal(store.countFailures({ vm: 'good' }), 2);
      assert.equal(quarantined.length, 1);
      const q = store.quarantined();
      assert.equal(q.length, 1);
      assert.match(q[0]!.reason, /TEXT|vm/i);
      assert.match(q[0]!.record, /MEMORY_FAILURE/);
      assert.equal(writer.flush(), true);
      assert.equal(quarantined.length, 1, 'said once');
    } finally {
      writer.close();
      store.close();
      cleanup();
    }
  });
});

describe('an unavailable database', () => {
  test('keeps every observation pending and reports the error once, not on every retry', () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const writer = new BatchWriter(store, { maxDelayMs: 1 });
    const errors: string[] = [];
    writer.onError((e) => errors.push(e.message));
    try {
      store.close();
      writer.push(failure('vm', 1));
      writer.push(lifecycle('vm', 'RESET', 2));
      assert.equal(writer.flush(), false);
      assert.equal(writer.flush(), false);
      writer.push(failure('vm', 3));
      assert.equal(writer.flush(), false);
      assert.equal(writer.pendingCount, 3);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /not open/);
    } finally {
      writer.close();
      cleanup();
    }
  });
});

describe('timestamps beyond a JavaScript Date', () => {
  test('alerts, events and report work on a row whose seconds no Date can hold', () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    try {
      // 1e15 s is an integer SQLite takes, ~31 million years out: the old
      // agent stored it and then crashed on every alert and report.
      store.insert([withTimestamp(failure('vm', 1), { seconds: 1e15, microseconds: 0 })], ['s']);
      const [f] = store.failures({ includeUnreadable: true });
      assert.ok(f);
      const payload = toAlertPayload(f);
      assert.match(payload.explanation, /vm/);
      assert.match(toEventRecord(f).timestamp, /^\d{4}-\d\d-\d\dT/);
      assert.match(collect(store), /1 memory failure/);
    } finally {
      store.close();
      cleanup();
    }
  });
});

describe('rows an older agent wrote', () => {
  test('seconds no Date can hold, already stored with an outbox row: alerts, events and report still work', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'events.db');
    const store = Store.open(path);
    try {
      store.insert([failure('vm', 1)], ['command:["true"]']);
      // What the agent before issue 10 stored for such an event.
      const db = new Database(path);
      db.prepare('UPDATE memory_failure SET ts_seconds = ?').run(1e15);
      db.close();
      const [entry] = store.pendingAlerts(['command:["true"]'], 10);
      assert.ok(entry);
      assert.equal(entry.failure.timestamp, null);
      assert.match(toAlertPayload(entry.failure).explanation, /vm/);
      const dispatcher = new AlertDispatcher(store, [{ kind: 'command', argv: ['true'] }]);
      dispatcher.start();
      await until(() => store.outboxCounts().delivered === 1, 'the alert delivered');
      await dispatcher.stop();
      assert.match(collect(store), /1 memory failure/);
      assert.match(toEventRecord(store.failures()[0]!).timestamp, /^\d{4}-/);
    } finally {
      store.close();
      cleanup();
    }
  });
});

describe('distinct events are never merged', () => {
  test("two identical events without QEMU's clock (-1, -1) are two rows", () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    try {
      const a = withTimestamp(failure('vm', 1), null);
      const b = { ...a, receivedUs: a.receivedUs + 1 };
      store.insert([a]);
      store.insert([b]);
      assert.equal(store.countFailures(), 2);
    } finally {
      store.close();
      cleanup();
    }
  });
});
