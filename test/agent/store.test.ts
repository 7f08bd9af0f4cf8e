import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { BatchWriter, type CommittedBatch } from '../../src/agent/batch.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/agent/migrations.js';
import { ACTIONS, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import { migrate, Store, StoreError } from '../../src/agent/store.js';
import { until } from '../support/wait.js';
import { failure, invalidFailure, lifecycle, tempDir } from './fixtures.js';

function ts3(t: { seconds: number }) {
  return { seconds: t.seconds, microseconds: 3 };
}

describe('Store', () => {
  test('creates the file, in WAL mode, at the latest schema version', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'nested', 'events.db');
      const store = Store.open(path);
      assert.equal(store.version, SCHEMA_VERSION);
      store.close();
      const db = new Database(path);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => (r as { name: string }).name);
      assert.deepEqual(tables, [
        'agent_run',
        'gap',
        'lifecycle',
        'memory_failure',
        'outbox',
        'quarantine',
      ]);
      db.close();
    } finally {
      cleanup();
    }
  });

  test('reopening an up-to-date database migrates nothing and keeps its rows', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const first = Store.open(path);
      first.insert([failure('vm1', 1)]);
      first.close();
      const second = Store.open(path, { mustExist: true });
      assert.equal(second.countFailures(), 1);
      second.close();
    } finally {
      cleanup();
    }
  });

  test('migrations run in order, each with its version, and a failing one leaves the last good version', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      Store.open(path).close();
      const db = new Database(path);
      const next = [
        ...MIGRATIONS,
        {
          version: SCHEMA_VERSION + 1,
          description: 'add a note',
          sql: 'ALTER TABLE memory_failure ADD COLUMN note TEXT',
        },
        {
          version: SCHEMA_VERSION + 2,
          description: 'broken',
          sql: 'CREATE TABLE t (a); SELECT * FROM no_such_table',
        },
      ];
      assert.throws(() => migrate(db, path, next), /no_such_table/);
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1);
      const columns = db.prepare('PRAGMA table_info(memory_failure)').all() as { name: string }[];
      assert.ok(columns.some((c) => c.name === 'note'));
      // The failed migration's first statement was rolled back with it.
      const t = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get();
      assert.deepEqual(t, { n: 0 });
      db.close();
    } finally {
      cleanup();
    }
  });

  test('every canonical combination reads back as it was written', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const all: MemoryFailure[] = [];
      for (const recipient of RECIPIENTS)
        for (const action of ACTIONS)
          for (const actionRequired of [false, true])
            for (const recursive of [false, true])
              all.push({ recipient, action, actionRequired, recursive });
      store.insert(all.map((f, i) => failure('vm', i, f)));
      assert.deepEqual(
        store.failures().map((f) => f.failure),
        all,
      );
      store.close();
    } finally {
      cleanup();
    }
  });

  test('migrations 2 and 3 keep the rows version 1 wrote, with their raw message', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const db = new Database(path);
      migrate(db, path, MIGRATIONS.slice(0, 1));
      // Rows as version 1 wrote them: raw NULL when the canonical columns rebuild it.
      const insert = db.prepare(
        `INSERT INTO memory_failure (vm, recipient, action, action_required, recursive,
           ts_seconds, ts_micros, received_us, dialect, raw, valid, error, dedup)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 1, NULL, ?)`,
      );
      insert.run('a', 'guest', 'reset', 1, 1, 1_764_000_000, 7, 'qemu', null, 1);
      insert.run('a', 'hypervisor', 'fatal', 1, 0, 1_764_000_000, 8, 'seed', null, 2);
      insert.run('a', 'guest', 'inject', 0, 0, 1_764_000_000, 9, 'seed', null, 3);
      insert.run('a', 'guest', 'inject', 0, 0, 1_764_000_000, 10, 'qemu', '{"kept":1}', 4);
      db.close();
      const keep = new Database(path);
      keep.prepare("INSERT INTO outbox (failure_id, sink) VALUES (2, 'hook')").run();
      keep.close();
      const store = Store.open(path);
      assert.equal(store.version, SCHEMA_VERSION);
      // Migration 3 rebuilt the table: same ids, same canonical fields, outbox still joined.
      assert.deepEqual(
        store.failures().map((f) => [f.id, f.failure, f.dialect, f.valid]),
        [
          [
            1,
            { recipient: 'guest', action: 'reset', actionRequired: true, recursive: true },
            'qemu',
            true,
          ],
          [
            2,
            { recipient: 'hypervisor', action: 'fatal', actionRequired: true, recursive: false },
            'seed',
            true,
          ],
          [
            3,
            { recipient: 'guest', action: 'inject', actionRequired: false, recursive: false },
            'seed',
            true,
          ],
          [
            4,
            { recipient: 'guest', action: 'inject', actionRequired: false, recursive: false },
            'qemu',
            true,
          ],
        ],
      );
      assert.deepEqual(
        store.pendingAlerts(['hook'], 10).map((a) => a.failure.id),
        [2],
      );
      const t = (us: number) => `"timestamp":{"seconds":1764000000,"microseconds":${us}}`;
      assert.deepEqual(
        store.failures().map((f) => f.raw),
        [
          `{"event":"MEMORY_FAILURE","data":{"recipient":"guest","action":"reset","flags":{"action-required":true,"recursive":true}},${t(7)}}`,
          `{"event":"MEMORY_FAILURE","data":{"action":"hypervisor-fatal","flags":{"action-required":true,"recursive":false}},${t(8)}}`,
          `{"event":"MEMORY_FAILURE","data":{"action":"guest-mce-inject","flags":{"action-required":false,"recursive":false}},${t(9)}}`,
          '{"kept":1}',
        ],
      );
      store.close();
    } finally {
      cleanup();
    }
  });

  test('refuses a database written by a newer schema', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const db = new Database(path);
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();
      assert.throws(
        () => Store.open(path),
        (err: unknown) => err instanceof StoreError && err.code === 'newer-schema',
      );
    } finally {
      cleanup();
    }
  });

  test('a missing database is a clear error when it must exist, and is not created', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'none.db');
      assert.throws(
        () => Store.open(path, { mustExist: true }),
        (err: unknown) =>
          err instanceof StoreError && err.code === 'missing' && err.message.includes(path),
      );
      assert.throws(() => new Database(path, { fileMustExist: true }));
    } finally {
      cleanup();
    }
  });

  test('a file that is not SQLite is reported as corrupt and left untouched', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const junk = 'this is not a database, just some text that is long enough '.repeat(20);
      writeFileSync(path, junk);
      for (const mustExist of [true, false]) {
        assert.throws(
          () => Store.open(path, { mustExist }),
          (err: unknown) => err instanceof StoreError && err.code === 'corrupt',
        );
      }
      // Nothing lost: the file is as it was, and nothing was created beside it.
      assert.equal(readFileSync(path, 'utf8'), junk);
      assert.deepEqual(readdirSync(dir), ['events.db']);
    } finally {
      cleanup();
    }
  });

  test('stores canonical fields, both timestamps, dialect and the raw message', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const obs = failure('web', 332_511, {
        recipient: 'guest',
        action: 'reset',
        actionRequired: true,
        recursive: true,
      });
      store.insert([obs]);
      const [row] = store.failures();
      assert.ok(row);
      assert.equal(row.vm, 'web');
      assert.deepEqual(row.failure, {
        recipient: 'guest',
        action: 'reset',
        actionRequired: true,
        recursive: true,
      });
      assert.deepEqual(row.timestamp, obs.timestamp);
      assert.equal(row.timestampIso, '2025-11-24T16:00:00.332511Z');
      assert.equal(row.receivedUs, obs.receivedUs);
      assert.equal(row.dialect, 'qemu');
      assert.equal(row.raw, JSON.stringify(obs.message));
      assert.equal(row.valid, true);
      assert.equal(row.error, null);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('the raw message is stored for every failure, exactly as given', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const store = Store.open(path);
      const plain = failure('a', 1, { action: 'reset', actionRequired: true });
      const t = plain.timestamp!;
      const reordered = {
        ...failure('a', 2),
        message: {
          event: 'MEMORY_FAILURE',
          data: {
            action: 'inject',
            recipient: 'guest',
            flags: { recursive: false, 'action-required': false },
          },
          timestamp: { seconds: t.seconds, microseconds: 2 },
        },
      };
      reordered.timestamp = reordered.message.timestamp;
      const seedNoFlags = {
        ...failure('a', 3),
        dialect: 'seed' as const,
        message: {
          event: 'MEMORY_FAILURE',
          data: { action: 'guest-mce-inject' },
          timestamp: ts3(t),
        },
      };
      const seedFull = {
        ...failure('a', 4, { recipient: 'hypervisor', action: 'fatal', actionRequired: true }),
        dialect: 'seed' as const,
      };
      const seedMessage = {
        event: 'MEMORY_FAILURE',
        data: { action: 'hypervisor-fatal', flags: { 'action-required': true, recursive: false } },
        timestamp: seedFull.timestamp,
      };
      const all = [plain, reordered, seedNoFlags, { ...seedFull, message: seedMessage }];
      store.insert(all);
      assert.deepEqual(
        store.failures().map((f) => f.raw),
        all.map((o) => JSON.stringify(o.message)),
      );
      store.close();
      const db = new Database(path, { readonly: true });
      const stored = db.prepare('SELECT raw FROM memory_failure ORDER BY id').all();
      assert.deepEqual(
        stored.map((r) => (r as { raw: string }).raw),
        all.map((o) => JSON.stringify(o.message)),
      );
      db.close();
    } finally {
      cleanup();
    }
  });

  test('a replayed event never doubles a row, within a batch or across batches', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const events = [failure('a', 1), failure('a', 2), lifecycle('a', 'RESET', 3)];
      const first = store.insert([...events, events[0]!]);
      assert.equal(first.newFailureIds.length, 2);
      assert.equal(first.newLifecycle, 1);
      assert.equal(first.duplicates, 1);
      const replay = store.insert(events);
      assert.deepEqual(replay, {
        newFailureIds: [],
        newLifecycle: 0,
        duplicates: 3,
        fresh: [false, false, false],
      });
      assert.deepEqual(first.fresh, [true, true, true, false]);
      assert.equal(store.countFailures(), 2);
      assert.equal(store.lifecycle().length, 1);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('the same instant on another VM, or another failure at that instant, is a new event', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      store.insert([failure('a', 1), failure('b', 1), failure('a', 1, { actionRequired: true })]);
      assert.equal(store.countFailures(), 3);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('connection events are each recorded, replays of QMP lifecycle events are not', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      store.insert([lifecycle('a', 'CONNECTED', 1), lifecycle('a', 'SHUTDOWN', 2)]);
      store.insert([lifecycle('a', 'CONNECTED', 1), lifecycle('a', 'SHUTDOWN', 2)]);
      assert.deepEqual(
        store.lifecycle({ vm: 'a' }).map((l) => l.event),
        ['CONNECTED', 'CONNECTED', 'SHUTDOWN'],
      );
      store.close();
    } finally {
      cleanup();
    }
  });

  test('an event that fails validation is stored flagged, not dropped, and deduplicated', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const raw = { event: 'MEMORY_FAILURE', data: { recipient: 'moon', action: 'inject' } };
      const bad = invalidFailure('a', 5, raw);
      store.insert([failure('a', 1), bad]);
      store.insert([bad]);
      assert.equal(store.countFailures(), 1);
      assert.equal(store.countFailures({ includeUnreadable: true }), 2);
      const flagged = store.failures({ includeUnreadable: true }).filter((f) => !f.valid);
      assert.equal(flagged.length, 1);
      assert.equal(flagged[0]?.failure, null);
      assert.match(flagged[0]?.error ?? '', /moon/);
      assert.deepEqual(JSON.parse(flagged[0]?.raw ?? ''), raw);
      store.close();
    } finally {
      cleanup();
    }
  });

  test("the client's text of a message is what raw stores; an invalid event's key ignores it", () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const valid = failure('a', 1);
      const validText = JSON.stringify(valid.message, null, 1);
      const message = { event: 'MEMORY_FAILURE', data: { recipient: 'moon', action: 'inject' } };
      const text = '{"event": "MEMORY_FAILURE", "data": {"recipient": "moon", "action": "inject"}}';
      // As rows were written before raw text existed, then the same event as the watcher passes it now.
      const before = invalidFailure('a', 5, message);
      const now = { ...before, message: { ...message, raw: text }, raw: text };
      store.insert([before]);
      store.insert([{ ...valid, raw: validText }, now]);
      const rows = store.failures({ includeUnreadable: true });
      assert.deepEqual(
        rows.map((f) => f.raw),
        // Ordered by time: the valid event is the earlier; the invalid one was not doubled.
        [validText, JSON.stringify(message)],
      );
      store.close();
    } finally {
      cleanup();
    }
  });

  test('a readable event that fails validation keeps its canonical fields, flagged', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const extra = { ...failure('a', 1), error: "qemu: data: unexpected member 'colour'" };
      store.insert([extra]);
      const [row] = store.failures();
      assert.equal(row?.valid, false);
      assert.equal(row?.error, "qemu: data: unexpected member 'colour'");
      assert.deepEqual(row?.failure, extra.failure);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('filters by VM and by time', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      store.insert([failure('a', 0), failure('b', 1_000_000), failure('a', 5_000_000)]);
      assert.equal(store.countFailures({ vm: 'a' }), 2);
      const since = store.failures()[1]!.timestamp!;
      const later = store.failures({ since: new Date(since.seconds * 1000) });
      assert.deepEqual(
        later.map((f) => f.vm),
        ['b', 'a'],
      );
      assert.deepEqual(store.vms(), ['a', 'b']);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('outbox rows are written with new failures only, and track delivery', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const sinks = ['webhook:http://x/'];
      store.insert([failure('a', 1), failure('a', 2)], sinks);
      store.insert([failure('a', 1)], sinks);
      const due = store.pendingAlerts(sinks, 10);
      assert.equal(due.length, 2);
      assert.equal(due[0]?.failure.vm, 'a');
      store.markDelivered(due[0]!.id, 1);
      store.markFailed(due[1]!.id, 'connection refused', 500);
      assert.deepEqual(store.outboxCounts(), { pending: 1, delivered: 1 });
      assert.equal(store.owedAlerts(sinks), 1);
      const retry = store.pendingAlerts(sinks, 10);
      assert.equal(retry.length, 1);
      assert.equal(retry[0]?.attempts, 1);
      assert.equal(store.pendingAlerts(['webhook:http://other/'], 10).length, 0);
      store.close();
    } finally {
      cleanup();
    }
  });
});

