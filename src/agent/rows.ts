/**
 * How observations become rows and rows become records: the dedup key, the
 * insert parameters, the raw-message column (stored only when the canonical
 * columns cannot rebuild it) and the mapping back. The schema is in
 * migrations.ts; store.ts runs the statements.
 */
import { createHash } from 'node:crypto';
import { toWire } from '../event/dialect.js';
import { ACTIONS, type Dialect, type MemoryFailure, type QmpTimestamp } from '../event/model.js';
import type {
  FailureObservation,
  LifecycleKind,
  LifecycleObservation,
  StoredFailure,
  StoredLifecycle,
} from './records.js';
import { microsToIso } from './records.js';

/**
 * With the VM and QMP's timestamp (the unique index is on all four),
 * identifies a failure across replays: two events of one VM at the same
 * microsecond with the same canonical content are one event. The content is
 * a small integer (bits for recipient, action and both flags); an event that is not
 * valid is identified by a hash of its whole message instead.
 */
export function failureDedup(obs: FailureObservation): number | string {
  const f = obs.failure;
  if (f === null || obs.error !== null) return `raw:${digest(JSON.stringify(obs.message))}`;
  return contentCode(f);
}

/** The canonical content as 5 bits: recipient, action (2 bits), action-required, recursive. */
function contentCode(f: MemoryFailure): number {
  return (
    (f.recipient === 'guest' ? 1 : 0) |
    (ACTIONS.indexOf(f.action) << 1) |
    (f.actionRequired ? 8 : 0) |
    (f.recursive ? 16 : 0)
  );
}

function lifecycleDedup(obs: LifecycleObservation): string | null {
  // Connection events are the agent's own, each one new.
  if (obs.timestamp === null) return null;
  return digest(JSON.stringify(obs.data ?? null));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/** Positional parameters of the memory_failure insert, in column order. */
export function failureParams(obs: FailureObservation): unknown[] {
  const f = obs.failure;
  const ts = obs.timestamp;
  return [
    obs.vm,
    f?.recipient ?? null,
    f?.action ?? null,
    f === null ? null : f.actionRequired ? 1 : 0,
    f === null ? null : f.recursive ? 1 : 0,
    ts?.seconds ?? -1,
    ts?.microseconds ?? -1,
    obs.receivedUs,
    obs.dialect,
    rawColumn(obs),
    obs.error === null && f !== null ? 1 : 0,
    f === null ? (obs.error ?? 'unreadable event') : obs.error,
    failureDedup(obs),
  ];
}

export function lifecycleParams(obs: LifecycleObservation): unknown[] {
  const ts = obs.timestamp;
  return [
    obs.vm,
    obs.event,
    ts?.seconds ?? null,
    ts?.microseconds ?? null,
    obs.receivedUs,
    obs.data === undefined ? null : JSON.stringify(obs.data),
    lifecycleDedup(obs),
  ];
}

/**
 * The raw column: NULL when the message is exactly what rebuildRaw() makes of
 * the row (a valid event whose data is the dialect's own wire form of its
 * canonical fields), else the message as JSON. Most events take no space.
 */
function rawColumn(obs: FailureObservation): string | null {
  const f = obs.failure;
  const m = obs.message;
  if (f !== null && obs.error === null && obs.dialect !== null && obs.timestamp !== null) {
    const keys = Object.keys(m);
    const plain =
      keys.length === 3 &&
      keys[0] === 'event' &&
      keys[1] === 'data' &&
      keys[2] === 'timestamp' &&
      m.event === 'MEMORY_FAILURE' &&
      m.timestamp === obs.timestamp;
    if (plain && sameJson(m.data, wireData(obs.dialect, f).value)) return null;
  }
  return JSON.stringify(m);
}

/** Equal as JSON text would be: same values, same member order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) return false; // no arrays in MEMORY_FAILURE data
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

function rebuildRaw(dialect: Dialect, f: MemoryFailure, timestamp: QmpTimestamp): string {
  const data = wireData(dialect, f).json;
  return `{"event":"MEMORY_FAILURE","data":${data},"timestamp":${JSON.stringify(timestamp)}}`;
}

interface WireForm {
  readonly value: unknown;
  readonly json: string;
}

const wireCache: Record<Dialect, (WireForm | undefined)[]> = { qemu: [], seed: [] };

/** The dialect's wire form of `f`, as a value and as JSON (16 forms per dialect, cached). */
function wireData(dialect: Dialect, f: MemoryFailure): WireForm {
  const code = contentCode(f);
  let wire = wireCache[dialect][code];
  if (wire === undefined) {
    const value = toWire(dialect, f).data;
    wire = { value, json: JSON.stringify(value) };
    wireCache[dialect][code] = wire;
  }
  return wire;
}

export interface FailureRow {
  id: number;
  vm: string;
  recipient: MemoryFailure['recipient'] | null;
  action: MemoryFailure['action'] | null;
  action_required: number | null;
  recursive: number | null;
  timestamp: string | null;
  ts_seconds: number | null;
  ts_micros: number | null;
  received_us: number;
  dialect: Dialect | null;
  raw: string | null;
  valid: number;
  error: string | null;
}

export interface LifecycleRow {
  id: number;
  vm: string;
  kind: LifecycleKind;
  timestamp: string | null;
  ts_seconds: number | null;
  ts_micros: number | null;
  received_us: number;
  data: string | null;
}

export function toStoredFailure(row: FailureRow): StoredFailure {
  const failure: MemoryFailure | null =
    row.recipient !== null && row.action !== null
      ? {
          recipient: row.recipient,
          action: row.action,
          actionRequired: row.action_required === 1,
          recursive: row.recursive === 1,
        }
      : null;
  const timestamp = rowTimestamp(row);
  return {
    id: row.id,
    vm: row.vm,
    failure,
    valid: row.valid === 1,
    error: row.error,
    timestamp,
    timestampIso: row.timestamp,
    receivedAt: microsToIso(row.received_us),
    receivedUs: row.received_us,
    dialect: row.dialect,
    raw: row.raw ?? rebuildRaw(row.dialect!, failure!, timestamp!),
  };
}

export function toStoredLifecycle(row: LifecycleRow): StoredLifecycle {
  return {
    id: row.id,
    vm: row.vm,
    event: row.kind,
    timestamp: rowTimestamp(row),
    timestampIso: row.timestamp,
    receivedAt: microsToIso(row.received_us),
    receivedUs: row.received_us,
    data: row.data === null ? null : (JSON.parse(row.data) as unknown),
  };
}

function rowTimestamp(row: { ts_seconds: number | null; ts_micros: number | null }) {
  // -1/-1 is QEMU's "no clock"; NULL is the agent's own connection events.
  return row.ts_seconds === null || row.ts_micros === null || row.ts_seconds < 0
    ? null
    : { seconds: row.ts_seconds, microseconds: row.ts_micros };
}
