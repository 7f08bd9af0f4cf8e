import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LibvirtProtocolError } from '../../src/libvirt/errors.js';
import { monitorEventMsg, remoteError } from '../../src/libvirt/types.js';
import {
  array,
  bool,
  type Codec,
  decode,
  encode,
  hyper,
  int,
  none,
  opaqueFixed,
  opaqueVar,
  optional,
  string,
  struct,
  uhyper,
  uint,
} from '../../src/libvirt/xdr.js';

function hex(b: Buffer): string {
  return b.toString('hex');
}

function protocolError(code: LibvirtProtocolError['code'], pattern?: RegExp) {
  return (err: unknown) =>
    err instanceof LibvirtProtocolError &&
    err.code === code &&
    (pattern === undefined || pattern.test(err.message));
}

describe('XDR codecs: the bytes RFC 4506 prescribes', () => {
  test('integers are big-endian words', () => {
    assert.equal(hex(encode(int, -2)), 'fffffffe');
    assert.equal(hex(encode(uint, 0xdeadbeef)), 'deadbeef');
    assert.equal(hex(encode(hyper, -1n)), 'ffffffffffffffff');
    assert.equal(hex(encode(uhyper, 2n ** 64n - 2n)), 'fffffffffffffffe');
    assert.equal(hex(encode(bool, true)), '00000001');
  });

  test('strings and variable opaques: length, bytes, zero padding to 4', () => {
    assert.equal(hex(encode(string(10), 'abcde')), '00000005616263646500' + '0000');
    assert.equal(hex(encode(opaqueVar(8), Buffer.from([1, 2]))), '0000000201020000');
    assert.equal(hex(encode(opaqueFixed(3), Buffer.from([1, 2, 3]))), '01020300');
    assert.equal(hex(encode(string(4), '')), '00000000');
  });

  test('optional is a bool then the value; arrays a count then the items; structs in order', () => {
    const s = struct({ a: int, b: optional(string(8)), c: array(uint, 3) });
    assert.equal(
      hex(encode(s, { a: 1, b: 'x', c: [7, 8] })),
      '00000001' + '00000001' + '0000000178000000' + '00000002' + '00000007' + '00000008',
    );
    assert.equal(hex(encode(s, { a: 1, b: null, c: [] })), '00000001' + '00000000' + '00000000');
    assert.equal(hex(encode(none, undefined)), '');
  });

  test('values a type cannot carry are refused when encoding (RangeError)', () => {
    assert.throws(() => encode(int, 2 ** 31), RangeError);
    assert.throws(() => encode(uint, -1), RangeError);
    assert.throws(() => encode(int, 1.5), RangeError);
    assert.throws(() => encode(string(3), 'abcd'), RangeError);
    assert.throws(() => encode(opaqueFixed(16), Buffer.alloc(15)), RangeError);
    assert.throws(() => encode(array(int, 1), [1, 2]), RangeError);
    assert.throws(() => encode(hyper, 2n ** 63n), RangeError);
  });
});

describe('XDR decoding: precise errors, never a read past the end', () => {
  test('a short buffer is xdr-truncated, naming what was being read', () => {
    assert.throws(() => decode(int, Buffer.alloc(3)), protocolError('xdr-truncated', /int/));
    assert.throws(
      () => decode(string(100), Buffer.from('0000000a6162', 'hex')),
      protocolError('xdr-truncated', /string<100>/),
    );
    assert.throws(() => decode(hyper, Buffer.alloc(4)), protocolError('xdr-truncated'));
  });

  test('a length over the maximum is refused before anything is allocated', () => {
    const huge = Buffer.from('7fffffff', 'hex');
    assert.throws(
      () => decode(string(4_194_304), huge),
      protocolError('xdr-invalid', /over its maximum/),
    );
    assert.throws(() => decode(opaqueVar(16), huge), protocolError('xdr-invalid'));
    assert.throws(() => decode(array(int, 16_384), huge), protocolError('xdr-invalid'));
    // Within the maximum, but more elements than the bytes left can hold.
    assert.throws(
      () => decode(array(int, 16_384), Buffer.from('00001000', 'hex')),
      protocolError('xdr-truncated', /cannot fit/),
    );
  });

  test('a bool other than 0/1, non-zero padding and trailing bytes are errors', () => {
    assert.throws(() => decode(bool, Buffer.from('00000002', 'hex')), protocolError('xdr-invalid'));
    assert.throws(
      () => decode(optional(int), Buffer.from('0000000500000001', 'hex')),
      protocolError('xdr-invalid', /neither 0 nor 1/),
    );
    assert.throws(
      () => decode(string(8), Buffer.from('0000000161000100', 'hex')),
      protocolError('xdr-invalid', /padding/),
    );
    assert.throws(
      () => decode(int, Buffer.from('0000000100', 'hex')),
      protocolError('xdr-trailing', /1 bytes left/),
    );
  });

  test('remote_error decodes as libvirt sends it', () => {
    const body = encode(remoteError, {
      code: 42,
      domain: 10,
      message: "Domain not found: no domain with matching name 'x'",
      level: 2,
      dom: null,
      str1: 'Domain not found',
      str2: null,
      str3: null,
      int1: -1,
      int2: -1,
      net: null,
    });
    const back = decode(remoteError, body);
    assert.equal(back.code, 42);
    assert.equal(back.message, "Domain not found: no domain with matching name 'x'");
    assert.equal(back.str2, null);
  });
});

