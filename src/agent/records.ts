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

export type Observation = FailureObservation | LifecycleObservation;

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
   */
  readonly raw: string;
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

export function microsToIso(us: number): string {
  const ms = Math.floor(us / 1000);
  const base = new Date(ms).toISOString().slice(0, 19);
  const micros = us - Math.floor(us / 1_000_000) * 1_000_000;
  return `${base}.${String(micros).padStart(6, '0')}Z`;
}
