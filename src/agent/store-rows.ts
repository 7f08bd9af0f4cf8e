/**
 * The store's rows: how an observation becomes the row inserted (a named
 * object per table, its columns listed once below), its dedup key and raw
 * column, and how a row read back becomes a record. The schema is in
 * migrations.ts; store-writes.ts and store-queries.ts run the statements.
 */
import { createHash } from 'node:crypto';
import { ACTIONS, type Dialect, type MemoryFailure } from '../event/model.js';
import type {
  FailureObservation,
  GapObservation,
  GapReason,
  StoredGap,
  LifecycleKind,
  LifecycleObservation,
  Observation,
  StoredFailure,
  StoredLifecycle,
} from './records.js';
import { rawLayout } from './raw-layout.js';
import { checkTimestamp, isClockReading, MAX_QMP_SECONDS, microsToIso } from './records.js';

/**
 * With the VM and QMP's timestamp (the unique index is on all four),
 * identifies a failure across replays: two events of one VM at the same
 * microsecond with the same canonical content are one event. The content is
 * a small integer (bits for recipient, action and both flags); an event that is not
 * valid is identified by a hash of its whole message instead.
 */
export function failureDedup(obs: FailureObservation): number | string {
  const f = obs.failure;
  // Without a usable clock reading nothing tells a replay from a new event
  // (QMP never replays): each receipt is its own event. The watcher keeps a
  // VM's receipt times strictly increasing, so two never share one.
  if (!isClockReading(obs.timestamp)) {
    return `rx:${obs.receivedUs}:${f === null ? 'x' : contentCode(f)}`;
  }
  if (f === null || obs.error !== null) return `raw:${digest(JSON.stringify(wireMembers(obs)))}`;
  return contentCode(f);
}

/**
 * The message's own members, without the client's `raw` text: the key of an
 * invalid event hashes what QEMU sent, so a replay matches the stored row.
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
  // Connection events are the agent's own, each one new; so is an event without a clock reading.
  if (!isClockReading(obs.timestamp)) return null;
  return digest(JSON.stringify(obs.data ?? null));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/** What an insert binds: string, number or NULL. */
export type SqlValue = string | number | null;

/** The gap columns an insert sets, in statement order. */
export const GAP_COLUMNS = ['vm', 'from_us', 'to_us', 'reason', 'detail'] as const;
export type GapInsert = Record<(typeof GAP_COLUMNS)[number], SqlValue>;

/** The lifecycle columns an insert sets, in statement order. */
export const LIFECYCLE_COLUMNS = [
  'vm',
  'kind',
  'ts_seconds',
  'ts_micros',
  'received_us',
  'data',
  'dedup',
] as const;
export type LifecycleInsert = Record<(typeof LIFECYCLE_COLUMNS)[number], SqlValue>;

/** The memory_failure columns an insert sets, in statement order. */
export const FAILURE_COLUMNS = [
  'vm',
  'content',
  'ts_seconds',
  'ts_micros',
  'received_us',
  'dialect',
  'layout',
  'raw_text',
  'error',
  'dedup',
  'raw_length',
  'raw_sha256',
] as const;
export type FailureInsert = Record<(typeof FAILURE_COLUMNS)[number], SqlValue>;

/** `INSERT INTO table (columns) VALUES (@column, ...)`: named parameters, from the one list. */
export function insertSql(verb: string, table: string, columns: readonly string[]): string {
  return `${verb} INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`;
}

/** An observation as the row it inserts. */
export type InsertRow =
  | { readonly kind: 'failure'; readonly row: FailureInsert }
  | { readonly kind: 'lifecycle'; readonly row: LifecycleInsert }
  | { readonly kind: 'gap'; readonly row: GapInsert };

export function prepareBatch(batch: readonly Observation[]): InsertRow[] {
  return batch.map((obs) =>
    obs.kind === 'failure'
      ? { kind: 'failure', row: failureRow(obs) }
      : obs.kind === 'lifecycle'
        ? { kind: 'lifecycle', row: lifecycleRow(obs) }
        : { kind: 'gap', row: gapRow(obs) },
  );
}

export function gapRow(obs: GapObservation): GapInsert {
  return {
    vm: obs.vm,
    from_us: obs.fromUs,
    to_us: obs.toUs,
    reason: obs.reason,
    detail: obs.detail,
  };
}

export interface GapRow {
  id: number;
  vm: string | null;
  from_us: number;
  to_us: number;
  reason: GapReason;
  detail: string | null;
}

