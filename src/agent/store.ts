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
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ACTIONS, type Action, RECIPIENTS, type Recipient } from '../event/model.js';
import { FailureInserter } from './failure-insert.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { createPrivately } from './paths.js';
import type { Observation, StoredFailure, StoredGap, StoredLifecycle } from './records.js';
import { MAX_QMP_SECONDS, microsToIso } from './records.js';
import { endRun, heartbeat, type StartedRun, startRun } from './runs.js';
import { type ReportFailure, type ReportSource, type VmCounts, zeros } from './report.js';
import {
  capText,
  type FailureRow,
  type GapRow,
  type LifecycleRow,
  MAX_ERROR_CHARS,
  MAX_RAW_CHARS,
  type PreparedBatch,
  prepareBatch,
  toStoredFailure,
  toStoredGap,
  toStoredLifecycle,
} from './rows.js';

export type StoreErrorCode =
  | 'missing'
  | 'corrupt'
  | 'not-memfail'
  | 'newer-schema'
  | 'older-schema'
  | 'unwritable';

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

/** What failureFacts() yields: a failure's canonical fields and when it happened (µs). */
export interface FailureFact {
  readonly vm: string;
  readonly recipient: Recipient;
  readonly action: Action;
  readonly actionRequired: boolean;
  readonly recursive: boolean;
  readonly atUs: number;
}

