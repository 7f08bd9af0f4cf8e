/**
 * The durable record of every memory failure and lifecycle event: one SQLite
 * file in WAL mode. Writes go in batches (see batch.ts); a replayed event is
 * recognised by its dedup key and never doubles a row.
 *
 * Durability: `synchronous=NORMAL` in WAL mode syncs the log only at
 * checkpoints, so a committed transaction survives the agent being killed at
 * any moment (the OS holds the written pages) but the last transactions before
 * a power loss or kernel crash may roll back. `durability: 'full'` syncs every
 * commit; bench/agent-ingest.mjs measures what that costs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ACTIONS, type Dialect, type MemoryFailure, type QmpTimestamp } from '../event/model.js';
import { toWire } from '../event/dialect.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import type {
  FailureObservation,
  LifecycleKind,
  LifecycleObservation,
  Observation,
  StoredFailure,
  StoredLifecycle,
} from './records.js';
import { microsToIso } from './records.js';

export type StoreErrorCode = 'missing' | 'corrupt' | 'newer-schema' | 'unwritable';

/** Why a database could not be used; the message says what to do. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Durability = 'normal' | 'full';

export interface OpenOptions {
  /** Fail with `missing` instead of creating the file (read-side commands). */
  readonly mustExist?: boolean;
  readonly durability?: Durability;
}

/** What one committed batch changed. */
export interface InsertResult {
  /** Ids of failures that were new (not replays), in batch order. */
  readonly newFailureIds: readonly number[];
  readonly newLifecycle: number;
  /** Observations already in the store (a replay after reconnect or restart). */
  readonly duplicates: number;
  /** Per observation, in batch order: true if it made a new row. */
  readonly fresh: readonly boolean[];
}

export interface FailureFilter {
  readonly vm?: string;
  /** Only failures that happened (QMP timestamp, else receipt) at or after this time. */
  readonly since?: Date;
  /**
   * Also return failures whose canonical fields could not be read (default:
   * only readable ones, which includes those flagged invalid for lesser faults).
   */
  readonly includeUnreadable?: boolean;
}

export interface LifecycleFilter {
  readonly vm?: string;
  readonly since?: Date;
}

/** An alert owed to one sink for one failure. */
export interface OutboxEntry {
  readonly id: number;
  readonly sink: string;
  readonly attempts: number;
  readonly failure: StoredFailure;
}

export class Store {
  private readonly insertFailure: Database.Statement;
  private readonly insertLifecycle: Database.Statement;
  private readonly insertOutbox: Database.Statement;
  private readonly insertBatch: (
    batch: readonly Observation[],
    sinks: readonly string[],
  ) => InsertResult;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    this.insertFailure = db.prepare(
      `INSERT OR IGNORE INTO memory_failure (vm, recipient, action, action_required, recursive,
         ts_seconds, ts_micros, received_us, dialect, raw, valid, error, dedup)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertLifecycle = db.prepare(
      `INSERT OR IGNORE INTO lifecycle (vm, kind, ts_seconds, ts_micros, received_us, data, dedup)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertOutbox = db.prepare('INSERT OR IGNORE INTO outbox (failure_id, sink) VALUES (?, ?)');
    this.insertBatch = db.transaction((batch: readonly Observation[], sinks: readonly string[]) => {
      const newFailureIds: number[] = [];
      let newLifecycle = 0;
      let duplicates = 0;
      const fresh: boolean[] = [];
      for (const obs of batch) {
        if (obs.kind === 'failure') {
          const info = this.insertFailure.run(...failureParams(obs));
          fresh.push(info.changes > 0);
          if (info.changes === 0) {
            duplicates++;
            continue;
          }
          const id = Number(info.lastInsertRowid);
          newFailureIds.push(id);
          for (const sink of sinks) this.insertOutbox.run(id, sink);
        } else {
          const info = this.insertLifecycle.run(...lifecycleParams(obs));
          fresh.push(info.changes > 0);
          if (info.changes === 0) duplicates++;
          else newLifecycle++;
        }
      }
      return { newFailureIds, newLifecycle, duplicates, fresh };
    });
  }