export function toStoredGap(row: GapRow): StoredGap {
  return {
    id: row.id,
    vm: row.vm,
    from: microsToIso(row.from_us),
    to: microsToIso(row.to_us),
    fromUs: row.from_us,
    toUs: row.to_us,
    reason: row.reason,
    detail: row.detail,
  };
}

/** The memory_failure row an observation inserts. */
export function failureRow(obs: FailureObservation): FailureInsert {
  const f = obs.failure;
  // The storage boundary: whatever the peer sent, the row's columns take it.
  // A timestamp that is no clock reading is stored as none (-1, -1) and the
  // row flagged; the raw message keeps what was sent.
  const checked = checkTimestamp(obs.timestamp);
  const ts = checked.timestamp;
  const content = f === null ? null : contentCode(f);
  const seconds = ts?.seconds ?? -1;
  const micros = ts?.microseconds ?? -1;
  let error = f === null ? (obs.error ?? 'unreadable event') : obs.error;
  if (checked.error !== null) error = error === null ? checked.error : `${error}; ${checked.error}`;
  if (error !== null) error = capText(error, MAX_ERROR_CHARS);
  // A valid message in a known layout is rebuilt from the columns (raw-layout.ts).
  const layout =
    content !== null && error === null && obs.dialect !== null && obs.raw !== undefined
      ? rawLayout(obs.raw, obs.dialect, content, seconds, micros)
      : null;
  const text = layout === null ? rawColumn(obs) : null;
  const cut = text !== null && text.length > MAX_RAW_CHARS ? cappedRaw(text) : null;
  return {
    vm: obs.vm,
    content,
    ts_seconds: seconds,
    ts_micros: micros,
    received_us: obs.receivedUs,
    dialect: obs.dialect,
    layout,
    raw_text: cut?.text ?? text,
    error,
    dedup: failureDedup(obs),
    raw_length: cut?.length ?? null,
    raw_sha256: cut?.sha256 ?? null,
  };
}

/** Raw messages are kept whole up to this many characters (64 KiB of ASCII). */
export const MAX_RAW_CHARS = 64 * 1024;
/** An error message quoting input is cut here: never a whole file in a column or a log. */
export const MAX_ERROR_CHARS = 1024;

/**
 * The raw message as stored: whole when short; else its first MAX_RAW_CHARS
 * characters, with the whole message's length (characters) and SHA-256, so
 * the row says what was cut and a copy elsewhere can be matched.
 */
export function cappedRaw(text: string): {
  readonly text: string;
  readonly length: number | null;
  readonly sha256: string | null;
} {
  if (text.length <= MAX_RAW_CHARS) return { text, length: null, sha256: null };
  return {
    text: text.slice(0, MAX_RAW_CHARS),
    length: text.length,
    sha256: createHash('sha256').update(text).digest('hex'),
  };
}

export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}

export function lifecycleRow(obs: LifecycleObservation): LifecycleInsert {
  // A timestamp that is no clock reading is left out (data keeps the event).
  const ts = isClockReading(obs.timestamp) ? obs.timestamp : null;
  return {
    vm: obs.vm,
    kind: obs.event,
    ts_seconds: ts?.seconds ?? null,
    ts_micros: ts?.microseconds ?? null,
    received_us: obs.receivedUs,
    data: obs.data === undefined ? null : capText(JSON.stringify(obs.data), MAX_RAW_CHARS),
    dedup: lifecycleDedup(obs),
  };
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
  /** Never NULL: a generated column, raw_text or the text its layout rebuilds. */
  raw: string;
  valid: number;
  error: string | null;
  /** Set when raw was cut at MAX_RAW_CHARS (absent from rows a query did not select it for). */
  raw_length?: number | null;
  raw_sha256?: string | null;
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
    rawCut:
      row.raw_length == null ? null : { length: row.raw_length, sha256: row.raw_sha256 ?? '' },
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
    data: row.data === null ? null : parseData(row.data),
  };
}

function rowTimestamp(row: { ts_seconds: number | null; ts_micros: number | null }) {
  // -1/-1 is QEMU's "no clock"; NULL is the agent's own connection events.
  // A database from an older memfail may hold any integer here.
  return row.ts_seconds === null ||
    row.ts_micros === null ||
    row.ts_seconds < 0 ||
    row.ts_seconds > MAX_QMP_SECONDS
    ? null
    : { seconds: row.ts_seconds, microseconds: row.ts_micros };
}

/** A lifecycle event's data; a cut one (see capText) is kept as its text. */
function parseData(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