/** A random codec paired with values of its type. */
type Sample = { codec: Codec<unknown>; value: unknown };

const leaf: fc.Arbitrary<Sample> = fc.oneof(
  fc
    .integer({ min: -0x8000_0000, max: 0x7fff_ffff })
    .map((v) => ({ codec: int as Codec<unknown>, value: v })),
  fc
    .integer({ min: 0, max: 0xffff_ffff })
    .map((v) => ({ codec: uint as Codec<unknown>, value: v })),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((v) => ({ codec: hyper as Codec<unknown>, value: v })),
  fc
    .bigInt({ min: 0n, max: 2n ** 64n - 1n })
    .map((v) => ({ codec: uhyper as Codec<unknown>, value: v })),
  fc.boolean().map((v) => ({ codec: bool as Codec<unknown>, value: v })),
  fc
    .string({ unit: 'grapheme', maxLength: 20 })
    .map((v) => ({ codec: string(200) as Codec<unknown>, value: v })),
  fc
    .uint8Array({ maxLength: 9 })
    .map((v) => ({ codec: opaqueVar(9) as Codec<unknown>, value: Buffer.from(v) })),
  fc
    .uint8Array({ minLength: 5, maxLength: 5 })
    .map((v) => ({ codec: opaqueFixed(5) as Codec<unknown>, value: Buffer.from(v) })),
);

const sample: fc.Arbitrary<Sample> = fc.letrec<{ s: Sample }>((tie) => ({
  s: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('s').chain((inner) =>
      fc.boolean().map((present) => ({
        codec: optional(inner.codec) as Codec<unknown>,
        value: present ? inner.value : null,
      })),
    ),
    fc.array(tie('s'), { maxLength: 4 }).map((fields) => ({
      codec: struct(Object.fromEntries(fields.map((f, i) => [`f${i}`, f.codec]))) as Codec<unknown>,
      value: Object.fromEntries(fields.map((f, i) => [`f${i}`, f.value])),
    })),
  ),
})).s;

describe("a monitor event's seconds: a hyper read as a number", () => {
  const event = (seconds: bigint) => {
    const body = encode(monitorEventMsg, {
      callbackID: 1,
      dom: { name: 'vm', uuid: Buffer.alloc(16), id: 1 },
      event: 'MEMORY_FAILURE',
      seconds: 0,
      micros: 0,
      details: null,
    });
    // seconds sit after callbackID (4), the domain (4 + 4 + 16 + 4) and the event name (4 + 16).
    body.writeBigInt64BE(seconds, 52);
    return body;
  };

  test('every value within ±(2^53 - 1) reads exactly; beyond is xdr-invalid', () => {
    for (const v of [
      0n,
      1n,
      -1n,
      1_764_000_000n,
      2n ** 32n,
      -(2n ** 32n) + 1n,
      2n ** 53n - 1n,
      -(2n ** 53n) + 1n,
    ]) {
      assert.equal(decode(monitorEventMsg, event(v)).seconds, Number(v));
    }
    for (const v of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      assert.throws(() => decode(monitorEventMsg, event(v)), protocolError('xdr-invalid', /2\^53/));
    }
  });
});

describe('XDR properties', () => {
  test('decode(encode(v)) is v, the size is a multiple of 4, and every strict prefix is truncated', () => {
    fc.assert(
      fc.property(sample, ({ codec, value }) => {
        const bytes = encode(codec, value);
        assert.equal(bytes.length % 4, 0);
        assert.deepEqual(decode(codec, bytes), value);
        for (let n = 0; n < bytes.length; n += 4) {
          assert.throws(() => decode(codec, bytes.subarray(0, n)), protocolError('xdr-truncated'));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary bytes decode to a value or a LibvirtProtocolError, nothing else', () => {
    const target = struct({ a: remoteError, b: array(optional(string(64)), 8) });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decode(target, Buffer.from(bytes));
        } catch (err) {
          assert.ok(err instanceof LibvirtProtocolError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});
