import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  detectDialect,
  fromAnyWire,
  fromWire,
  readMemoryFailure,
  toWire,
} from '../../src/event/dialect.js';
import { ACTIONS, DIALECTS, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import { reachableInQemu } from '../../src/event/reachable.js';

const canonical = fc
  .record({
    recipient: fc.constantFrom(...RECIPIENTS),
    action: fc.constantFrom(...ACTIONS),
    actionRequired: fc.boolean(),
    recursive: fc.boolean(),
  })
  .map((f): MemoryFailure => ({ ...f }));

const ALL: MemoryFailure[] = RECIPIENTS.flatMap((recipient) =>
  ACTIONS.flatMap((action) =>
    [false, true].flatMap((actionRequired) =>
      [false, true].map((recursive) => ({ recipient, action, actionRequired, recursive })),
    ),
  ),
);

describe('QEMU 5.2+ dialect', () => {
  test('round-trips every canonical value exactly and never reports a loss', () => {
    fc.assert(
      fc.property(canonical, (f) => {
        const enc = toWire('qemu', f);
        assert.equal(enc.lossy, undefined);
        assert.deepEqual(fromWire('qemu', JSON.parse(JSON.stringify(enc.data))), {
          ok: true,
          value: f,
        });
      }),
    );
  });

  test('writes the shape QEMU 7.2 sends', () => {
    const enc = toWire('qemu', {
      recipient: 'guest',
      action: 'reset',
      actionRequired: true,
      recursive: true,
    });
    assert.deepEqual(enc.data, {
      recipient: 'guest',
      action: 'reset',
      flags: { 'action-required': true, recursive: true },
    });
  });

  test('ignores members it does not know (QMP forward compatibility)', () => {
    const r = fromWire('qemu', {
      recipient: 'hypervisor',
      action: 'fatal',
      flags: { 'action-required': true, recursive: false, future: 1 },
      extra: 'x',
    });
    assert.deepEqual(r, {
      ok: true,
      value: { recipient: 'hypervisor', action: 'fatal', actionRequired: true, recursive: false },
    });
  });

  const bad: [string, unknown, string, string][] = [
    ['not an object', 'x', 'data', 'expected object, got "x"'],
    ['an array', [], 'data', 'expected object, got an array'],
    ['no recipient', { action: 'inject', flags: {} }, 'data.recipient', 'missing required member'],
    [
      'seed action',
      { recipient: 'guest', action: 'guest-mce-inject' },
      'data.action',
      `expected one of 'ignore', 'inject', 'fatal', 'reset', got "guest-mce-inject"`,
    ],
    ['no flags', { recipient: 'guest', action: 'inject' }, 'data.flags', 'missing required member'],
    [
      'flags without action-required',
      { recipient: 'guest', action: 'inject', flags: { recursive: false } },
      'data.flags.action-required',
      'missing required member',
    ],
    [
      'recursive as a string',
      { recipient: 'guest', action: 'inject', flags: { 'action-required': true, recursive: 'no' } },
      'data.flags.recursive',
      'expected bool, got "no"',
    ],
  ];
  for (const [name, data, path, message] of bad) {
    test(`rejects ${name} with a precise error`, () => {
      const r = fromWire('qemu', data);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.dialect, 'qemu');
      assert.equal(r.error.path, path);
      assert.ok(r.error.message.includes(message), r.error.message);
    });
  }
});

