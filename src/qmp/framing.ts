/**
 * Incremental splitter of a QMP byte stream into JSON objects.
 *
 *   const framer = new QmpFramer({
 *     message: (obj, text) => ...,    // one complete top-level JSON object, and its text
 *     error: (err) => ...,            // a QmpProtocolError; framing goes on after it
 *   });
 *   socket.on('data', (chunk) => framer.push(chunk));
 *   socket.on('end', () => { const err = framer.end(); ... });
 *
 * Input is bytes: a message may be split anywhere (inside a UTF-8 sequence too),
 * several may come in one read, separated by any JSON whitespace, and a message
 * may span lines. Each message is decoded once, when complete.
 *
 * Fast path: QEMU writes one message per line. While between messages, every
 * complete line of a chunk is handed to JSON.parse directly. Only a line that
 * does not parse as one complete value (a message spread over lines, two on one
 * line, a message cut by the read, garbage) goes through the byte scanner below,
 * which tracks strings and nesting to find where each value ends. The fast path
 * is limited to lines too short to exceed the limits (2 bytes per nesting level),
 * so both paths enforce the same limits.
 *
 * Limits (defaults follow QEMU 7.2's JSON streamer: 64 MiB per message and
 * nesting depth 1024): a message over a limit is reported once and its bytes
 * are discarded as they arrive (the scanner only counts them), so memory stays
 * bounded by the limit plus one read. A control character other than tab, CR
 * and LF, or a 0xFF byte, aborts the message in progress (QMP's documented way
 * for a peer to force the parser back to a known-good state).
 *
 * Not supported: QEMU's single-quoted string extension (reported as invalid-json).
 * Invalid UTF-8 decodes as U+FFFD.
 *
 * Each message's text is handed out with it: the string that was parsed (no
 * copy, no second decode), from its opening brace to its closing brace —
 * QEMU's own spacing kept, the surrounding whitespace and line terminator
 * (QEMU's CRLF) not. On the fast path it is a slice of the chunk's decoded
 * text, so holding on to it keeps that chunk's text alive.
 */

import { QmpProtocolError } from './errors.js';
import type { JsonObject } from './message.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 1024;

export interface FramerLimits {
  /** Largest message in bytes (default 64 MiB). */
  readonly maxMessageBytes?: number;
  /** Deepest nesting of objects and arrays (default 1024; the top-level object counts 1). */
  readonly maxDepth?: number;
}

export interface FramerSink {
  /** `text`: the message exactly as received, without surrounding whitespace. */
  message(obj: JsonObject, text: string): void;
  error(err: QmpProtocolError): void;
}

const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Bytes that can never appear in JSON text, used by peers to resync a parser. */
function isResyncByte(b: number): boolean {
  return b === 0xff || (b < SPACE && b !== TAB && b !== LF && b !== CR);
}

export class QmpFramer {
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
  /** Longest line the fast path takes: it cannot break either limit. */
  private readonly fastLineMax: number;

  // Scanner state for the value in progress.
  private inValue = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** A top-level bare token (number, literal or garbage), ended by whitespace or punctuation. */
  private inScalar = false;
  /** Bytes of the value in progress from earlier chunks (copies). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Set once the value in progress broke a limit: its bytes are only counted. */
  private failure: QmpProtocolError | null = null;

  // The fast path's decoded lines of the current chunk (see fastLines).
  private textChunk: Buffer | null = null;
  private textStart = 0;
  private textEnd = 0;
  private text = '';
  private textIsBytes = false;

  constructor(
    private readonly sink: FramerSink,
    limits: FramerLimits = {},
  ) {
    this.maxMessageBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.fastLineMax = Math.min(this.maxMessageBytes, 2 * this.maxDepth + 1);
  }

  /** Bytes held for a message not yet complete. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /** Whether the stream is between messages. */
  get idle(): boolean {
    return !this.inValue;
  }

