/**
 * How observations become rows and rows become records: the dedup key, the
 * insert parameters, the raw-message column and the mapping back. The schema is in
 * migrations.ts; store.ts runs the statements.
 */
import { createHash } from 'node:crypto';
import { ACTIONS, type Dialect, type MemoryFailure } from '../event/model.js';
import type {
  FailureObservation,
  LifecycleKind,
  LifecycleObservation,
  Observation,
  StoredFailure,
  StoredLifecycle,
} from './records.js';
import { rawLayout } from './raw-layout.js';
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
  if (f === null || obs.error !== null) return `raw:${digest(JSON.stringify(wireMembers(obs)))}`;
  return contentCode(f);
}

/**
 * The message's own members, without the client's `raw`: keeps this key what
 * it was before raw existed, so a replay still matches rows stored earlier.
 */
function wireMembers(obs: FailureObservation): Readonly<Record<string, unknown>> {
  if (obs.message.raw === undefined) return obs.message;
  const { raw: _raw, ...members } = obs.message;
  return members;
}

/**
 * The canonical content as 5 bits: recipient, action (2 bits), action-required,
 * recursive. Stored as memory_failure.content; migration 3 decodes it in SQL.
 */
export function contentCode(f: MemoryFailure): number {
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

/**
 * A batch as the insert statements take it: per observation, whether it is a
 * failure and its positional parameters.
 */
export interface PreparedBatch {
  readonly isFailure: readonly boolean[];
  readonly params: readonly (readonly unknown[])[];
}

export function prepareBatch(batch: readonly Observation[]): PreparedBatch {
  const isFailure: boolean[] = [];
  const params: unknown[][] = [];
  for (const obs of batch) {
    isFailure.push(obs.kind === 'failure');
    params.push(obs.kind === 'failure' ? failureParams(obs) : lifecycleParams(obs));
  }
  return { isFailure, params };
}

/** Positional parameters of the memory_failure insert, in column order. */
export function failureParams(obs: FailureObservation): unknown[] {
  const f = obs.failure;
  const ts = obs.timestamp;
  const content = f === null ? null : contentCode(f);
  const seconds = ts?.seconds ?? -1;
  const micros = ts?.microseconds ?? -1;
  // A valid message in a known layout is rebuilt from the columns (raw-layout.ts).
  const layout =
    content !== null && obs.error === null && obs.dialect !== null && obs.raw !== undefined
      ? rawLayout(obs.raw, obs.dialect, content, seconds, micros)
      : null;
  return [
    obs.vm,
    content,
    seconds,
    micros,
    obs.receivedUs,
    obs.dialect,
    layout,
    layout === null ? rawColumn(obs) : null,
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
 * The raw column: the QMP message exactly as received (the client's text of
 * it). Without that text (an observation not built from received bytes) the
 * parsed message serialised again: members in order, whitespace not kept.
 */
function rawColumn(obs: FailureObservation): string {
  return obs.raw ?? JSON.stringify(wireMembers(obs));
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
  /** Never NULL from migration 2 on (it filled the rows version 1 left NULL). */
  raw: string;
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
    raw: row.raw,
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
