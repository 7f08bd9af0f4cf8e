import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { layoutText, type RawLayout, rawLayout } from '../../src/agent/raw-layout.js';
import { contentCode } from '../../src/agent/store-rows.js';
import { Store } from '../../src/agent/store.js';
import { toWire } from '../../src/event/dialect.js';
import { ACTIONS, type Dialect, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import type { FailureObservation } from '../../src/agent/records.js';
import { failure, tempDir } from './fixtures.js';

const LAYOUTS: readonly RawLayout[] = [1, 2, 3];
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

/** JSON with a space after every ':' and ',' (QEMU's writer), members in the given order. */
function spaced(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(spaced).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${spaced(v)}`);
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

/**
 * The message as QEMU 7.2 prints it: its dictionaries come out in hash order,
 * for MEMORY_FAILURE's data flags (recursive, action-required), recipient,
 * action (seen from the real QEMU in test/agent/qemu.test.ts).
 */
function qemuText(f: MemoryFailure, seconds: number, microseconds: number): string {
  return spaced({
    timestamp: { seconds, microseconds },
    event: 'MEMORY_FAILURE',
    data: {
      flags: { recursive: f.recursive, 'action-required': f.actionRequired },
      recipient: f.recipient,
      action: f.action,
    },
  });
}

describe('raw layouts', () => {
  test("the layouts are QEMU 7.2's text, the spaced and the compact schema-order texts", () => {
    for (const dialect of DIALECTS) {
      for (const f of ALL) {
        for (const [s, us] of STAMPS) {
          const m = message(dialect, f, s, us);
          const content = contentCode(f);
          assert.equal(layoutText(1, dialect, content, s, us), spaced(m));
          assert.equal(layoutText(2, dialect, content, s, us), JSON.stringify(m));
          assert.equal(rawLayout(spaced(m), dialect, content, s, us), 1);
          assert.equal(rawLayout(JSON.stringify(m), dialect, content, s, us), 2);
          if (dialect === 'qemu') {
            assert.equal(layoutText(3, dialect, content, s, us), qemuText(f, s, us));
            assert.equal(rawLayout(qemuText(f, s, us), dialect, content, s, us), 3);
          } else {
            // QEMU never sent the seed's form: layout 3 has no text for it.
            assert.equal(layoutText(3, dialect, content, s, us), null);
          }
        }
      }
    }
  });

  test('any other text, or other values, has no layout', () => {
    const f = ALL[5] as MemoryFailure;
    const content = contentCode(f);
    const m = message('qemu', f, 1_764_000_000, 7);
    const text = qemuText(f, 1_764_000_000, 7);
    const others = [
      `${text} `,
      ` ${text}`,
      text.replace('"event": ', '"event":'),
      text.replace('"}}', '" }}'),
      spaced(m).replace('"flags": {', '"flags":{'),
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
              const text = layoutText(layout, dialect, content, s, us);
              if (text === null) continue;
              insert.run(content, s, us, dialect, layout, n++);
              expected.push(text);
            }
          }
        }
      }
      const got = db
        .prepare('SELECT raw FROM memory_failure ORDER BY id')
        .all()
        .map((r) => (r as { raw: string }).raw);
      assert.equal(got.length, (2 * 2 + 1) * 32 * STAMPS.length);
      assert.deepEqual(got, expected);
      // A row may leave raw_text out only with a layout that can rebuild it.
      assert.throws(
        () => insert.run(3, 1, 1, 'qemu', null, n++),
        (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_CHECK',
      );
      for (const [dialect, layout] of [
        ['qemu', 4],
        ['seed', 3],
      ] as const) {
        assert.throws(
          () => insert.run(3, 1, 1, dialect, layout, n++),
          (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_CHECK',
          `${dialect} ${layout}`,
        );
      }
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
      const obs = [1, 2, 3, 4, 5].map((us) => failure('vm', us));
      const texts = obs.map(({ timestamp, message: m, failure: f }, i) => {
        const wire = { timestamp, event: m.event, data: m.data };
        if (i === 0)
          return qemuText(
            f as MemoryFailure,
            timestamp?.seconds ?? 0,
            timestamp?.microseconds ?? 0,
          );
        if (i === 1) return JSON.stringify(wire);
        if (i === 4) return spaced(wire);
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
          { layout: 3, rebuilt: 1 },
          { layout: 2, rebuilt: 1 },
          { layout: null, rebuilt: 0 },
          { layout: null, rebuilt: 0 },
          { layout: 1, rebuilt: 1 },
        ],
      );
      db.close();
    } finally {
      cleanup();
    }
  });
  test('whatever the text and the columns, the store gives the raw message back byte for byte', () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    let n = 0;
    try {
      const columns = fc.record({
        f: fc.constantFrom(...ALL),
        dialect: fc.constantFrom(...DIALECTS),
        seconds: fc.oneof(fc.constant(1_764_000_000), fc.integer({ min: -1, max: 2 ** 40 })),
        // -1 alone (not QEMU's -1/-1) is no clock reading: such rows are flagged, kept verbatim.
        micros: fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: 999_999 }), weight: 4 },
          { arbitrary: fc.constant(-1), weight: 1 },
        ),
      });
      // Texts near the layouts (the layouts themselves, or another value's,
      // one character changed, cut short) and anything at all.
      const text = (c: { f: MemoryFailure; dialect: Dialect; seconds: number; micros: number }) =>
        fc.oneof(
          fc
            .record({
              layout: fc.constantFrom(...LAYOUTS),
              dialect: fc.oneof(
                { arbitrary: fc.constant(c.dialect), weight: 4 },
                fc.constantFrom(...DIALECTS),
              ),
              content: fc.oneof(
                { arbitrary: fc.constant(contentCode(c.f)), weight: 4 },
                fc.integer({ min: 0, max: 31 }),
              ),
              micros: fc.oneof(
                { arbitrary: fc.constant(c.micros), weight: 4 },
                fc.integer({ min: 0, max: 999_999 }),
              ),
            })
            .chain((t) => {
              const exact =
                layoutText(t.layout, t.dialect, t.content, c.seconds, t.micros) ?? '{"none": 1}';
              return fc.oneof(
                { arbitrary: fc.constant(exact), weight: 3 },
                fc
                  .tuple(
                    fc.nat({ max: exact.length - 1 }),
                    fc.string({ minLength: 1, maxLength: 1 }),
                  )
                  .map(([i, ch]) => exact.slice(0, i) + ch + exact.slice(i + 1)),
                fc.nat({ max: exact.length }).map((i) => exact.slice(0, i)),
              );
            }),
          fc.string(),
          fc.string({ unit: 'binary' }),
        );
      fc.assert(
        fc.property(
          columns.chain((c) => fc.tuple(fc.constant(c), text(c))),
          ([c, raw]) => {
            const base = failure('vm', 0, c.f);
            const obs: FailureObservation = {
              ...base,
              dialect: c.dialect,
              timestamp: { seconds: c.seconds, microseconds: c.micros },
              raw,
            };
            // A fresh key per run: every insert makes a row.
            const id = store.insert([{ ...obs, vm: `vm${n++}` }]).newFailureIds[0];
            const stored = store.failures({ vm: `vm${n - 1}` });
            assert.equal(stored.length, 1);
            assert.equal(stored[0]?.id, id);
            assert.equal(stored[0]?.raw, raw);
          },
        ),
        { numRuns: 400, seed: 20261125 },
      );
      // The runs did reach both ways of storing a message.
      const db = new Database(join(dir, 'events.db'), { readonly: true });
      const kept = db
        .prepare('SELECT count(layout) AS rebuilt, count(raw_text) AS verbatim FROM memory_failure')
        .get() as { rebuilt: number; verbatim: number };
      db.close();
      assert.ok(kept.rebuilt >= 20 && kept.verbatim >= 20, JSON.stringify(kept));
    } finally {
      store.close();
      cleanup();
    }
  });
});