  /**
   * Opens (creating unless `mustExist`) and migrates the database at `path`.
   * Throws StoreError when the file is missing, not a database, or newer.
   */
  static open(path: string, options: OpenOptions = {}): Store {
    if (options.mustExist && !existsSync(path)) {
      throw new StoreError('missing', `no database at ${path} (has \`memfail watch\` run?)`);
    }
    let db: Database.Database;
    try {
      if (!options.mustExist) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { fileMustExist: options.mustExist === true });
    } catch (err) {
      throw new StoreError('unwritable', `cannot open database ${path}: ${message(err)}`);
    }
    try {
      // A busy wait rather than SQLITE_BUSY when a reader and the watcher meet.
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma('foreign_keys = ON');
      // A larger page cache keeps the indexes' hot pages in memory during bursts.
      db.pragma('cache_size = -32768');
      migrate(db, path);
    } catch (err) {
      db.close();
      if (err instanceof StoreError) throw err;
      const code = (err as { code?: unknown }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new StoreError('corrupt', `${path} is not a memfail database (${message(err)})`);
      }
      throw new StoreError('unwritable', `cannot use database ${path}: ${message(err)}`);
    }
    return new Store(path, db);
  }

  /** The schema version the file is at (SQLite `user_version`). */
  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * Writes a batch in one transaction; once this returns, every observation in
   * it is durable. For each new failure, an outbox row per sink is written in
   * the same transaction.
   */
  insert(batch: readonly Observation[], sinks: readonly string[] = []): InsertResult {
    return this.insertBatch(batch, sinks);
  }

  failures(filter: FailureFilter = {}): StoredFailure[] {
    const { where, params } = whereClause(filter);
    if (!filter.includeUnreadable) where.push('recipient IS NOT NULL');
    const sql = `SELECT * FROM memory_failure ${joinWhere(where)} ORDER BY received_us, id`;
    return this.db
      .prepare(sql)
      .all(params)
      .map((row) => toStoredFailure(row as FailureRow));
  }

  countFailures(filter: FailureFilter = {}): number {
    const { where, params } = whereClause(filter);
    if (!filter.includeUnreadable) where.push('recipient IS NOT NULL');
    const row = this.db
      .prepare(`SELECT count(*) AS n FROM memory_failure ${joinWhere(where)}`)
      .get(params) as { n: number };
    return row.n;
  }

  lifecycle(filter: LifecycleFilter = {}): StoredLifecycle[] {
    const { where, params } = whereClause(filter);
    const sql = `SELECT * FROM lifecycle ${joinWhere(where)} ORDER BY received_us, id`;
    return this.db
      .prepare(sql)
      .all(params)
      .map((row) => toStoredLifecycle(row as LifecycleRow));
  }

  /** VM names with any record, sorted. */
  vms(): string[] {
    const rows = this.db
      .prepare('SELECT vm FROM memory_failure UNION SELECT vm FROM lifecycle ORDER BY vm')
      .all() as { vm: string }[];
    return rows.map((r) => r.vm);
  }

  /**
   * Undelivered alerts for `sinks`, oldest first. Each sink is a queue: its
   * oldest alert is retried (the dispatcher decides when) before any later one.
   */
  pendingAlerts(sinks: readonly string[], limit: number): OutboxEntry[] {
    if (sinks.length === 0) return [];
    const marks = sinks.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT o.id AS outbox_id, o.sink, o.attempts, f.* FROM outbox o
         JOIN memory_failure f ON f.id = o.failure_id
         WHERE o.delivered_at IS NULL AND o.sink IN (${marks})
         ORDER BY o.id LIMIT ?`,
      )
      .all(...sinks, limit) as (FailureRow & {
      outbox_id: number;
      sink: string;
      attempts: number;
    })[];
    return rows.map((r) => ({
      id: r.outbox_id,
      sink: r.sink,
      attempts: r.attempts,
      failure: toStoredFailure(r),
    }));
  }

  /** How many alerts for `sinks` are still undelivered. */
  owedAlerts(sinks: readonly string[]): number {
    if (sinks.length === 0) return 0;
    const marks = sinks.map(() => '?').join(', ');
    const row = this.db
      .prepare(`SELECT count(*) AS n FROM outbox WHERE delivered_at IS NULL AND sink IN (${marks})`)
      .get(...sinks) as { n: number };
    return row.n;
  }

  markDelivered(outboxId: number, atUs: number): void {
    this.db
      .prepare('UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?')
      .run(microsToIso(atUs), outboxId);
  }

  /** Records a failed attempt and when the next one is planned (for people reading the table). */
  markFailed(outboxId: number, error: string, retryAtUs: number): void {
    this.db
      .prepare(
        `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_us = ?
         WHERE id = ?`,
      )
      .run(error, retryAtUs, outboxId);
  }

  /** Counts of outbox rows by state, for tests and `report`. */
  outboxCounts(): { pending: number; delivered: number } {
    const row = this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS pending,
                count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered FROM outbox`,
      )
      .get() as { pending: number; delivered: number };
    return row;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Brings `db` to the last of `migrations`, each in its own transaction with
 * its `user_version` bump: a migration that fails leaves the previous version.
 */
export function migrate(
  db: Database.Database,
  path: string,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new StoreError(
      'newer-schema',
      `${path} has schema version ${current}, newer than this memfail understands (${latest}); upgrade memfail`,
    );
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}

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
function failureParams(obs: FailureObservation): unknown[] {
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

function lifecycleParams(obs: LifecycleObservation): unknown[] {
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

interface FailureRow {
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

interface LifecycleRow {
  id: number;
  vm: string;
  kind: LifecycleKind;
  timestamp: string | null;
  ts_seconds: number | null;
  ts_micros: number | null;
  received_us: number;
  data: string | null;
}

function toStoredFailure(row: FailureRow): StoredFailure {
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

function toStoredLifecycle(row: LifecycleRow): StoredLifecycle {
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

function whereClause(filter: { vm?: string; since?: Date }) {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.vm !== undefined) {
    where.push('vm = @vm');
    params.vm = filter.vm;
  }
  if (filter.since !== undefined) {
    // The event's own time (QMP's clock) where it has one, else when it arrived.
    where.push(
      'CASE WHEN ts_seconds >= 0 THEN ts_seconds * 1000000 + ts_micros ELSE received_us END >= @since',
    );
    params.since = filter.since.getTime() * 1000;
  }
  return { where, params };
}

function joinWhere(where: readonly string[]): string {
  return where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
