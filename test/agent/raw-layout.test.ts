import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { layoutText, type RawLayout, rawLayout } from '../../src/agent/raw-layout.js';
import { contentCode } from '../../src/agent/rows.js';
import { Store } from '../../src/agent/store.js';
import { toWire } from '../../src/event/dialect.js';
import { ACTIONS, type Dialect, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import { failure, tempDir } from './fixtures.js';

const LAYOUTS: readonly RawLayout[] = [1, 2];
const DIALECTS: readonly Dialect[] = ['qemu', 'seed'];
const ALL: MemoryFailure[] = RECIPIENTS.flatMap((recipient) =>
  ACTIONS.flatMap((action) =>
    [false, true].flatMap((actionRequired) =>
      [false, true].map((recursive) => ({ recipient, action, actionRequired, recursive })),
    ),
  ),
);
const STAMPS: readonly [number, number][] = [
  [1_764_000_000, 0],
  [1_764_000_000, 999_999],
  [-1, -1],
  [0, 42],
];

/** The message as QEMU's JSON writer prints it: a space after every ':' and ','. */
function qemuText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(qemuText).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${qemuText(v)}`);
    return `{${members.join(', ')}}`;
  }
  return JSON.stringify(value);
}

function message(dialect: Dialect, f: MemoryFailure, seconds: number, microseconds: number) {
  return {
    timestamp: { seconds, microseconds },
    event: 'MEMORY_FAILURE',
    data: toWire(dialect, f).data,
  };
}

describe('raw layouts', () => {
  test("QEMU's layout and the compact one are the texts QEMU's writer and JSON.stringify produce", () => {
    for (const dialect of DIALECTS) {
      for (const f of ALL) {
        for (const [s, us] of STAMPS) {
          const m = message(dialect, f, s, us);
          const content = contentCode(f);
          assert.equal(layoutText(1, dialect, content, s, us), qemuText(m));
          assert.equal(layoutText(2, dialect, content, s, us), JSON.stringify(m));
          assert.equal(rawLayout(qemuText(m), dialect, content, s, us), 1);
          assert.equal(rawLayout(JSON.stringify(m), dialect, content, s, us), 2);
        }
      }
    }
  });

  test('any other text, or other values, has no layout', () => {
    const f = ALL[5] as MemoryFailure;
    const content = contentCode(f);
    const m = message('qemu', f, 1_764_000_000, 7);
    const text = qemuText(m);
    const others = [
      `${text} `,
      ` ${text}`,
      text.replace('"event": ', '"event":'),
      text.replace('}}}', '} } }'),
      JSON.stringify({ event: m.event, data: m.data, timestamp: m.timestamp }),
      JSON.stringify({ ...m, extra: 1 }),
      text.replace('"seconds": 1764000000', '"seconds": 1764000000.0'),
      text.replace('"microseconds": 7', '"microseconds": 07'),
      '',
      '{',
    ];
    for (const other of others)
      assert.equal(rawLayout(other, 'qemu', content, 1_764_000_000, 7), null, other);
    // The same text read with other columns is not theirs.
    assert.equal(rawLayout(text, 'seed', content, 1_764_000_000, 7), null);
    assert.equal(rawLayout(text, 'qemu', content ^ 1, 1_764_000_000, 7), null);
    assert.equal(rawLayout(text, 'qemu', content, 1_764_000_001, 7), null);
    assert.equal(rawLayout(text, 'qemu', content, 1_764_000_000, 70), null);
    assert.equal(rawLayout(text, 'qemu', 32, 1_764_000_000, 7), null);
  });

  test('the raw column rebuilds in SQL exactly the text layoutText gives, for every value', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      Store.open(path).close();
      const db = new Database(path);
      const insert = db.prepare(
        `INSERT INTO memory_failure (vm, content, ts_seconds, ts_micros, received_us, dialect,
           layout, raw_text, error, dedup) VALUES ('vm', ?, ?, ?, 0, ?, ?, NULL, NULL, ?)`,
      );
      const expected: string[] = [];
      let n = 0;
      for (const layout of LAYOUTS) {
        for (const dialect of DIALECTS) {
          for (let content = 0; content < 32; content++) {
            for (const [s, us] of STAMPS) {
              insert.run(content, s, us, dialect, layout, n++);
              expected.push(layoutText(layout, dialect, content, s, us));
            }
          }
        }
      }
      const got = db
        .prepare('SELECT raw FROM memory_failure ORDER BY id')
        .all()
        .map((r) => (r as { raw: string }).raw);
      assert.equal(got.length, 2 * 2 * 32 * STAMPS.length);
      assert.deepEqual(got, expected);
      // A row may leave raw_text out only with a layout that can rebuild it.
      assert.throws(
        () => insert.run(3, 1, 1, 'qemu', null, n++),
        (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_CHECK',
      );
      assert.throws(
        () => insert.run(3, 1, 1, 'qemu', 3, n++),
        (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_CHECK',
      );
      db.close();
    } finally {
      cleanup();
    }
  });

  test('the store keeps a message in a layout as its number and gives the same text back', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const store = Store.open(path);
      const obs = [1, 2, 3, 4].map((us) => failure('vm', us));
      const texts = obs.map(({ timestamp, message: m }, i) => {
        const wire = { timestamp, event: m.event, data: m.data };
        if (i === 0) return qemuText(wire);
        if (i === 1) return JSON.stringify(wire);
        // QEMU's order is timestamp first: other orders and spacings are no layout.
        if (i === 2) return JSON.stringify({ event: m.event, data: m.data, timestamp });
        return `{\r\n  "timestamp": ${JSON.stringify(timestamp)},\r\n  "event": "MEMORY_FAILURE", "data": ${JSON.stringify(m.data)}}`;
      });
      store.insert(obs.map((o, i) => ({ ...o, raw: texts[i] })));
      assert.deepEqual(
        store.failures().map((f) => f.raw),
        texts,
      );
      store.close();
      const db = new Database(path, { readonly: true });
      assert.deepEqual(
        db
          .prepare('SELECT layout, raw_text IS NULL AS rebuilt FROM memory_failure ORDER BY id')
          .all(),
        [
          { layout: 1, rebuilt: 1 },
          { layout: 2, rebuilt: 1 },
          { layout: null, rebuilt: 0 },
          { layout: null, rebuilt: 0 },
        ],
      );
      db.close();
    } finally {
      cleanup();
    }
  });
});
