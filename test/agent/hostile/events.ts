/**
 * fast-check generation of MEMORY_FAILURE messages around the schema: good
 * ones, and every way a buggy or hostile peer can get one wrong — wrong
 * types, out-of-range and non-integer numbers, QEMU's "no clock" timestamp,
 * missing and extra members, duplicate keys, deep nesting, huge strings,
 * bytes that are not UTF-8, other spacing. Each message carries a marker
 * (`"hostile": N` as its first member) so that its row can be found.
 */
import fc from 'fast-check';

/** One generated message, before it gets its marker. */
export interface HostileEvent {
  readonly data: unknown;
  readonly timestamp: unknown;
  /** Generated from the schema's good values (expectValid decides what the agent must say). */
  readonly good: boolean;
  /** How its text is written. */
  readonly form: 'compact' | 'pretty' | 'qemu' | 'duplicate-data' | 'bad-utf8';
  /** For duplicate-data: the data written first (the later one wins). */
  readonly shadow?: unknown;
}

const json = fc.jsonValue({ maxDepth: 3 });

const goodData = fc.record({
  recipient: fc.constantFrom('guest', 'hypervisor'),
  action: fc.constantFrom('ignore', 'inject', 'fatal', 'reset'),
  flags: fc.record({ 'action-required': fc.boolean(), recursive: fc.boolean() }),
});

/** Data that is near the schema but wrong somewhere (or anything at all). */
const badData = fc.oneof(
  // Members of the wrong type, missing or unknown.
  fc.record(
    {
      recipient: fc.oneof(fc.constantFrom('guest', 'hypervisor', 'moon', ''), json),
      action: fc.oneof(
        fc.constantFrom('inject', 'guest-mce-inject', 'hypervisor-fatal', 'explode'),
        json,
      ),
      flags: fc.oneof(
        fc.record(
          {
            'action-required': fc.oneof(fc.boolean(), json),
            recursive: fc.oneof(fc.boolean(), json),
          },
          { requiredKeys: [] },
        ),
        json,
      ),
      extra: json,
    },
    { requiredKeys: [] },
  ),
  // A good event with one unknown member.
  goodData.map((d) => ({ ...d, 'x-unknown': 1 })),
  // Not an object where one is expected, or anything.
  json,
  // A huge string: the raw message is cut at 64 KiB, the rest summarised.
  fc.integer({ min: 70_000, max: 400_000 }).map((n) => ({
    recipient: 'guest',
    action: 'x'.repeat(n),
    flags: { 'action-required': true, recursive: false },
  })),
  // Keys that mean something to JavaScript objects.
  fc.constantFrom(
    JSON.parse('{"__proto__": {"recipient": "guest"}, "action": "inject"}') as unknown,
    JSON.parse('{"constructor": {"prototype": {"x": 1}}, "recipient": "guest"}') as unknown,
    JSON.parse(
      '{"recipient": "guest", "action": "inject", "flags": {"__proto__": null}}',
    ) as unknown,
  ),
  // Deep nesting, below the framing limit (1024).
  fc.integer({ min: 20, max: 400 }).map((depth) => {
    let v: unknown = { recipient: 'guest' };
    for (let i = 0; i < depth; i++) v = { flags: v };
    return v;
  }),
);

const goodTimestamp = fc.oneof(
  fc.record({
    seconds: fc.integer({ min: 0, max: 4_000_000_000 }),
    microseconds: fc.integer({ min: 0, max: 999_999 }),
  }),
  // QEMU's "no clock": a valid event, with no time of its own.
  fc.constant({ seconds: -1, microseconds: -1 }),
);

const badTimestamp = fc.oneof(
  fc.record({
    seconds: fc.oneof(
      fc.double({ noNaN: true }),
      fc.constantFrom(1e300, 2 ** 53, 2 ** 63, 1e15, 253_402_300_800, -5, -1, 1.5),
      json,
    ),
    microseconds: fc.oneof(
      fc.integer({ min: 0, max: 999_999 }),
      fc.constantFrom(-1, 1_000_000, 0.5, 1e300),
      json,
    ),
  }),
  fc.record({ seconds: fc.integer({ min: 0, max: 2 ** 31 }) }),
  json,
  fc.constant(undefined),
);

export const hostileEvent: fc.Arbitrary<HostileEvent> = fc.oneof(
  fc.record({
    data: goodData,
    timestamp: goodTimestamp,
    good: fc.constant(true),
    form: fc.constantFrom('compact', 'pretty', 'qemu', 'bad-utf8') as fc.Arbitrary<
      HostileEvent['form']
    >,
  }),
  fc.record({
    data: badData,
    timestamp: fc.oneof(goodTimestamp, badTimestamp),
    good: fc.constant(false),
    form: fc.constantFrom('compact', 'pretty', 'qemu', 'bad-utf8') as fc.Arbitrary<
      HostileEvent['form']
    >,
  }),
  fc.record({
    data: badData,
    timestamp: badTimestamp,
    good: fc.constant(false),
    form: fc.constant('compact' as const),
  }),
  // Duplicate keys: JSON.parse keeps the last "data"; the row must say what that one was.
  fc
    .record({ shadow: fc.oneof(goodData, badData), data: goodData, timestamp: goodTimestamp })
    .map((e) => ({ ...e, good: true, form: 'duplicate-data' as const })),
);

