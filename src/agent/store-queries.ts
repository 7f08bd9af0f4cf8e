/**
 * Reading the store: failures and lifecycle events (whole or one row at a
 * time), the per-VM counts SQLite adds up for a report, the record's gaps
 * and its quarantined observations.
 */
import type Database from 'better-sqlite3';
import { ACTIONS, type Action, RECIPIENTS, type Recipient } from '../event/model.js';
import type { StoredFailure, StoredGap, StoredLifecycle } from './records.js';
import { MAX_QMP_SECONDS, microsToIso } from './records.js';
import { type ReportFailure, type ReportSource, type VmCounts, zeros } from './report.js';
import {
  type FailureRow,
  type GapRow,
  type LifecycleRow,
  toStoredFailure,
  toStoredGap,
  toStoredLifecycle,
} from './store-rows.js';

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

/** What failureFacts() yields: a failure's canonical fields and when it happened (µs). */
export interface FailureFact {
  readonly vm: string;
  readonly recipient: Recipient;
  readonly action: Action;
  readonly actionRequired: boolean;
  readonly recursive: boolean;
  readonly atUs: number;
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

export class StoreQueries {
  constructor(private readonly db: Database.Database) {}

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

  quarantined(): QuarantinedRecord[] {
    return this.db
      .prepare(
        'SELECT id, vm, kind, received_us AS receivedUs, reason, record FROM quarantine ORDER BY id',
      )
      .all() as QuarantinedRecord[];
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
