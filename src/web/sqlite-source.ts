/**
 * The dashboard's reader of one agent's SQLite store: a read-only connection
 * (the watcher keeps writing beside it, WAL lets both run) and bounded queries.
 * A store has no host column: it is one host, named by the caller.
 *
 * Range queries go through the receipt-time index (migration 7), which holds
 * the content code and the VM too, so counts come from the index alone.
 */
import Database from 'better-sqlite3';
import { type EventRecord, toAlertPayload, toEventRecord } from '../agent/event-record.js';
import { SCHEMA_VERSION } from '../agent/migrations.js';
import { microsToIso } from '../agent/records.js';
import { buildReport, type FailureAccount, zeros } from '../agent/report.js';
import {
  type FailureRow,
  type LifecycleRow,
  toStoredFailure,
  toStoredLifecycle,
} from '../agent/store-rows.js';
import { Store } from '../agent/store.js';
import { ACTIONS, RECIPIENTS } from '../event/model.js';
import type { TimeRange } from './range.js';
import { SeriesBuilder } from './series.js';
import {
  AROUND_US,
  MAX_AROUND,
  type DataSource,
  type EventQuery,
  type FailureDetail,
  type HostCount,
  type HostFacts,
  type LifecycleEntry,
  type Marks,
  type Page,
  type Series,
  type SeriesFilter,
  type VmCount,
} from './source.js';

/**
 * Range queries name the receipt-time index: left to itself, SQLite may walk
 * the (vm, …) unique index for a DISTINCT or GROUP BY vm — the whole table.
 */
const BY_TIME = 'INDEXED BY memory_failure_received';
/** A content code's action (bits 1-2, see migration 3) is fatal or reset. */
const SEVERE = '((content >> 1) & 3) >= 2';

export class SqliteSource implements DataSource {
  private readonly db: Database.Database;

  /**
   * Brings the file's schema up to date the way every memfail command does
   * (it may need the dashboard's index), then reads through a read-only connection.
   */
  static open(path: string, host: string): SqliteSource {
    Store.open(path, { mustExist: true }).close();
    return new SqliteSource(path, host);
  }

