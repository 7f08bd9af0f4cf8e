/**
 * One libvirt RPC packet: a 4-byte big-endian length (counting itself), a
 * header of six 32-bit words, and an XDR body (virnetprotocol.x).
 *
 *   length | program | version | procedure | type | serial | status | body...
 *
 * type: CALL (client → daemon), REPLY (its answer, same serial), MESSAGE (an
 * event or a keepalive, serial 0), STREAM (data of a stream; memfail opens
 * none). status: OK, ERROR (the body is a remote_error), CONTINUE (more
 * stream data follows).
 */

export const PACKET_LENGTH_BYTES = 4;
export const HEADER_BYTES = 24;
/** VIR_NET_MESSAGE_MAX: header plus body, the length word not included. */
export const VIR_NET_MESSAGE_MAX = 32 * 1024 * 1024;
/** The largest packet libvirt sends or accepts, length word included. */
export const DEFAULT_MAX_PACKET_BYTES = PACKET_LENGTH_BYTES + VIR_NET_MESSAGE_MAX;

export const REMOTE_PROGRAM = 0x20008086;
export const QEMU_PROGRAM = 0x20008087;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const PROTOCOL_VERSION = 1;

export type PacketType = 'call' | 'reply' | 'message' | 'stream';
export type PacketStatus = 'ok' | 'error' | 'continue';

export const PACKET_TYPES: readonly PacketType[] = ['call', 'reply', 'message', 'stream'];
export const PACKET_STATUSES: readonly PacketStatus[] = ['ok', 'error', 'continue'];

export interface PacketHeader {
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly type: PacketType;
  readonly serial: number;
  readonly status: PacketStatus;
}

export interface Packet {
  readonly header: PacketHeader;
  readonly body: Buffer;
}

/** The header's words as sent; type and status numbers not (yet) known are kept as numbers. */
export interface RawHeader {
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly type: number;
  readonly serial: number;
  readonly status: number;
}

export function readRawHeader(buf: Buffer, at: number): RawHeader {
  return {
    program: buf.readUInt32BE(at),
    version: buf.readUInt32BE(at + 4),
    procedure: buf.readInt32BE(at + 8),
    type: buf.readInt32BE(at + 12),
    serial: buf.readUInt32BE(at + 16),
    status: buf.readInt32BE(at + 20),
  };
}

/** Length word + header + body, ready to write. */
export function encodePacket(header: PacketHeader, body: Buffer = Buffer.alloc(0)): Buffer {
  const total = PACKET_LENGTH_BYTES + HEADER_BYTES + body.length;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(header.program, 4);
  out.writeUInt32BE(header.version, 8);
  out.writeInt32BE(header.procedure, 12);
  out.writeInt32BE(PACKET_TYPES.indexOf(header.type), 16);
  out.writeUInt32BE(header.serial, 20);
  out.writeInt32BE(PACKET_STATUSES.indexOf(header.status), 24);
  body.copy(out, PACKET_LENGTH_BYTES + HEADER_BYTES);
  return out;
}