  /** Feeds the next bytes. Reports every message they complete, in order. */
  push(chunk: Buffer): void {
    this.textChunk = null; // the caller may reuse its buffer between pushes
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (!this.inValue) {
        pos = this.fastLines(chunk, pos);
        if (pos >= len) return;
      }
      pos = this.scan(chunk, pos);
    }
  }

  /**
   * The stream ended. A bare top-level token still open is completed (it had
   * no terminator); any other message in progress is reported as truncated.
   * Returns that error (also given to the sink), or null when the end was clean.
   */
  end(): QmpProtocolError | null {
    if (!this.inValue) return null;
    if (this.inScalar && this.failure === null) {
      this.finish(Buffer.alloc(0), 0, 0);
      return null;
    }
    const bytes = this.partBytes;
    this.reset();
    const err = new QmpProtocolError(
      'truncated',
      `the stream ended inside a message (${bytes} bytes)`,
    );
    this.sink.error(err);
    return err;
  }

  /** Forgets any message in progress. */
  reset(): void {
    this.inValue = false;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.inScalar = false;
    this.parts = [];
    this.partBytes = 0;
    this.failure = null;
  }

  /**
   * Parses complete lines from `pos` while each is exactly one JSON value.
   * Returns where the scanner must take over (or the chunk's length).
   */
  private fastLines(chunk: Buffer, pos: number): number {
    const last = chunk.lastIndexOf(LF);
    if (last < pos) return pos;
    // Decode all complete lines at once. When every byte became one UTF-16
    // unit (QEMU sends ASCII), string offsets are byte offsets; the decoded
    // text is kept for this chunk in case the scanner hands back mid-chunk.
    if (this.textChunk !== chunk || this.textStart > pos || this.textEnd !== last + 1) {
      this.textChunk = chunk;
      this.textStart = pos;
      this.textEnd = last + 1;
      this.text = chunk.toString('utf8', pos, last + 1);
      this.textIsBytes = this.text.length === last + 1 - pos;
    }
    if (!this.textIsBytes) return this.fastLinesUtf8(chunk, pos, last);
    const text = this.text;
    const base = this.textStart;
    const sink = this.sink;
    const max = this.fastLineMax;
    let s = pos - base;
    const end = last + 1 - base;
    while (s < end) {
      const nl = text.indexOf('\n', s);
      if (nl - s > max) break;
      // QEMU ends its lines with CRLF: leave the CR out of the message text.
      const line = text.slice(s, nl > s && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        break;
      }
      s = nl + 1;
      if (isObject(value)) sink.message(value, messageText(line));
      else sink.error(notAnObject(value));
    }
    if (s >= end) this.textChunk = null;
    return base + s;
  }

  /** The fast path for chunks with multi-byte characters: decode line by line. */
  private fastLinesUtf8(chunk: Buffer, pos: number, last: number): number {
    const sink = this.sink;
    const max = this.fastLineMax;
    while (pos <= last) {
      const nl = chunk.indexOf(LF, pos);
      if (nl - pos > max) return pos;
      const line = chunk.toString('utf8', pos, nl > pos && chunk[nl - 1] === CR ? nl - 1 : nl);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return pos;
      }
      pos = nl + 1;
      if (isObject(value)) sink.message(value, messageText(line));
      else sink.error(notAnObject(value));
    }
    return pos;
  }

  /**
   * Scans bytes from `pos` until the value in progress ends (returns the index
   * after it) or the chunk does (its tail is kept). Between values, skips
   * whitespace and returns after a newline so the fast path can resume.
   */
  private scan(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    let i = pos;
    if (!this.inValue) {
      for (; i < len; i++) {
        const b = chunk[i]!;
        if (b === LF) return i + 1;
        if (b !== SPACE && b !== CR && b !== TAB) break;
      }
      if (i >= len) return len;
      const b = chunk[i]!;
      this.inValue = true;
      if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        this.depth = 1;
      } else if (b === QUOTE) {
        this.inString = true;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET || b === COMMA || b === COLON) {
        // Stray punctuation is a value of its own, and not a valid one.
        this.finish(chunk, i, i + 1);
        return i + 1;
      } else if (isResyncByte(b)) {
        this.inValue = false;
        this.sink.error(resyncError(b));
        return i + 1;
      } else {
        this.inScalar = true;
      }
      return this.scanValue(chunk, i, i + 1);
    }
    return this.scanValue(chunk, pos, pos);
  }

  /** The value began at `start` in this chunk (or earlier); scanning resumes at `from`. */
  private scanValue(chunk: Buffer, start: number, from: number): number {
    const len = chunk.length;
    const maxDepth = this.maxDepth;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    for (let i = from; i < len; i++) {
      const b = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) {
          inString = false;
          if (depth === 0) return this.complete(chunk, start, i + 1, depth, false, false);
        } else if (isResyncByte(b)) return this.abort(chunk, b, i);
        continue;
      }
      if (this.inScalar) {
        if (
          b === SPACE ||
          b === LF ||
          b === CR ||
          b === TAB ||
          b === OPEN_BRACE ||
          b === OPEN_BRACKET ||
          b === CLOSE_BRACE ||
          b === CLOSE_BRACKET ||
          b === COMMA ||
          b === COLON ||
          b === QUOTE
        ) {
          return this.complete(chunk, start, i, 0, false, false);
        }
        if (isResyncByte(b)) return this.abort(chunk, b, i);
        continue;
      }
      if (b === QUOTE) inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        depth++;
        if (depth > maxDepth && this.failure === null) {
          this.failure = new QmpProtocolError(
            'too-deeply-nested',
            `JSON nesting deeper than the limit of ${maxDepth}`,
          );
          this.dropParts();
        }
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return this.complete(chunk, start, i + 1, 0, false, false);
      } else if (isResyncByte(b)) return this.abort(chunk, b, i);
    }
    // The chunk ended inside the value: keep its bytes (unless over a limit).
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    if (this.failure === null) {
      const total = this.partBytes + (len - start);
      if (total > this.maxMessageBytes) {
        this.failure = tooLarge(this.maxMessageBytes);
        this.dropParts();
      } else if (len > start) {
        this.parts.push(Buffer.from(chunk.subarray(start, len)));
        this.partBytes = total;
      }
    }
    return len;
  }

  private complete(
    chunk: Buffer,
    start: number,
    end: number,
    depth: number,
    inString: boolean,
    escaped: boolean,
  ): number {
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.finish(chunk, start, end);
    return end;
  }

  /** A resync byte inside a value: drop the value, report it, carry on after the byte. */
  private abort(_chunk: Buffer, b: number, i: number): number {
    this.reset();
    this.sink.error(resyncError(b));
    return i + 1;
  }

  private dropParts(): void {
    this.parts = [];
    this.partBytes = 0;
  }

  /** The value in progress ended at `end` (exclusive) in `chunk`: report it. */
  private finish(chunk: Buffer, start: number, end: number): void {
    const failure = this.failure;
    const parts = this.parts;
    const total = this.partBytes + (end - start);
    this.reset();
    if (failure !== null) {
      this.sink.error(failure);
      return;
    }
    if (total > this.maxMessageBytes) {
      this.sink.error(tooLarge(this.maxMessageBytes));
      return;
    }
    let text: string;
    if (parts.length === 0) text = chunk.toString('utf8', start, end);
    else {
      parts.push(chunk.subarray(start, end));
      text = Buffer.concat(parts, total).toString('utf8');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.sink.error(
        new QmpProtocolError('invalid-json', `invalid JSON: ${(err as Error).message}`),
      );
      return;
    }
    // The scanner's value starts and ends at its braces: the text is exact.
    if (isObject(value)) this.sink.message(value, text);
    else this.sink.error(notAnObject(value));
  }
}

/**
 * The message text of a line that parsed as one object: the line itself
 * unless whitespace surrounds the object. JSON.parse accepted the line, so
 * only JSON whitespace can lie outside the braces and trim() removes exactly it.
 */
function messageText(line: string): string {
  return line.charCodeAt(0) === OPEN_BRACE && line.charCodeAt(line.length - 1) === CLOSE_BRACE
    ? line
    : line.trim();
}

function tooLarge(max: number): QmpProtocolError {
  return new QmpProtocolError(
    'message-too-large',
    `JSON message larger than the limit of ${max} bytes`,
  );
}

function resyncError(b: number): QmpProtocolError {
  const hex = b.toString(16).padStart(2, '0');
  return new QmpProtocolError('invalid-json', `invalid byte 0x${hex} in JSON input`);
}

function notAnObject(value: unknown): QmpProtocolError {
  const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
  return new QmpProtocolError('not-an-object', `QMP input must be a JSON object, got ${kind}`);
}