  private constructor(
    path: string,
    private readonly host: string,
  ) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version < SCHEMA_VERSION) {
      this.db.close();
      throw new Error(`${path} has schema version ${version}, expected ${SCHEMA_VERSION}`);
    }
  }

  hosts(): readonly string[] {
    return [this.host];
  }

  hostFacts(host: string, nowUs: number): HostFacts | null {
    if (host !== this.host) return null;
    const lastDay = zeros(ACTIONS);
    const rows = this.db
      .prepare(
        `SELECT (content >> 1) & 3 AS a, count(*) AS n
         FROM memory_failure ${BY_TIME}
         WHERE received_us >= ? AND content IS NOT NULL GROUP BY a`,
      )
      .all(nowUs - 86_400_000_000) as { a: number; n: number }[];
    for (const r of rows) lastDay[ACTIONS[r.a]!] += r.n;
    const vms = this.db
      .prepare(
        `SELECT count(*) AS n FROM (SELECT DISTINCT vm FROM memory_failure ${BY_TIME}
         WHERE received_us >= ? AND content IS NOT NULL)`,
      )
      .get(nowUs - 86_400_000_000) as { n: number };
    const last = this.db.prepare('SELECT max(received_us) AS us FROM memory_failure').get() as {
      us: number | null;
    };
    return {
      host,
      lastDay,
      vms: vms.n,
      lastFailure: last.us === null ? null : microsToIso(last.us),
    };
  }

  series(range: TimeRange, filter: SeriesFilter): Series {
    const series = new SeriesBuilder(range);
    if (filter.host === undefined || filter.host === this.host) {
      const byVm = filter.vm === undefined ? '' : 'AND vm = @vm';
      const rows = this.db
        .prepare(
          `SELECT received_us / CAST(@bucketUs AS INTEGER) AS b, content, count(*) AS n FROM memory_failure ${BY_TIME}
           WHERE received_us >= @from AND received_us < @to AND content IS NOT NULL ${byVm}
           GROUP BY b, content`,
        )
        .raw()
        .all({
          bucketUs: series.bucketUs,
          from: range.fromUs,
          to: range.toUs,
          ...(filter.vm === undefined ? {} : { vm: filter.vm }),
        }) as [number, number, number][];
      for (const [b, content, count] of rows) {
        series.add(b, RECIPIENTS[content & 1]!, ACTIONS[(content >> 1) & 3]!, count);
      }
    }
    return series.build();
  }

  topHosts(range: TimeRange, _limit: number): readonly HostCount[] {
    const row = this.db
      .prepare(
        `SELECT count(*) AS n FROM memory_failure ${BY_TIME}
         WHERE received_us >= ? AND received_us < ? AND content IS NOT NULL`,
      )
      .get(range.fromUs, range.toUs) as { n: number };
    return row.n === 0 ? [] : [{ host: this.host, failures: row.n }];
  }

  topVms(range: TimeRange, limit: number, host?: string): readonly VmCount[] {
    return this.hostVms(host ?? this.host, range, limit, 0);
  }

  hostVms(host: string, range: TimeRange, limit: number, offset: number): readonly VmCount[] {
    if (host !== this.host) return [];
    const rows = this.db
      .prepare(
        `SELECT vm, count(*) AS failures, count(*) FILTER (WHERE ${SEVERE}) AS severe,
           max(received_us) AS last FROM memory_failure ${BY_TIME}
         WHERE received_us >= ? AND received_us < ? AND content IS NOT NULL
         GROUP BY vm ORDER BY failures DESC, vm LIMIT ? OFFSET ?`,
      )
      .all(range.fromUs, range.toUs, limit, offset) as {
      vm: string;
      failures: number;
      severe: number;
      last: number;
    }[];
    return rows.map((r) => ({
      host,
      vm: r.vm,
      failures: r.failures,
      severe: r.severe,
      lastSeen: microsToIso(r.last),
    }));
  }

  events(query: EventQuery): Page<EventRecord & { readonly host: string }> {
    if (query.host !== undefined && query.host !== this.host) return { items: [], next: null };
    const where = ['received_us >= @from', 'received_us < @to', 'content IS NOT NULL'];
    const params: Record<string, unknown> = {
      from: query.range.fromUs,
      to: query.range.toUs,
      limit: query.limit + 1,
    };
    if (query.vm !== undefined) {
      where.push('vm = @vm');
      params.vm = query.vm;
    }
    if (query.before !== undefined) {
      where.push('id < @before');
      params.before = query.before;
    }
    const rows = this.db
      .prepare(
        `SELECT * FROM memory_failure WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`,
      )
      .all(params) as FailureRow[];
    const page = rows.slice(0, query.limit);
    return {
      items: page.map((r) => ({ host: this.host, ...toEventRecord(toStoredFailure(r)) })),
      next: rows.length > query.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }

  hasVm(host: string, vm: string): boolean {
    if (host !== this.host) return false;
    const hit =
      this.db.prepare('SELECT 1 FROM memory_failure WHERE vm = ? LIMIT 1').get(vm) ??
      this.db.prepare('SELECT 1 FROM lifecycle WHERE vm = ? LIMIT 1').get(vm);
    return hit !== undefined;
  }

  failures(host: string, vm: string, limit: number, before?: number): Page<FailureDetail> {
    if (host !== this.host) return { items: [], next: null };
    const rows = this.db
      .prepare(
        `SELECT * FROM memory_failure WHERE vm = @vm AND id < @before ORDER BY id DESC LIMIT @limit`,
      )
      .all({ vm, before: before ?? Number.MAX_SAFE_INTEGER, limit: limit + 1 }) as FailureRow[];
    const page = rows.slice(0, limit).map(toStoredFailure);
    if (page.length === 0) return { items: [], next: null };
    // The failure just after the page bounds the last one's outcome window, as in the report.
    const newer = this.db
      .prepare('SELECT * FROM memory_failure WHERE vm = ? AND id > ? ORDER BY id LIMIT 1')
      .get(vm, page[0]!.id) as FailureRow | undefined;
    const fromUs = Math.min(...page.map((f) => f.receivedUs)) - AROUND_US;
    const toUs = Math.max(...page.map((f) => f.receivedUs)) + AROUND_US;
    const lifecycle = (
      this.db
        .prepare(
          `SELECT * FROM lifecycle WHERE vm = ? AND received_us BETWEEN ? AND ?
           ORDER BY received_us, id LIMIT ?`,
        )
        .all(vm, fromUs, toUs, MAX_AROUND) as LifecycleRow[]
    ).map(toStoredLifecycle);
    const ascending = [...page].reverse();
    if (newer !== undefined) ascending.push(toStoredFailure(newer));
    const accounts = new Map<number, FailureAccount>();
    for (const v of buildReport(ascending, lifecycle).vms) {
      for (const a of v.accounts) accounts.set(a.id, a);
    }
    const items = page.map((f): FailureDetail => {
      const payload = toAlertPayload(f);
      const around: LifecycleEntry[] = lifecycle
        .filter((e) => Math.abs(e.receivedUs - f.receivedUs) <= AROUND_US)
        .map((e) => ({
          id: e.id,
          event: e.event,
          receivedAt: e.receivedAt,
          timestamp: e.timestampIso,
          data: e.data,
        }));
      return {
        host,
        ...toEventRecord(f),
        explanation: payload.explanation,
        outcome: accounts.get(f.id)?.outcome ?? null,
        raw: f.raw,
        around,
      };
    });
    return { items, next: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  marks(): Marks {
    const f = this.db.prepare('SELECT max(id) AS id FROM memory_failure').get() as {
      id: number | null;
    };
    const l = this.db.prepare('SELECT max(id) AS id FROM lifecycle').get() as { id: number | null };
    return { failure: f.id ?? 0, lifecycle: l.id ?? 0 };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