describe('seed dialect', () => {
  test('the four seed actions round-trip with explicit flags', () => {
    for (const f of ALL) {
      const enc = toWire('seed', f);
      const back = fromWire('seed', enc.data);
      assert.ok(back.ok);
      if (enc.lossy === undefined) assert.deepEqual(back.value, f, JSON.stringify(f));
      assert.deepEqual(enc.data.flags, {
        'action-required': f.actionRequired,
        recursive: f.recursive,
      });
    }
  });

  test('14 canonical values are stated literally; 16 (one per wire value) round-trip', () => {
    assert.equal(ALL.filter((f) => toWire('seed', f).lossy === undefined).length, 14);
    const back = ALL.filter((f) => {
      const r = fromWire('seed', toWire('seed', f).data);
      return r.ok && JSON.stringify(r.value) === JSON.stringify(f);
    });
    assert.equal(back.length, 16);
  });

  test('every value QEMU 7.2 can emit survives seed → canonical', () => {
    const reachable = ALL.filter(reachableInQemu);
    assert.equal(reachable.length, 11);
    for (const f of reachable) {
      const back = fromWire('seed', toWire('seed', f).data);
      assert.deepEqual(back, { ok: true, value: f }, JSON.stringify(f));
    }
  });

  test('property: a value without a stated loss round-trips; a lost one says why', () => {
    fc.assert(
      fc.property(canonical, (f) => {
        const enc = toWire('seed', f);
        const back = fromWire('seed', enc.data);
        assert.ok(back.ok);
        if (enc.lossy === undefined) assert.deepEqual(back.value, f);
        else assert.match(enc.lossy, /^the seed has no .*(lost|recipient 'guest')$/);
      }),
    );
  });

  test('guest ignore goes out as hypervisor-ignore with recursive=true, stated as lossy', () => {
    const f: MemoryFailure = {
      recipient: 'guest',
      action: 'ignore',
      actionRequired: false,
      recursive: true,
    };
    const enc = toWire('seed', f);
    assert.deepEqual(enc.data, {
      action: 'hypervisor-ignore',
      flags: { 'action-required': false, recursive: true },
    });
    assert.match(enc.lossy ?? '', /no guest-ignore action/);
  });

  test('an unreachable value names the recipient it loses', () => {
    const enc = toWire('seed', {
      recipient: 'guest',
      action: 'fatal',
      actionRequired: true,
      recursive: false,
    });
    assert.equal(enc.data.action, 'hypervisor-fatal');
    assert.match(enc.lossy ?? '', /recipient 'guest' is lost/);
  });

  test('absent flags, or absent members of flags, read as false', () => {
    assert.deepEqual(fromWire('seed', { action: 'guest-mce-inject' }), {
      ok: true,
      value: { recipient: 'guest', action: 'inject', actionRequired: false, recursive: false },
    });
    assert.deepEqual(fromWire('seed', { action: 'guest-mce-fatal', flags: { recursive: true } }), {
      ok: true,
      value: { recipient: 'guest', action: 'reset', actionRequired: false, recursive: true },
    });
    assert.deepEqual(
      fromWire('seed', { action: 'hypervisor-fatal', flags: { 'action-required': true } }),
      {
        ok: true,
        value: { recipient: 'hypervisor', action: 'fatal', actionRequired: true, recursive: false },
      },
    );
  });

  test('rejects QEMU actions, wrong flag types and non-objects', () => {
    const cases: [unknown, string][] = [
      [{ action: 'inject' }, 'data.action'],
      [{ action: 'guest-mce' }, 'data.action'],
      [{ action: 'guest-mce-inject', flags: [] }, 'data.flags'],
      [{ action: 'guest-mce-inject', flags: { recursive: 1 } }, 'data.flags.recursive'],
      [
        { action: 'guest-mce-inject', flags: { 'action-required': null } },
        'data.flags.action-required',
      ],
      [null, 'data'],
    ];
    for (const [data, path] of cases) {
      const r = fromWire('seed', data);
      assert.equal(r.ok, false, JSON.stringify(data));
      if (!r.ok) assert.equal(r.error.path, path);
    }
  });
});

describe('readMemoryFailure: an event on its way in', () => {
  test('valid data in either dialect reads as the canonical failure, with no error', () => {
    for (const dialect of DIALECTS) {
      for (const f of ALL) {
        const enc = toWire(dialect, f);
        const read = readMemoryFailure(enc.data, dialect);
        assert.equal(read.error, null);
        assert.equal(read.dialect, dialect);
        if (enc.lossy === undefined) assert.deepEqual(read.failure, f);
        assert.deepEqual(readMemoryFailure(enc.data), read, 'the dialect told from the shape');
      }
    }
  });

  test('an unknown member makes it invalid, but what it says is still read', () => {
    const data = {
      recipient: 'guest',
      action: 'reset',
      flags: { 'action-required': true, recursive: true },
      colour: 'red',
    };
    assert.deepEqual(readMemoryFailure(data, 'qemu'), {
      dialect: 'qemu',
      failure: { recipient: 'guest', action: 'reset', actionRequired: true, recursive: true },
      error: 'qemu: data.colour: unknown member',
    });
  });

  test('a wrong value leaves no failure, and the error says where', () => {
    const read = readMemoryFailure({ action: 'guest-mce-inject', flags: { recursive: 'yes' } });
    assert.deepEqual(read, {
      dialect: 'seed',
      failure: null,
      error: 'seed: data.flags.recursive: expected bool, got "yes"',
    });
  });

  test('data of no dialect says why it could not tell', () => {
    const read = readMemoryFailure({ action: 'explode' });
    assert.equal(read.dialect, null);
    assert.equal(read.failure, null);
    assert.match(read.error ?? '', /cannot tell the dialect.*'explode'/);
  });
});

describe('detectDialect', () => {
  test('tells each dialect by shape, for every canonical value', () => {
    for (const dialect of DIALECTS) {
      for (const f of ALL) {
        assert.deepEqual(detectDialect(toWire(dialect, f).data), { ok: true, value: dialect });
      }
    }
  });

  test('a bare QEMU action without recipient is still QEMU (and then fails there precisely)', () => {
    assert.deepEqual(detectDialect({ action: 'inject' }), { ok: true, value: 'qemu' });
    const r = fromAnyWire({ action: 'inject' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.path, 'data.recipient');
  });

  test('says why it cannot tell', () => {
    const r = detectDialect({ action: 'explode' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /cannot tell the dialect.*'explode'/);
    assert.equal(detectDialect(42).ok, false);
  });

  test('fromAnyWire reads both and says which', () => {
    const r = fromAnyWire({ action: 'guest-mce-inject', flags: { 'action-required': true } });
    assert.deepEqual(r, {
      ok: true,
      value: {
        recipient: 'guest',
        action: 'inject',
        actionRequired: true,
        recursive: false,
        dialect: 'seed',
      },
    });
  });

  test('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        for (const d of DIALECTS) fromWire(d, data);
        fromAnyWire(data);
      }),
    );
  });
});
