/**
 * XDR (RFC 4506), the encoding of libvirt's RPC bodies, as small composable
 * codecs: a codec reads and writes one type, and structs, optionals
 * (`*type` pointers) and arrays are built from smaller codecs.
 *
 *   const dom = struct({ name: string(REMOTE_STRING_MAX), uuid: opaqueFixed(16), id: int });
 *   const bytes = encode(dom, { name: 'vm1', uuid, id: 3 });
 *   const back = decode(dom, bytes);          // throws LibvirtProtocolError
 *
 * Everything is 4-byte aligned and big-endian. Every variable-length item has
 * an explicit maximum (libvirt's .x files give one for each): a length word
 * over it is an error before anything is allocated. Decoding never reads past
 * the buffer: a short buffer is 'xdr-truncated', a bad bool or non-zero padding
 * 'xdr-invalid'.
 */
import { LibvirtProtocolError } from './errors.js';

export class XdrReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) {
      throw new LibvirtProtocolError(
        'xdr-truncated',
        `${what}: needs ${n} bytes at offset ${this.pos}, ${this.buf.length - this.pos} left`,
      );
    }
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** `n` bytes, then the padding to a multiple of 4 (which must be zero). */
  bytes(n: number, what: string): Buffer {
    const start = this.skip(n, what);
    return this.buf.subarray(start, start + n);
  }

  /** `n` bytes (and their zero padding) as UTF-8 text, decoded in place. */
  utf8(n: number, what: string): string {
    const start = this.skip(n, what);
    return this.buf.toString('utf8', start, start + n);
  }

  /** Moves past `n` bytes and their padding (checked zero); returns where they start. */
  private skip(n: number, what: string): number {
    const padded = (n + 3) & ~3;
    this.need(padded, what);
    const start = this.pos;
    for (let i = start + n; i < start + padded; i++) {
      if (this.buf[i] !== 0) {
        throw new LibvirtProtocolError('xdr-invalid', `${what}: non-zero padding at offset ${i}`);
      }
    }
    this.pos += padded;
    return start;
  }

  /** A length word checked against `max` before anything is read or allocated. */
  length(max: number, what: string): number {
    const n = this.uint();
    if (n > max) {
      throw new LibvirtProtocolError(
        'xdr-invalid',
        `${what}: length ${n} is over its maximum ${max}`,
      );
    }
    return n;
  }
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): void {
    this.reserve(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  uint(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  hyper(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  uhyper(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  double(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    const padded = (b.length + 3) & ~3;
    this.reserve(padded);
    this.buf.set(b, this.pos);
    this.buf.fill(0, this.pos + b.length, this.pos + padded);
    this.pos += padded;
  }

  /** The bytes written so far (a view, valid until the next write). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Reads and writes one XDR type. */
export interface Codec<T> {
  /** For error messages: the XDR type as the .x files spell it. */
  readonly xdr: string;
  read(r: XdrReader): T;
  /** Throws RangeError for a value the type cannot carry (a bug in the caller). */
  write(w: XdrWriter, value: T): void;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what}: ${value} is not an integer in [${min}, ${max}]`);
  }
}

export const int: Codec<number> = {
  xdr: 'int',
  read: (r) => r.int(),
  write: (w, v) => {
    checkRange(v, -0x8000_0000, 0x7fff_ffff, 'int');
    w.int(v);
  },
};

export const uint: Codec<number> = {
  xdr: 'unsigned int',
  read: (r) => r.uint(),
  write: (w, v) => {
    checkRange(v, 0, 0xffff_ffff, 'unsigned int');
    w.uint(v);
  },
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export const hyper: Codec<bigint> = {
  xdr: 'hyper',
  read: (r) => r.hyper(),
  write: (w, v) => {
    if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`hyper: ${v} is out of range`);
    w.hyper(v);
  },
};

export const uhyper: Codec<bigint> = {
  xdr: 'unsigned hyper',
  read: (r) => r.uhyper(),
  write: (w, v) => {
    if (v < 0n || v > 2n ** 64n - 1n) throw new RangeError(`unsigned hyper: ${v} is out of range`);
    w.uhyper(v);
  },
};

export const bool: Codec<boolean> = {
  xdr: 'bool',
  read: (r) => {
    const v = r.int();
    if (v !== 0 && v !== 1)
      throw new LibvirtProtocolError('xdr-invalid', `bool: ${v} is neither 0 nor 1`);
    return v === 1;
  },
  write: (w, v) => w.int(v ? 1 : 0),
};

/** `string<max>`: UTF-8 text (libvirt's strings are C strings; invalid UTF-8 reads as U+FFFD). */
export function string(max: number): Codec<string> {
  const xdr = `string<${max}>`;
  return {
    xdr,
    read: (r) => r.utf8(r.length(max, xdr), xdr),
    write: (w, v) => {
      const b = Buffer.from(v, 'utf8');
      if (b.length > max) throw new RangeError(`${xdr}: ${b.length} bytes`);
      w.uint(b.length);
      w.bytes(b);
    },
  };
}

/** `opaque[n]`: exactly n bytes. */
export function opaqueFixed(n: number): Codec<Buffer> {
  const xdr = `opaque[${n}]`;
  return {
    xdr,
    read: (r) => Buffer.from(r.bytes(n, xdr)),
    write: (w, v) => {
      if (v.length !== n) throw new RangeError(`${xdr}: ${v.length} bytes`);
      w.bytes(v);
    },
  };
}

/** `opaque<max>`: up to max bytes. */
export function opaqueVar(max: number): Codec<Buffer> {
  const xdr = `opaque<${max}>`;
  return {
    xdr,
    read: (r) => Buffer.from(r.bytes(r.length(max, xdr), xdr)),
    write: (w, v) => {
      if (v.length > max) throw new RangeError(`${xdr}: ${v.length} bytes`);
      w.uint(v.length);
      w.bytes(v);
    },
  };
}

/** `type *`: a bool saying whether a value follows; null when not. */
export function optional<T>(inner: Codec<T>): Codec<T | null> {
  return {
    xdr: `${inner.xdr} *`,
    read: (r) => (bool.read(r) ? inner.read(r) : null),
    write: (w, v) => {
      bool.write(w, v !== null);
      if (v !== null) inner.write(w, v);
    },
  };
}

/** `type<max>`: a counted array. */
export function array<T>(inner: Codec<T>, max: number): Codec<T[]> {
  const xdr = `${inner.xdr}<${max}>`;
  return {
    xdr,
    read: (r) => {
      const n = r.length(max, xdr);
      // Each element takes at least 4 bytes: a count the body cannot hold is caught here.
      if (n * 4 > r.remaining) {
        throw new LibvirtProtocolError(
          'xdr-truncated',
          `${xdr}: ${n} elements cannot fit in the ${r.remaining} bytes left`,
        );
      }
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(inner.read(r));
      return out;
    },
    write: (w, v) => {
      if (v.length > max) throw new RangeError(`${xdr}: ${v.length} elements`);
      w.uint(v.length);
      for (const item of v) inner.write(w, item);
    },
  };
}

type Fields = Record<string, Codec<unknown>>;
export type StructValue<F extends Fields> = { [K in keyof F]: CodecValue<F[K]> };

/** A struct: its fields in declaration order (the object's key order). */
export function struct<F extends Fields>(fields: F): Codec<StructValue<F>> {
  const entries = Object.entries(fields);
  return {
    xdr: `struct { ${entries.map(([k, c]) => `${c.xdr} ${k};`).join(' ')} }`,
    read: (r) => {
      const out: Record<string, unknown> = {};
      for (const [k, c] of entries) out[k] = c.read(r);
      return out as StructValue<F>;
    },
    write: (w, v) => {
      for (const [k, c] of entries) c.write(w, (v as Record<string, unknown>)[k]);
    },
  };
}

/** The empty body (`void`). */
export const none: Codec<void> = { xdr: 'void', read: () => undefined, write: () => {} };

export function encode<T>(codec: Codec<T>, value: T): Buffer {
  const w = new XdrWriter();
  codec.write(w, value);
  return Buffer.from(w.result());
}

/** Decodes a whole body: bytes left over are an error ('xdr-trailing'). */
export function decode<T>(codec: Codec<T>, bytes: Buffer): T {
  const r = new XdrReader(bytes);
  const value = codec.read(r);
  if (r.remaining !== 0) {
    throw new LibvirtProtocolError(
      'xdr-trailing',
      `${r.remaining} bytes left after ${codec.xdr.length > 60 ? 'the body' : codec.xdr}`,
    );
  }
  return value;
}
