/**
 * The fleet's wire format: one JetStream message per recorded failure or
 * lifecycle event, as versioned JSON (`"memfail": 1`). Subjects are
 * `memfail.<host>.failure` and `memfail.<host>.lifecycle`, <host> being the
 * host name with every character NATS does not allow in a token ('.', '*',
 * '>', white space) replaced by '_'; the exact name is in the body.
 *
 * A record's key is its host plus the agent store's own unique key (VM,
 * QMP timestamp and dedup code; for the agent's own connection events, which
 * have no timestamp, the receipt time): the Nats-Msg-Id is a digest of it, so
 * JetStream drops a replay within its duplicate window, and PostgreSQL's
 * unique index on the same columns drops one after it.
 *
 * decode() is total: any bytes give a record or a rejection saying why.
 */
import { createHash } from 'node:crypto';
import { ACTIONS, type Action, type Dialect, type Recipient } from '../event/model.js';
import type { LifecycleKind } from '../agent/records.js';

export const FORMAT_VERSION = 1;
/** A record larger than this is not ours (ours are well under 1 KiB plus the raw message). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const SUBJECT_PREFIX = 'memfail';

export type RecordKind = 'failure' | 'lifecycle';

export interface FailureRecord {
  readonly memfail: typeof FORMAT_VERSION;
  readonly kind: 'failure';
  readonly host: string;
  readonly vm: string;
  /** The store's 5-bit content code (rows.ts); null when unreadable. */
  readonly content: number | null;
  readonly tsSeconds: number;
  readonly tsMicros: number;
  readonly receivedUs: number;
  readonly dialect: Dialect | null;
  readonly raw: string;
  readonly error: string | null;
  readonly dedup: string;
}

export interface LifecycleRecord {
  readonly memfail: typeof FORMAT_VERSION;
  readonly kind: 'lifecycle';
  readonly host: string;
  readonly vm: string;
  readonly event: LifecycleKind;
  readonly tsSeconds: number | null;
  readonly tsMicros: number | null;
  readonly receivedUs: number;
  /** The event's data as JSON text, or null. */
  readonly data: string | null;
  readonly dedup: string;
}

export type FleetRecord = FailureRecord | LifecycleRecord;

export type RejectReason = 'not-ours' | 'malformed' | 'newer-version' | 'oversized';

export type Decoded =
  | { readonly ok: true; readonly record: FleetRecord }
  | {
      readonly ok: false;
      readonly reason: RejectReason;
      readonly detail: string;
      /** The format version the message claims (newer-version only). */
      readonly version?: number;
    };

/** The subject token for a host name. */
export function hostToken(host: string): string {
  return host.replace(/[.*>\s]/g, '_') || '_';
}

export function subjectOf(record: Pick<FleetRecord, 'host' | 'kind'>): string {
  return `${SUBJECT_PREFIX}.${hostToken(record.host)}.${record.kind}`;
}

/** The record's unique key as text: what the Nats-Msg-Id digests. */
export function recordKey(r: FleetRecord): string {
  return r.kind === 'failure'
    ? JSON.stringify([r.host, 'f', r.vm, r.tsSeconds, r.tsMicros, r.dedup])
    : JSON.stringify([r.host, 'l', r.vm, r.event, r.tsSeconds, r.tsMicros, r.dedup]);
}

export function messageId(r: FleetRecord): string {
  return createHash('sha256').update(recordKey(r)).digest('base64url').slice(0, 32);
}

export function encode(r: FleetRecord): Uint8Array {
  return Buffer.from(JSON.stringify(r));
}

const LIFECYCLE_KINDS: readonly string[] = [
  'RESET',
  'SHUTDOWN',
  'STOP',
  'RESUME',
  'GUEST_PANICKED',
  'CONNECTED',
  'DISCONNECTED',
];

export function decode(subject: string, data: Uint8Array): Decoded {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== SUBJECT_PREFIX) {
    return {
      ok: false,
      reason: 'not-ours',
      detail: `subject ${subject} is not memfail.<host>.<kind>`,
    };
  }
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    return {
      ok: false,
      reason: 'oversized',
      detail: `${data.byteLength} bytes, more than ${MAX_MESSAGE_BYTES}`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `not JSON: ${(err as Error).message}` };
  }
  if (!isObject(value) || typeof value.memfail !== 'number') {
    return { ok: false, reason: 'not-ours', detail: 'no "memfail" format version' };
  }
  if (value.memfail > FORMAT_VERSION) {
    return {
      ok: false,
      reason: 'newer-version',
      detail: `format version ${value.memfail}, this collector reads ${FORMAT_VERSION}`,
      version: value.memfail,
    };
  }
  if (value.memfail !== FORMAT_VERSION) {
    return { ok: false, reason: 'malformed', detail: `unknown format version ${value.memfail}` };
  }
  const problem = check(value, parts[2]!, parts[1]!);
  if (problem !== null) return { ok: false, reason: 'malformed', detail: problem };
  return { ok: true, record: value as unknown as FleetRecord };
}

function check(v: Record<string, unknown>, subjectKind: string, token: string): string | null {
  if (v.kind !== subjectKind)
    return `kind ${String(v.kind)} does not match subject (${subjectKind})`;
  if (!isText(v.host) || hostToken(v.host) !== token) return 'host missing or not the subject host';
  if (!isText(v.vm)) return 'vm missing';
  if (!isInt(v.receivedUs)) return 'receivedUs not an integer';
  if (!isText(v.dedup)) return 'dedup missing';
  if (v.kind === 'failure') {
    if (!isInt(v.tsSeconds) || !isInt(v.tsMicros)) return 'timestamp not integers';
    if (v.content !== null && !(isInt(v.content) && v.content >= 0 && v.content < 32)) {
      return 'content not a 5-bit code';
    }
    if (v.dialect !== null && v.dialect !== 'qemu' && v.dialect !== 'seed') return 'bad dialect';
    if (typeof v.raw !== 'string') return 'raw missing';
    if (v.error !== null && typeof v.error !== 'string') return 'bad error';
    return null;
  }
  if (!LIFECYCLE_KINDS.includes(v.event as string))
    return `unknown lifecycle event ${String(v.event)}`;
  if (
    (v.tsSeconds !== null && !isInt(v.tsSeconds)) ||
    (v.tsMicros !== null && !isInt(v.tsMicros))
  ) {
    return 'timestamp not integers';
  }
  if (v.data !== null && typeof v.data !== 'string') return 'data not JSON text';
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}
function isInt(v: unknown): v is number {
  return Number.isSafeInteger(v);
}

/** The content code's canonical fields (the inverse of rows.ts contentCode). */
export function decodeContent(content: number): {
  recipient: Recipient;
  action: Action;
  actionRequired: boolean;
  recursive: boolean;
} {
  return {
    recipient: content & 1 ? 'guest' : 'hypervisor',
    action: ACTIONS[(content >> 1) & 3]!,
    actionRequired: (content & 8) !== 0,
    recursive: (content & 16) !== 0,
  };
}
