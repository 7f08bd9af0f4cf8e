/**
 * What the agent observes about a VM (input to the store) and what the store
 * gives back. Observations carry the agent's receipt time in microseconds so
 * that failures and lifecycle events of one VM can be put in one order.
 */
import type { Dialect, MemoryFailure, QmpTimestamp } from '../event/model.js';

/** QMP run-state events the agent records, plus its own view of the connection. */
export type LifecycleKind =
  | 'RESET'
  | 'SHUTDOWN'
  | 'STOP'
  | 'RESUME'
  | 'GUEST_PANICKED'
  | 'CONNECTED'
  | 'DISCONNECTED';

/** The QMP event names among the lifecycle kinds (the others are the agent's own). */
export const QMP_LIFECYCLE_EVENTS: readonly LifecycleKind[] = [
  'RESET',
  'SHUTDOWN',
  'STOP',
  'RESUME',
  'GUEST_PANICKED',
];

export function isQmpLifecycleEvent(name: string): name is LifecycleKind {
  return (QMP_LIFECYCLE_EVENTS as readonly string[]).includes(name);
}

/**
 * A MEMORY_FAILURE as received. `error` says why it failed validation (null:
 * valid); `failure` holds its canonical fields whenever they could be read —
 * an event with an unexpected extra member is flagged yet still readable.
 */
export interface FailureObservation {
  readonly kind: 'failure';
  readonly vm: string;
  readonly failure: MemoryFailure | null;
  readonly error: string | null;
  readonly timestamp: QmpTimestamp | null;
  readonly receivedUs: number;
  readonly dialect: Dialect | null;
  /**
   * The whole QMP message as parsed ({timestamp, event, data}, in the order
   * received); it may also hold the client's `raw` member, which is not QEMU's.
   */
  readonly message: Readonly<Record<string, unknown>>;
  /** The message's exact text as received (QmpEvent.raw); absent when not known. */
  readonly raw?: string;
}

export interface LifecycleObservation {
  readonly kind: 'lifecycle';
  readonly vm: string;
  readonly event: LifecycleKind;
  /** QMP's timestamp; null for the agent's own CONNECTED/DISCONNECTED. */
  readonly timestamp: QmpTimestamp | null;
  readonly receivedUs: number;
  /** The event's data (or, for connection events, why) — any JSON value. */
  readonly data: unknown;
}

/** Why the record may be incomplete for a while (QMP does not replay events). */
export type GapReason = 'agent-killed' | 'connection-lost';

/** A window in which events may have been missed; vm null: every VM. */
export interface GapObservation {
  readonly kind: 'gap';
  readonly vm: string | null;
  readonly fromUs: number;
  readonly toUs: number;
  readonly reason: GapReason;
  readonly detail: string | null;
}

export type Observation = FailureObservation | LifecycleObservation | GapObservation;

export interface StoredGap {
  readonly id: number;
  readonly vm: string | null;
  readonly from: string;
  readonly to: string;
  readonly fromUs: number;
  readonly toUs: number;
  readonly reason: GapReason;
  readonly detail: string | null;
}

export interface StoredFailure {
  readonly id: number;
  readonly vm: string;
  /** Null when the event was unreadable (no canonical fields). */
  readonly failure: MemoryFailure | null;
  readonly valid: boolean;
  readonly error: string | null;
  readonly timestamp: QmpTimestamp | null;
  /** The QMP timestamp in ISO 8601 (microseconds), when there was one. */
  readonly timestampIso: string | null;
  readonly receivedAt: string;
  readonly receivedUs: number;
  readonly dialect: Dialect | null;
  /**
   * The whole QMP message as JSON: its exact text as received, byte for byte
   * (rows stored before that was kept hold the parsed message serialised again).
   * Cut at store-rows.ts MAX_RAW_CHARS when rawCut is set.
   */
  readonly raw: string;
  /** Set when raw holds only the message's start: the whole one's length and SHA-256 (hex). */
  readonly rawCut?: { readonly length: number; readonly sha256: string } | null;
}

export interface StoredLifecycle {
  readonly id: number;
  readonly vm: string;
  readonly event: LifecycleKind;
  readonly timestamp: QmpTimestamp | null;
  readonly timestampIso: string | null;
  readonly receivedAt: string;
  readonly receivedUs: number;
  readonly data: unknown;
}

/** The agent's clock in microseconds since the epoch (monotonic within a process). */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * The last second QMP timestamps are read as time: 9999-12-31T23:59:59Z, what
 * both SQLite's strftime and a JavaScript Date print as ISO 8601. A peer may
 * send anything; seconds beyond this are not a clock.
 */
export const MAX_QMP_SECONDS = 253_402_300_799;

/**
 * A QMP timestamp as the store keeps it, or why it cannot be one. QEMU's "no
 * clock" (-1, -1) is a timestamp that says nothing: null, no error. Anything
 * else must be whole seconds in [0, MAX_QMP_SECONDS] and whole microseconds
 * in [0, 999999]; the message itself keeps what was sent.
 */
export function checkTimestamp(ts: { seconds: unknown; microseconds: unknown } | null): {
  readonly timestamp: QmpTimestamp | null;
  readonly error: string | null;
} {
  if (ts === null) return NO_CLOCK;
  if (isClockReading(ts)) return { timestamp: ts as QmpTimestamp, error: null };
  const { seconds, microseconds } = ts;
  if (seconds === -1 && microseconds === -1) return NO_CLOCK;
  return {
    timestamp: null,
    error: `timestamp {seconds: ${clip(String(seconds))}, microseconds: ${clip(String(microseconds))}} is not a clock reading (whole seconds 0..${MAX_QMP_SECONDS}, microseconds 0..999999, or QEMU's -1/-1)`,
  };
}

const NO_CLOCK = { timestamp: null, error: null } as const;

/** checkTimestamp's test alone, allocating nothing (the ingest path asks it per event). */
export function isClockReading(ts: { seconds: unknown; microseconds: unknown } | null): boolean {
  if (ts === null) return false;
  const { seconds, microseconds } = ts;
  return (
    typeof seconds === 'number' &&
    typeof microseconds === 'number' &&
    Number.isInteger(seconds) &&
    Number.isInteger(microseconds) &&
    seconds >= 0 &&
    seconds <= MAX_QMP_SECONDS &&
    microseconds >= 0 &&
    microseconds <= 999_999
  );
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** ISO 8601 with microseconds; total: a value no Date can hold prints as a plain number. */
export function microsToIso(us: number): string {
  if (!Number.isSafeInteger(us) || us < 0 || us > (MAX_QMP_SECONDS + 1) * 1_000_000 - 1) {
    return `${us}us`;
  }
  const ms = Math.floor(us / 1000);
  const base = new Date(ms).toISOString().slice(0, 19);
  const micros = us - Math.floor(us / 1_000_000) * 1_000_000;
  return `${base}.${String(micros).padStart(6, '0')}Z`;
}