describe('BatchWriter', () => {
  test('commits when the batch is full, and reports what it committed', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const writer = new BatchWriter(store, { maxEvents: 3, maxDelayMs: 60_000 });
      const committed: CommittedBatch[] = [];
      writer.onCommitted((b) => committed.push(b));
      writer.push(failure('a', 1));
      writer.push(failure('a', 2));
      assert.equal(committed.length, 0);
      assert.equal(store.countFailures(), 0);
      writer.push(lifecycle('a', 'RESET', 3));
      assert.equal(committed.length, 1);
      assert.equal(committed[0]?.observations.length, 3);
      assert.equal(committed[0]?.result.newFailureIds.length, 2);
      assert.equal(store.countFailures(), 2);
      writer.close();
      store.close();
    } finally {
      cleanup();
    }
  });

  test('commits a partial batch after the delay', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const writer = new BatchWriter(store, { maxEvents: 1000, maxDelayMs: 5 });
      const done = new Promise<CommittedBatch>((resolve) => writer.onCommitted(resolve));
      writer.push(failure('a', 1));
      const batch = await done;
      assert.equal(batch.observations.length, 1);
      assert.equal(store.countFailures(), 1);
      writer.close();
      store.close();
    } finally {
      cleanup();
    }
  });

  test('a commit follows the previous one by at least minCommitIntervalMs, unless the batch is full', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const writer = new BatchWriter(store, {
        maxEvents: 3,
        maxDelayMs: 5,
        minCommitIntervalMs: 300,
      });
      const commits: { at: number; size: number }[] = [];
      writer.onCommitted((b) =>
        commits.push({ at: performance.now(), size: b.observations.length }),
      );
      const committed = (n: number) => until(() => commits.length >= n, `${n} commits`, 5000);
      // A lone observation: only maxDelayMs.
      let t0 = performance.now();
      writer.push(failure('a', 1));
      await committed(1);
      assert.ok(commits[0]!.at - t0 < 250, `lone: ${commits[0]!.at - t0} ms`);
      // Right after a commit: held until the interval is over, and all of it in one commit.
      t0 = performance.now();
      writer.push(failure('a', 2));
      writer.push(failure('a', 3));
      await committed(2);
      assert.ok(commits[1]!.at - commits[0]!.at >= 295, `${commits[1]!.at - commits[0]!.at} ms`);
      assert.equal(commits[1]!.size, 2);
      // A full batch does not wait.
      writer.push(failure('a', 4));
      writer.push(failure('a', 5));
      writer.push(failure('a', 6));
      assert.equal(commits.length, 3);
      assert.equal(store.countFailures(), 6);
      // After a quiet spell longer than the interval: maxDelayMs again.
      await new Promise((r) => setTimeout(r, 350));
      t0 = performance.now();
      writer.push(failure('a', 7));
      await committed(4);
      assert.ok(commits[3]!.at - t0 < 250, `after quiet: ${commits[3]!.at - t0} ms`);
      writer.close();
      store.close();
    } finally {
      cleanup();
    }
  });

  test('close commits what is pending; a committed row is visible to another connection', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const store = Store.open(path);
      const writer = new BatchWriter(store, { maxEvents: 1000, maxDelayMs: 60_000 });
      writer.push(failure('a', 1));
      assert.equal(writer.close(), true);
      assert.throws(() => writer.push(failure('a', 2)), /closed/);
      const reader = Store.open(path, { mustExist: true });
      assert.equal(reader.countFailures(), 1);
      reader.close();
      store.close();
    } finally {
      cleanup();
    }
  });

  test('a failed commit keeps the batch pending and reports the error', () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = Store.open(join(dir, 'events.db'));
      const writer = new BatchWriter(store, { maxEvents: 1000, maxDelayMs: 60_000 });
      const errors: Error[] = [];
      writer.onError((e) => errors.push(e));
      writer.push(failure('a', 1));
      store.close();
      assert.equal(writer.flush(), false);
      assert.equal(errors.length, 1);
      assert.equal(writer.pendingCount, 1);
      writer.close();
    } finally {
      cleanup();
    }
  });
});