/** Invalid UTF-8 (not 0xFE/0xFF, which QMP defines as "reset the parser"). */
const NOT_UTF8 = Buffer.from([0xc3, 0x28, 0x80, 0xed, 0xa0, 0x80, 0xf0, 0x28, 0x8c, 0x28]);

/** The message's bytes, marker first, line-terminated. */
export function encode(marker: number, e: HostileEvent): Buffer {
  const envelope: Record<string, unknown> = { hostile: marker, event: 'MEMORY_FAILURE' };
  if (e.data !== undefined) envelope.data = e.data;
  if (e.timestamp !== undefined) envelope.timestamp = e.timestamp;
  switch (e.form) {
    case 'compact':
      return Buffer.from(`${JSON.stringify(envelope)}\n`);
    case 'pretty':
      return Buffer.from(`${JSON.stringify(envelope, null, 2)}\r\n`);
    case 'qemu':
      return Buffer.from(`${JSON.stringify(envelope).replaceAll('":', '": ')}\r\n`);
    case 'duplicate-data': {
      const text = JSON.stringify(envelope);
      const at = `{"hostile":${marker},`.length;
      return Buffer.from(
        `${text.slice(0, at)}"data":${JSON.stringify(e.shadow)},${text.slice(at)}\n`,
      );
    }
    case 'bad-utf8': {
      // An extra top-level member (not QEMU's, ignored) holding bytes that are not UTF-8.
      const text = JSON.stringify(envelope);
      const at = `{"hostile":${marker},`.length;
      return Buffer.concat([
        Buffer.from(`${text.slice(0, at)}"junk":"`),
        NOT_UTF8,
        Buffer.from(`",${text.slice(at)}\n`),
      ]);
    }
  }
}

/** The marker of a stored raw message (its first member), or null. */
export function markerOf(rawHead: string): number | null {
  const m = /^\{\s*"hostile":\s*(\d+)\s*,/.exec(rawHead);
  return m === null ? null : Number(m[1]);
}

const QEMU_ACTIONS = ['ignore', 'inject', 'fatal', 'reset'];
const SEED_ACTIONS = [
  'hypervisor-ignore',
  'hypervisor-fatal',
  'guest-mce-inject',
  'guest-mce-fatal',
];

/**
 * Whether the agent must store the event valid: an independent statement of
 * the two dialects' schemas (no unknown members, booleans where booleans go)
 * and of a clock reading (whole numbers in range, or QEMU's -1/-1).
 */
export function expectValid(e: HostileEvent): boolean {
  const { data, timestamp } = JSON.parse(
    JSON.stringify({ data: e.data ?? null, timestamp: e.timestamp ?? null }),
  ) as { data: unknown; timestamp: unknown };
  return validTimestamp(timestamp) && (qemuData(data) || seedData(data));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[]): boolean {
  return Object.keys(o).every((k) => allowed.includes(k));
}

function validTimestamp(t: unknown): boolean {
  if (!isObject(t) || !onlyKeys(t, ['seconds', 'microseconds'])) return false;
  const { seconds: s, microseconds: us } = t;
  if (s === -1 && us === -1) return true;
  return (
    Number.isInteger(s) &&
    Number.isInteger(us) &&
    (s as number) >= 0 &&
    (s as number) <= 253_402_300_799 &&
    (us as number) >= 0 &&
    (us as number) <= 999_999
  );
}

function qemuData(d: unknown): boolean {
  if (!isObject(d) || !onlyKeys(d, ['recipient', 'action', 'flags'])) return false;
  const f = d.flags;
  return (
    (d.recipient === 'guest' || d.recipient === 'hypervisor') &&
    QEMU_ACTIONS.includes(d.action as string) &&
    isObject(f) &&
    onlyKeys(f, ['action-required', 'recursive']) &&
    typeof f['action-required'] === 'boolean' &&
    typeof f.recursive === 'boolean'
  );
}

function seedData(d: unknown): boolean {
  if (!isObject(d) || !onlyKeys(d, ['action', 'flags'])) return false;
  if (!SEED_ACTIONS.includes(d.action as string)) return false;
  const f = d.flags;
  if (f === undefined) return true;
  return (
    isObject(f) &&
    onlyKeys(f, ['action-required', 'recursive']) &&
    (f['action-required'] === undefined || typeof f['action-required'] === 'boolean') &&
    (f.recursive === undefined || typeof f.recursive === 'boolean')
  );
}

/** A lifecycle event the agent records (RESET, SHUTDOWN, ...), with any data and timestamp. */
export const hostileLifecycle = fc.record({
  event: fc.constantFrom('RESET', 'SHUTDOWN', 'STOP', 'RESUME', 'GUEST_PANICKED'),
  data: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 4 }),
    fc.integer({ min: 70_000, max: 200_000 }).map((n) => ({ reason: 'z'.repeat(n) })),
  ),
  timestamp: fc.oneof(goodTimestamp, badTimestamp),
});

export function encodeLifecycle(
  marker: number,
  e: { event: string; data: unknown; timestamp: unknown },
): Buffer {
  return Buffer.from(
    `${JSON.stringify({ hostile: marker, event: e.event, data: e.data, timestamp: e.timestamp })}\n`,
  );
}