export class Store {
  private readonly failureRows: FailureInserter;
  private readonly insertLifecycle: Database.Statement;
  private readonly insertOutbox: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly insertBatch: (batch: PreparedBatch, sinks: readonly string[]) => InsertResult;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    this.failureRows = new FailureInserter(db);
    this.insertLifecycle = db.prepare(
      `INSERT OR IGNORE INTO lifecycle (vm, kind, ts_seconds, ts_micros, received_us, data, dedup)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertOutbox = db.prepare('INSERT OR IGNORE INTO outbox (failure_id, sink) VALUES (?, ?)');
    this.insertGap = db.prepare(
      'INSERT INTO gap (vm, from_us, to_us, reason, detail) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertBatch = db.transaction((batch: PreparedBatch, sinks: readonly string[]) => {
      const { kinds, params } = batch;
      const fresh: boolean[] = new Array(params.length).fill(false);
      const failureAt: number[] = [];
      let newLifecycle = 0;
      for (let i = 0; i < params.length; i++) {
        if (kinds[i] === 'failure') failureAt.push(i);
        else if (kinds[i] === 'gap') {
          this.insertGap.run(params[i]);
          fresh[i] = true;
          newLifecycle++;
        } else if (this.insertLifecycle.run(params[i]).changes > 0) {
          fresh[i] = true;
          newLifecycle++;
        }
      }
      const failures = this.failureRows.insert(failureAt.map((i) => params[i] as unknown[]));
      const newFailureIds: number[] = [];
      failureAt.forEach((i, k) => {
        if (!failures.fresh[k]) return;
        fresh[i] = true;
        const id = failures.ids[k] as number;
        newFailureIds.push(id);
        for (const sink of sinks) this.insertOutbox.run(id, sink);
      });
      const duplicates = params.length - newLifecycle - newFailureIds.length;
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
      if (!options.mustExist) createPrivately(path);
      db = new Database(path, { fileMustExist: true });
    } catch (err) {
      throw new StoreError('unwritable', `cannot open database ${path}: ${message(err)}`);
    }
    try {
      // Another program's SQLite file is not ours to migrate into.
      if (
        (db.pragma('user_version', { simple: true }) as number) === 0 &&
        (db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number) > 0
      ) {
        throw notMemfail(path);
      }
      // A busy wait rather than SQLITE_BUSY when a reader and the watcher meet.
      db.pragma('busy_timeout = 5000');
      // 16 KiB pages: fewer pages, so fewer WAL frames per commit, for rows that
      // carry their raw message. Takes effect only on a new, empty file (before WAL).
      db.pragma('page_size = 16384');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      // A larger page cache keeps the indexes' hot pages in memory during bursts.
      db.pragma('cache_size = -32768');
      // Checkpoint (copy the WAL into the file, the only step that fsyncs with
      // synchronous=NORMAL) every ~32 MiB of WAL rather than every 4 MiB, and
      // truncate the WAL back to 64 MiB at most afterwards.
      db.pragma('wal_autocheckpoint = 2000');
      db.pragma('journal_size_limit = 67108864');
      migrate(db, path);
      db.pragma('foreign_keys = ON');
    } catch (err) {
      db.close();
      throw asStoreError(err, path);
    }
    return new Store(path, db);
  }

  /**
   * Opens an existing memfail database for reading only: nothing is written
   * to the file (no migration, no pragma that changes it). Refuses a file
   * that is not memfail's, or not at this memfail's schema version.
   */
  static openReadOnly(path: string): Store {
    if (!existsSync(path)) {
      throw new StoreError('missing', `no database at ${path} (has \`memfail watch\` run?)`);
    }
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new StoreError('unwritable', `cannot open database ${path}: ${message(err)}`);
    }
    try {
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      const tables = db
        .prepare(
          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'memory_failure'",
        )
        .pluck()
        .get() as number;
      if (version === 0 || tables === 0) throw notMemfail(path);
      const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
      if (version > latest) {
        throw new StoreError(
          'newer-schema',
          `${path} has schema version ${version}, newer than this memfail understands (${latest}); upgrade memfail`,
        );
      }
      if (version < latest) {
        throw new StoreError(
          'older-schema',
          `${path} has schema version ${version}, older than this memfail's (${latest}); ` +
            'read commands never write to it: run `memfail watch` on it once to upgrade it',
        );
      }
    } catch (err) {
      db.close();
      throw asStoreError(err, path);
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
    return this.insertBatch(prepareBatch(batch), sinks);
  }

  failures(filter: FailureFilter = {}): StoredFailure[] {
    return [...this.iterateFailures(filter)];
  }

  /** The same rows as failures(), one at a time (for listings of any size). */
  *iterateFailures(filter: FailureFilter = {}): Generator<StoredFailure> {
    const { where, params } = whereClause(filter);
    if (!filter.includeUnreadable) where.push('recipient IS NOT NULL');
    const sql = `SELECT * FROM memory_failure ${joinWhere(where)} ORDER BY received_us, id`;
    for (const row of this.db.prepare(sql).iterate(params))
      yield toStoredFailure(row as FailureRow);
  }

  /**
   * Each readable failure since `since`: its VM, canonical fields and time
   * (QMP's clock, else receipt; µs) and nothing else — no raw text to
   * rebuild, for readers that judge many rows often (host health).
   */
  *failureFacts(since: Date): Generator<FailureFact> {
    const { where, params } = whereClause({ since });
    where.push('recipient IS NOT NULL');
    const sql = `SELECT vm, recipient, action, action_required, recursive,
        CASE WHEN ts_seconds >= 0 THEN ts_seconds * 1000000 + ts_micros ELSE received_us END
      FROM memory_failure ${joinWhere(where)}`;
    for (const r of this.db.prepare(sql).raw().iterate(params)) {
      const [vm, recipient, action, ar, recursive, atUs] = r as [
        string,
        Recipient,
        Action,
        number,
        number,
        number,
      ];
      yield { vm, recipient, action, actionRequired: ar === 1, recursive: recursive === 1, atUs };
    }
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
    return [...this.iterateLifecycle(filter)];
  }

  /** The same rows as lifecycle(), one at a time. */
  *iterateLifecycle(filter: LifecycleFilter = {}): Generator<StoredLifecycle> {
    const { where, params } = whereClause(filter);
    const sql = `SELECT * FROM lifecycle ${joinWhere(where)} ORDER BY received_us, id`;
    for (const row of this.db.prepare(sql).iterate(params))
      yield toStoredLifecycle(row as LifecycleRow);
  }

  /**
   * Per VM with any stored failure: counts of its readable failures by
   * recipient, action and flags, how many were flagged invalid, and the
   * first and last time (QMP's, else receipt) over all of them. Added up by
   * SQLite in one pass, not by reading the rows out.
   */
  failureCounts(): VmCounts[] {
    const byVm = new Map<string, Mutable<VmCounts>>();
    const groups = this.db.prepare(
      `SELECT vm, recipient, action, action_required AS ar, recursive, count(*) AS n,
         count(*) FILTER (WHERE valid = 0) AS invalid, min(${SEEN_US}) AS first, max(${SEEN_US}) AS last
       FROM memory_failure GROUP BY vm, recipient, action, action_required, recursive`,
    );
    for (const g of groups.iterate() as Iterable<GroupRow>) {
      let c = byVm.get(g.vm);
      if (c === undefined) {
        c = {
          vm: g.vm,
          failures: 0,
          byRecipient: zeros(RECIPIENTS),
          byAction: zeros(ACTIONS),
          actionRequired: 0,
          recursive: 0,
          invalid: 0,
          firstSeen: null,
          lastSeen: null,
        };
        byVm.set(g.vm, c);
      }
      c.invalid += g.invalid;
      const first = microsToIso(g.first);
      const last = microsToIso(g.last);
      if (c.firstSeen === null || first < c.firstSeen) c.firstSeen = first;
      if (c.lastSeen === null || last > c.lastSeen) c.lastSeen = last;
      if (g.recipient === null || g.action === null) continue; // unreadable: not counted
      c.failures += g.n;
      c.byRecipient[g.recipient] += g.n;
      c.byAction[g.action] += g.n;
      if (g.ar === 1) c.actionRequired += g.n;
      if (g.recursive === 1) c.recursive += g.n;
    }
    return [...byVm.values()];
  }

  /** A VM's readable failures in receipt order, only what a report reads of them. */
  *iterateReportFailures(vm: string): Generator<ReportFailure> {
    const rows = this.db
      .prepare(
        `SELECT id, recipient, action, action_required, recursive, ts_seconds, ts_micros, received_us
         FROM memory_failure WHERE vm = ? AND recipient IS NOT NULL AND action IS NOT NULL
         ORDER BY received_us, id`,
      )
      .raw()
      .iterate(vm) as Iterable<ReportRow>;
    for (const [id, recipient, action, ar, recursive, seconds, micros, receivedUs] of rows) {
      yield {
        id,
        vm,
        failure: { recipient, action, actionRequired: ar === 1, recursive: recursive === 1 },
        timestamp:
          seconds < 0 || seconds > MAX_QMP_SECONDS ? null : { seconds, microseconds: micros },
        receivedUs,
      };
    }
  }

  /** What `memfail report` reads (see report.ts). */
  reportSource(): ReportSource {
    return {
      vmCounts: () => this.failureCounts(),
      failures: (vm) => this.iterateReportFailures(vm),
      lifecycle: (vm) => this.iterateLifecycle({ vm }),
      gaps: () => this.gaps(),
      quarantined: () => this.db.prepare('SELECT count(*) FROM quarantine').pluck().get() as number,
    };
  }

  /** VM names with any record, sorted. */
  vms(): string[] {
    const rows = this.db
      .prepare('SELECT vm FROM memory_failure UNION SELECT vm FROM lifecycle ORDER BY vm')
      .all() as { vm: string }[];
    return rows.map((r) => r.vm);
  }

  /**
   * Undelivered alerts for `sinks`, oldest first (dead letters left out).
   * Each sink is a queue: its oldest alert is retried before any later one.
   */
  pendingAlerts(sinks: readonly string[], limit: number): OutboxEntry[] {
    if (sinks.length === 0) return [];
    const marks = sinks.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT o.id AS outbox_id, o.sink, o.attempts, f.* FROM outbox o
         JOIN memory_failure f ON f.id = o.failure_id
         WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.sink IN (${marks})
         ORDER BY o.id LIMIT ?`,
      )
      .all(...sinks, limit) as OutboxJoinRow[];
    return rows.map(toOutboxEntry);
  }

  /**
   * Claims `sink`'s oldest owed alert for `owner` until `nowUs + leaseUs`,
   * atomically (one write transaction): while the claim holds, no other
   * agent on this database delivers it. Returns the entry; or when it may be
   * tried (its retry time, or another agent's claim running out); or null
   * when the sink owes nothing.
   */
  claimAlert(
    sink: string,
    owner: string,
    nowUs: number,
    leaseUs: number,
    /** Ignore the alert's retry time (the agent is draining for exit). */
    eager = false,
  ): OutboxEntry | { readonly waitUntilUs: number } | null {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare(
            `SELECT o.id AS outbox_id, o.sink, o.attempts, o.next_attempt_us, o.claim_until_us,
               o.claimed_by, f.* FROM outbox o JOIN memory_failure f ON f.id = o.failure_id
             WHERE o.sink = ? AND o.delivered_at IS NULL AND o.dead_at IS NULL
             ORDER BY o.id LIMIT 1`,
          )
          .get(sink) as
          | (OutboxJoinRow & {
              next_attempt_us: number;
              claim_until_us: number;
              claimed_by: string | null;
            })
          | undefined;
        if (row === undefined) return null;
        const heldElsewhere = row.claimed_by !== owner && row.claim_until_us > nowUs;
        const wait = Math.max(
          heldElsewhere ? row.claim_until_us : 0,
          eager ? 0 : row.next_attempt_us,
        );
        if (wait > nowUs) return { waitUntilUs: wait };
        this.db
          .prepare('UPDATE outbox SET claim_until_us = ?, claimed_by = ? WHERE id = ?')
          .run(nowUs + leaseUs, owner, row.outbox_id);
        return toOutboxEntry(row);
      })
      .immediate();
  }

  /** How many alerts for `sinks` are still owed (dead letters not counted). */
  owedAlerts(sinks: readonly string[]): number {
    if (sinks.length === 0) return 0;
    const marks = sinks.map(() => '?').join(', ');
    const row = this.db
      .prepare(
        `SELECT count(*) AS n FROM outbox
         WHERE delivered_at IS NULL AND dead_at IS NULL AND sink IN (${marks})`,
      )
      .get(...sinks) as { n: number };
    return row.n;
  }

  markDelivered(outboxId: number, atUs: number): void {
    this.db
      .prepare(
        `UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, claim_until_us = 0,
           claimed_by = NULL WHERE id = ?`,
      )
      .run(microsToIso(atUs), outboxId);
  }

  /**
   * Records a failed attempt: retried from `retryAtUs`, or with `dead` given
   * up on (a dead letter, until `memfail alerts retry`).
   */
  markFailed(outboxId: number, error: string, retryAtUs: number, dead: string | null = null): void {
    this.db
      .prepare(
        `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_us = ?,
           dead_at = ?, claim_until_us = 0, claimed_by = NULL WHERE id = ?`,
      )
      .run(capText(error, MAX_ERROR_CHARS), retryAtUs, dead, outboxId);
  }

  /** Gives a claimed alert back untried (the agent is stopping). */
  releaseClaim(outboxId: number, owner: string): void {
    this.db
      .prepare(
        'UPDATE outbox SET claim_until_us = 0, claimed_by = NULL WHERE id = ? AND claimed_by = ?',
      )
      .run(outboxId, owner);
  }

  /** Alerts still owed, per sink (including sinks no longer configured; dead letters not counted). */
  pendingBySink(): { sink: string; pending: number }[] {
    return this.db
      .prepare(
        `SELECT sink, count(*) AS pending FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL
         GROUP BY sink ORDER BY sink`,
      )
      .all() as { sink: string; pending: number }[];
  }

  /** Dead letters per sink. */
  deadBySink(): { sink: string; dead: number }[] {
    return this.db
      .prepare(
        `SELECT sink, count(*) AS dead FROM outbox WHERE dead_at IS NOT NULL AND delivered_at IS NULL
         GROUP BY sink ORDER BY sink`,
      )
      .all() as { sink: string; dead: number }[];
  }

  /** Counts of outbox rows by state (dead letters are in neither). */
  outboxCounts(): { pending: number; delivered: number } {
    const row = this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
                count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered FROM outbox`,
      )
      .get() as { pending: number; delivered: number };
    return row;
  }

  /** Every undelivered alert (owed or dead), for `memfail alerts list`. */
  undeliveredAlerts(sink?: string): AlertListing[] {
    return this.db
      .prepare(
        `SELECT o.id, o.failure_id AS failureId, f.vm, o.sink, o.attempts, o.last_error AS lastError,
           o.dead_at AS deadAt, o.next_attempt_us AS nextAttemptUs FROM outbox o
         JOIN memory_failure f ON f.id = o.failure_id
         WHERE o.delivered_at IS NULL ${sink === undefined ? '' : 'AND o.sink = @sink'}
         ORDER BY o.sink, o.id`,
      )
      .all(sink === undefined ? {} : { sink }) as AlertListing[];
  }

  /** Makes dead letters owed again, from attempt 0. Returns how many. */
  retryDeadAlerts(sink?: string): number {
    return this.db
      .prepare(
        `UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_us = 0, claim_until_us = 0,
           claimed_by = NULL
         WHERE dead_at IS NOT NULL AND delivered_at IS NULL ${sink === undefined ? '' : 'AND sink = @sink'}`,
      )
      .run(sink === undefined ? {} : { sink }).changes;
  }

  /**
   * Sets aside an observation the database refused (see BatchWriter), with
   * the reason. The row is untyped: it always fits.
   */
  quarantine(obs: Observation, reason: string): void {
    this.db
      .prepare(
        'INSERT INTO quarantine (vm, kind, received_us, reason, record) VALUES (?, ?, ?, ?, ?)',
      )
      .run(
        String((obs as { vm?: unknown }).vm ?? ''),
        String(obs.kind),
        'receivedUs' in obs ? Number(obs.receivedUs) : null,
        capText(reason, MAX_ERROR_CHARS),
        capText(safeJson(obs), MAX_RAW_CHARS),
      );
  }

  quarantined(): QuarantinedRecord[] {
    return this.db
      .prepare(
        'SELECT id, vm, kind, received_us AS receivedUs, reason, record FROM quarantine ORDER BY id',
      )
      .all() as QuarantinedRecord[];
  }

  /** Records this watch process; gaps for earlier runs that were killed (see runs.ts). */
  startRun(vms: readonly string[], nowUs: number, staleAfterUs: number): StartedRun {
    return startRun(this.db, vms, nowUs, staleAfterUs);
  }

  /** This run's sign of life. */
  heartbeat(runId: number, nowUs: number): void {
    heartbeat(this.db, runId, nowUs);
  }

  /** This run ended cleanly: no gap for it at the next start. */
  endRun(runId: number, nowUs: number): void {
    endRun(this.db, runId, nowUs);
  }

  /** Windows in which the record may be incomplete, oldest first. */
  gaps(filter: { readonly vm?: string } = {}): StoredGap[] {
    const rows =
      filter.vm === undefined
        ? this.db.prepare('SELECT * FROM gap ORDER BY from_us, id').all()
        : this.db
            .prepare('SELECT * FROM gap WHERE vm = ? OR vm IS NULL ORDER BY from_us, id')
            .all(filter.vm);
    return (rows as GapRow[]).map(toStoredGap);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** One undelivered alert, as `memfail alerts list` shows it. */
export interface AlertListing {
  readonly id: number;
  readonly failureId: number;
  readonly vm: string;
  readonly sink: string;
  readonly attempts: number;
  readonly lastError: string | null;
  /** When it was given up on; null: still owed. */
  readonly deadAt: string | null;
  readonly nextAttemptUs: number;
}

type OutboxJoinRow = FailureRow & { outbox_id: number; sink: string; attempts: number };

function toOutboxEntry(r: OutboxJoinRow): OutboxEntry {
  return { id: r.outbox_id, sink: r.sink, attempts: r.attempts, failure: toStoredFailure(r) };
}

/** An observation the database refused, as quarantine keeps it. */
export interface QuarantinedRecord {
  readonly id: number;
  readonly vm: string;
  readonly kind: string;
  readonly receivedUs: number | null;
  readonly reason: string;
  /** The observation as JSON, cut at MAX_RAW_CHARS. */
  readonly record: string;
}

/** JSON of anything: values JSON cannot write (bigint, cycles) become their text. */
function safeJson(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? 'null'
    );
  } catch (err) {
    return JSON.stringify({ unserialisable: message(err) });
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
  // A migration may rebuild a table others refer to: keys are checked once it
  // is done, not statement by statement (the pragma is a no-op inside a transaction).
  const keys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.transaction(() => {
        // Another process may have run it since `current` was read (two opening
        // a new file at once): look again, now that this one holds the write lock.
        if ((db.pragma('user_version', { simple: true }) as number) >= migration.version) return;
        db.exec(migration.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) {
          throw new Error(`migration ${migration.version} broke ${broken.length} foreign keys`);
        }
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  } finally {
    db.pragma(`foreign_keys = ${keys ? 'ON' : 'OFF'}`);
  }
}

/**
 * When a failure happened, in µs: QMP's time, else the receipt time. Its
 * microsToIso() is the row's `timestamp` column, or its receipt time.
 */
const SEEN_US = `CASE WHEN ts_seconds BETWEEN 0 AND ${MAX_QMP_SECONDS} THEN ts_seconds * 1000000 + ts_micros ELSE received_us END`;

interface GroupRow {
  vm: string;
  recipient: Recipient | null;
  action: Action | null;
  ar: number | null;
  recursive: number | null;
  n: number;
  invalid: number;
  first: number;
  last: number;
}

type ReportRow = [
  id: number,
  recipient: Recipient,
  action: Action,
  actionRequired: number,
  recursive: number,
  seconds: number,
  micros: number,
  receivedUs: number,
];

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function whereClause(filter: { vm?: string; since?: Date }) {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.vm !== undefined) {
    where.push('vm = @vm');
    params.vm = filter.vm;
  }
  if (filter.since !== undefined) {
    // The event's own time (QMP's clock) where it has one, else when it arrived.
    where.push(`${SEEN_US} >= @since`);
    params.since = filter.since.getTime() * 1000;
  }
  return { where, params };
}

function joinWhere(where: readonly string[]): string {
  return where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
}

function notMemfail(path: string): StoreError {
  return new StoreError(
    'not-memfail',
    `${path} is an SQLite database but not memfail's (no memfail tables); refusing to touch it`,
  );
}

function asStoreError(err: unknown, path: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError('corrupt', `${path} is not a memfail database (${message(err)})`);
  }
  return new StoreError('unwritable', `cannot use database ${path}: ${message(err)}`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
