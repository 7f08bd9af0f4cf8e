import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LibvirtProtocolError } from '../../src/libvirt/errors.js';
import { LibvirtFramer } from '../../src/libvirt/framing.js';
import {
  DEFAULT_MAX_PACKET_BYTES,
  encodePacket,
  PACKET_STATUSES,
  PACKET_TYPES,
  type PacketHeader,
  type RawHeader,
  REMOTE_PROGRAM,
} from '../../src/libvirt/packet.js';

interface Collected {
  packets: { header: RawHeader; body: string }[];
  errors: LibvirtProtocolError[];
  framer: LibvirtFramer;
}

function collector(maxPacketBytes?: number): Collected {
  const out: Collected = { packets: [], errors: [], framer: undefined as unknown as LibvirtFramer };
  out.framer = new LibvirtFramer(
    {
      packet: (header, body) => out.packets.push({ header, body: body.toString('hex') }),
      error: (e) => out.errors.push(e),
    },
    maxPacketBytes === undefined ? {} : { maxPacketBytes },
  );
  return out;
}

/** Feeds `bytes` cut at the given offsets, each piece in a buffer that is reused (zeroed) after the push. */
function feed(c: Collected, bytes: Buffer, cuts: readonly number[]): void {
  const points = [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) {
      const piece = Buffer.from(bytes.subarray(prev, p));
      c.framer.push(piece);
      piece.fill(0);
    }
    prev = p;
  }
}

const header: fc.Arbitrary<PacketHeader> = fc.record({
  program: fc.constantFrom(REMOTE_PROGRAM, 0x20008087, 0x6b656570),
  version: fc.constant(1),
  procedure: fc.integer({ min: 1, max: 500 }),
  type: fc.constantFrom(...PACKET_TYPES),
  serial: fc.integer({ min: 0, max: 0xffff_ffff }),
  status: fc.constantFrom(...PACKET_STATUSES),
});

const packet = fc.record({
  header,
  body: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
});

function expected(p: { header: PacketHeader; body: Buffer }) {
  return {
    header: {
      ...p.header,
      type: PACKET_TYPES.indexOf(p.header.type),
      status: PACKET_STATUSES.indexOf(p.header.status),
    },
    body: p.body.toString('hex'),
  };
}

describe('LibvirtFramer', () => {
  test('any split of a stream of packets gives the same packets, in order', () => {
    fc.assert(
      fc.property(
        fc.array(packet, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (ps, cuts) => {
          const bytes = Buffer.concat(ps.map((p) => encodePacket(p.header, p.body)));
          const c = collector();
          feed(c, bytes, cuts);
          assert.deepEqual(c.errors, []);
          assert.deepEqual(c.packets, ps.map(expected));
          assert.equal(c.framer.bufferedBytes, 0);
          assert.equal(c.framer.end(), null);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('a stream cut inside a packet (or its length word) ends as truncated, with the count', () => {
    fc.assert(
      fc.property(packet, fc.nat(), (p, at) => {
        const bytes = encodePacket(p.header, p.body);
        const cut = 1 + (at % (bytes.length - 1));
        const c = collector();
        c.framer.push(bytes.subarray(0, cut));
        const err = c.framer.end();
        assert.ok(err instanceof LibvirtProtocolError);
        assert.equal(err.code, 'truncated');
        assert.match(
          err.message,
          cut < 4 ? new RegExp(`${cut} of 4 bytes`) : new RegExp(`${cut} of ${bytes.length} bytes`),
        );
        assert.deepEqual(c.errors, [err]);
        assert.deepEqual(c.packets, []);
      }),
    );
  });

  test('a length of 2^31 is refused at once, before any byte of it is kept; later input is ignored', () => {
    const c = collector();
    c.framer.push(Buffer.from('80000000', 'hex'));
    assert.equal(c.errors.length, 1);
    assert.equal(c.errors[0]?.code, 'packet-too-large');
    assert.match(c.errors[0]?.message ?? '', /2147483648 is over the maximum of 33554436 bytes/);
    c.framer.push(Buffer.alloc(1 << 20));
    assert.equal(c.framer.bufferedBytes, 0);
    assert.equal(c.errors.length, 1);
    assert.equal(c.framer.end(), null);
  });

  test("the maximum is libvirt's (4 + 32 MiB) by default, and can be lowered", () => {
    assert.equal(DEFAULT_MAX_PACKET_BYTES, 4 + 32 * 1024 * 1024);
    const c = collector(100);
    const ok = encodePacket(
      { program: REMOTE_PROGRAM, version: 1, procedure: 1, type: 'reply', serial: 1, status: 'ok' },
      Buffer.alloc(72),
    );
    c.framer.push(ok);
    assert.equal(c.packets.length, 1);
    const big = encodePacket(
      { program: REMOTE_PROGRAM, version: 1, procedure: 1, type: 'reply', serial: 2, status: 'ok' },
      Buffer.alloc(76),
    );
    // Split inside the length word: the check still happens once the word is complete.
    c.framer.push(big.subarray(0, 2));
    c.framer.push(big.subarray(2, 6));
    assert.equal(c.errors[0]?.code, 'packet-too-large');
    assert.match(c.errors[0]?.message ?? '', /104 is over the maximum of 100/);
  });

  test('a length below length word + header is refused', () => {
    for (const n of [0, 4, 27]) {
      const c = collector();
      const word = Buffer.alloc(4);
      word.writeUInt32BE(n);
      c.framer.push(word);
      assert.equal(c.errors[0]?.code, 'packet-too-small', String(n));
    }
  });

  test('garbage is a precise error, never a crash or unbounded buffering', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (bytes, cuts) => {
          const c = collector(1024);
          feed(c, Buffer.from(bytes), cuts);
          c.framer.end();
          assert.ok(c.errors.length <= 1);
          assert.ok(c.framer.bufferedBytes <= 1024);
        },
      ),
      { numRuns: 300 },
    );
  });
});
