/**
 * Incremental splitter of a libvirt RPC byte stream into packets.
 *
 *   const framer = new LibvirtFramer({
 *     packet: (header, body) => ...,   // one complete packet
 *     error: (err) => ...,             // a LibvirtProtocolError: the stream is unusable
 *   });
 *   socket.on('data', (chunk) => framer.push(chunk));
 *   socket.on('end', () => framer.end());
 *
 * A packet may be split anywhere, several may come in one read. State: reading
 * the 4-byte length word, then the rest of the packet. The length is checked
 * before a byte of the packet is kept: below 28 (length + header) or above the
 * maximum (default libvirt's own, 4 + 32 MiB) is an error, so memory stays
 * bounded by the maximum plus one read. A packet that lies inside one chunk is
 * handed out as a view of that chunk, without a copy.
 *
 * Unlike QMP, the stream has no resync point: after a length error nothing
 * later can be trusted, so the framer stops (every later push is ignored) and
 * the owner hangs up. Header words are handed out as sent: which program,
 * type and status values make sense is the client's business.
 */
import { LibvirtProtocolError } from './errors.js';
import {
  DEFAULT_MAX_PACKET_BYTES,
  HEADER_BYTES,
  PACKET_LENGTH_BYTES,
  type RawHeader,
  readRawHeader,
} from './packet.js';

export interface LibvirtFramerSink {
  packet(header: RawHeader, body: Buffer): void;
  error(err: LibvirtProtocolError): void;
}

export interface LibvirtFramerLimits {
  /** Largest packet in bytes, length word included (default 4 + 32 MiB). */
  readonly maxPacketBytes?: number;
}

const MIN_PACKET_BYTES = PACKET_LENGTH_BYTES + HEADER_BYTES;

export class LibvirtFramer {
  readonly maxPacketBytes: number;
  /** Bytes of the packet (or length word) in progress, from earlier chunks. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** The packet in progress' total length once its length word is read; 0 before. */
  private want = 0;
  private failed = false;

  constructor(
    private readonly sink: LibvirtFramerSink,
    limits: LibvirtFramerLimits = {},
  ) {
    this.maxPacketBytes = limits.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    if (this.maxPacketBytes < MIN_PACKET_BYTES) {
      throw new RangeError(`maxPacketBytes must be at least ${MIN_PACKET_BYTES}`);
    }
  }

  /** Bytes held for a packet not yet complete. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /** Whether the stream is between packets. */
  get idle(): boolean {
    return this.partBytes === 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len && !this.failed) {
      if (this.partBytes === 0) {
        // Between packets: whole packets inside the chunk go out as views.
        if (len - pos < PACKET_LENGTH_BYTES) {
          this.keep(chunk.subarray(pos));
          return;
        }
        const total = chunk.readUInt32BE(pos);
        if (!this.checkLength(total)) return;
        if (len - pos >= total) {
          this.emit(chunk.subarray(pos, pos + total));
          pos += total;
          continue;
        }
        this.want = total;
        this.keep(chunk.subarray(pos));
        return;
      }
      if (this.want === 0) {
        // The length word itself was split.
        const take = Math.min(PACKET_LENGTH_BYTES - this.partBytes, len - pos);
        this.keep(chunk.subarray(pos, pos + take));
        pos += take;
        if (this.partBytes < PACKET_LENGTH_BYTES) return;
        const total = Buffer.concat(this.parts).readUInt32BE(0);
        if (!this.checkLength(total)) return;
        this.want = total;
        continue;
      }
      const take = Math.min(this.want - this.partBytes, len - pos);
      this.keep(chunk.subarray(pos, pos + take));
      pos += take;
      if (this.partBytes === this.want) {
        const packet = Buffer.concat(this.parts, this.partBytes);
        this.parts = [];
        this.partBytes = 0;
        this.want = 0;
        this.emit(packet);
      }
    }
  }

  /**
   * The stream ended. Returns (and reports) a 'truncated' error when it ended
   * inside a packet, null when between packets.
   */
  end(): LibvirtProtocolError | null {
    if (this.failed || this.partBytes === 0) return null;
    const err = new LibvirtProtocolError(
      'truncated',
      this.want === 0
        ? `the stream ended inside a length word (${this.partBytes} of 4 bytes)`
        : `the stream ended inside a packet (${this.partBytes} of ${this.want} bytes)`,
    );
    this.parts = [];
    this.partBytes = 0;
    this.want = 0;
    this.sink.error(err);
    return err;
  }

  private keep(part: Buffer): void {
    // Copied: the caller may reuse its buffer between pushes.
    this.parts.push(Buffer.from(part));
    this.partBytes += part.length;
  }

  private checkLength(total: number): boolean {
    if (total >= MIN_PACKET_BYTES && total <= this.maxPacketBytes) return true;
    this.failed = true;
    this.parts = [];
    this.partBytes = 0;
    this.sink.error(
      total < MIN_PACKET_BYTES
        ? new LibvirtProtocolError(
            'packet-too-small',
            `packet length ${total} is below the ${MIN_PACKET_BYTES} bytes of length and header`,
          )
        : new LibvirtProtocolError(
            'packet-too-large',
            `packet length ${total} is over the maximum of ${this.maxPacketBytes} bytes`,
          ),
    );
    return false;
  }

  private emit(packet: Buffer): void {
    this.sink.packet(readRawHeader(packet, PACKET_LENGTH_BYTES), packet.subarray(MIN_PACKET_BYTES));
  }
}
