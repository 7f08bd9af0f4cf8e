import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type JsonObject, QmpFramer, type QmpProtocolError } from '../../src/qmp/index.js';

interface Collected {
  messages: JsonObject[];
  /** Each message's text as the framer handed it out. */
  texts: string[];
  errors: QmpProtocolError[];
  framer: QmpFramer;
}

function collector(limits?: { maxMessageBytes?: number; maxDepth?: number }): Collected {
  const out: Collected = {
    messages: [],
    texts: [],
    errors: [],
    framer: undefined as unknown as QmpFramer,
  };
  out.framer = new QmpFramer(
    {
      message: (m, text) => {
        out.messages.push(m);
        out.texts.push(text);
      },
      error: (e) => out.errors.push(e),
    },
    limits,
  );
  return out;
}

/** Feeds `bytes` cut at the given offsets. */
function feed(c: Collected, bytes: Buffer, cuts: number[]): void {
  const points = [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) c.framer.push(bytes.subarray(prev, p));
    prev = p;
  }
}

const jsonObject = fc.dictionary(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.jsonValue({ maxDepth: 4 }),
  { maxKeys: 5 },
) as fc.Arbitrary<JsonObject>;

const separator = fc.constantFrom('\r\n', '\n', '', ' ', '\t\n \r\n');
const layout = fc.constantFrom('line', 'pretty');

describe('QmpFramer', () => {
  test('any split of a valid stream yields the same messages and texts, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(jsonObject, separator, layout), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (items, cuts) => {
          const sent = items.map(([obj, , how]) =>
            how === 'pretty' ? JSON.stringify(obj, null, 2) : JSON.stringify(obj),
          );
          const text = items.map(([, sep], i) => sent[i] + sep).join('');
          const c = collector();
          feed(c, Buffer.from(text, 'utf8'), cuts);
          assert.equal(c.framer.end(), null);
          assert.deepEqual(c.errors, []);
          // JSON round trip: -0 and the like compare as the parser sees them.
          assert.deepEqual(
            c.messages,
            items.map(([obj]) => JSON.parse(JSON.stringify(obj))),
          );
          // Each text is the message as sent, whichever path framed it.
          assert.deepEqual(c.texts, sent);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a message's text keeps QEMU's spacing, without the CRLF or surrounding blanks", () => {
    const event =
      '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "MEMORY_FAILURE", "data": {"recipient": "guest"}}';
    const pretty = '{\n  "event": "STOP",\n  "timestamp": {"seconds": 3, "microseconds": 4}\n}';
    const stream = `${event}\r\n  ${event} \t\r\n{"desc": "ü €"}\r\n${pretty}\r\n${event}${event}\n`;
    const expected = [event, event, '{"desc": "ü €"}', pretty, event, event];
    const bytes = Buffer.from(stream, 'utf8');
    const whole = collector();
    whole.framer.push(bytes);
    assert.deepEqual(whole.texts, expected);
    // Cut anywhere (inside a message, a CRLF, a character): the same texts.
    for (let i = 1; i < bytes.length; i++) {
      const c = collector();
      c.framer.push(bytes.subarray(0, i));
      c.framer.push(bytes.subarray(i));
      assert.deepEqual(c.texts, expected, `split at ${i}`);
    }
  });

  test('UTF-8 split inside a character is decoded once, correctly', () => {
    const text = '{"desc": "ü € 😀 日本"}\r\n{"b": "😀"}\n';
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 1; i < bytes.length; i++) {
      const c = collector();
      c.framer.push(bytes.subarray(0, i));
      c.framer.push(bytes.subarray(i));
      assert.deepEqual(c.messages, [{ desc: 'ü € 😀 日本' }, { b: '😀' }], `split at ${i}`);
    }
  });

  test('garbage never throws and only yields documented errors, with bounded memory', () => {
    const codes = new Set([
      'invalid-json',
      'not-an-object',
      'message-too-large',
      'too-deeply-nested',
      'truncated',
    ]);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            fc.constantFrom(...['{', '}', '[', '"', '\\', '\n'].map((s) => Buffer.from(s))),
          ),
          {
            maxLength: 40,
          },
        ),
        (chunks) => {
          const c = collector({ maxMessageBytes: 256, maxDepth: 8 });
          for (const chunk of chunks) {
            c.framer.push(Buffer.from(chunk));
            assert.ok(c.framer.bufferedBytes <= 256);
          }
          c.framer.end();
          for (const e of c.errors) assert.ok(codes.has(e.code), e.code);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('invalid JSON and non-objects are reported, and framing goes on', () => {
    const c = collector();
    c.framer.push(Buffer.from('{"execute": }\n[1]\n42 "x" null\n{"ok": 1}\n'));
    assert.deepEqual(
      c.errors.map((e) => e.code),
      ['invalid-json', 'not-an-object', 'not-an-object', 'not-an-object', 'not-an-object'],
    );
    assert.deepEqual(c.messages, [{ ok: 1 }]);
  });

  test('a caller may reuse its buffer between pushes', () => {
    const c = collector();
    const buf = Buffer.from('{"n": 1}\n');
    c.framer.push(buf);
    buf.write('{"n": 2}\n');
    c.framer.push(buf);
    assert.deepEqual(c.messages, [{ n: 1 }, { n: 2 }]);
  });

  test('a message cut by EOF is reported as truncated', () => {
    const c = collector();
    c.framer.push(Buffer.from('{"a": 1}\n{"event": "STO'));
    const err = c.framer.end();
    assert.equal(err?.code, 'truncated');
    assert.deepEqual(c.messages, [{ a: 1 }]);
  });

  test('an oversized message is dropped while it streams in; the next one is delivered', () => {
    const c = collector({ maxMessageBytes: 1000 });
    const big = Buffer.from(`{"blob": "${'x'.repeat(50_000)}"}\n{"next": true}\n`);
    for (let i = 0; i < big.length; i += 100) {
      c.framer.push(big.subarray(i, i + 100));
      assert.ok(c.framer.bufferedBytes <= 1000, `holds ${c.framer.bufferedBytes} bytes`);
    }
    assert.deepEqual(
      c.errors.map((e) => e.code),
      ['message-too-large'],
    );
    assert.deepEqual(c.messages, [{ next: true }]);
  });

  test('nesting: 1024 levels pass, 1025 are refused (also on one line)', () => {
    // The top-level object is level 1.
    const nested = (depth: number) => `{"a": ${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
    const ok = collector();
    ok.framer.push(Buffer.from(`${nested(1024)}\n`));
    assert.equal(ok.messages.length, 1);
    assert.deepEqual(ok.errors, []);
    const deep = collector();
    deep.framer.push(Buffer.from(`${nested(1025)}\n{"after": 1}\n`));
    assert.deepEqual(
      deep.errors.map((e) => e.code),
      ['too-deeply-nested'],
    );
    assert.deepEqual(deep.messages, [{ after: 1 }]);
  });

  test('a control character resyncs the parser (QMP spec 2.6)', () => {
    const c = collector();
    c.framer.push(Buffer.from('{"execute": "qmp_capa\x1b{"execute": "query-status"}\n'));
    assert.deepEqual(
      c.errors.map((e) => e.code),
      ['invalid-json'],
    );
    assert.deepEqual(c.messages, [{ execute: 'query-status' }]);
  });
});
