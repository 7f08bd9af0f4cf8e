/**
 * The dashboard's reader of the fleet database (`memfail serve --pg`): the
 * same DataSource as one agent's store, over every host. Aggregates and
 * pages are computed by PostgreSQL through the fleet's indexes: ranges by
 * event time (memory_failure_seen; per host memory_failure_host_seen), one
 * VM by memory_failure_key's (host, vm) prefix and lifecycle_vm_time, host
 * totals from vm_summary and host_summary. Time here is event time (QMP's, else receipt) —
 * the fleet's one indexed clock — where a local store ranges by receipt;
 * the two differ only when a VM's clock and its agent's disagree.
 */
import { toAlertPayload } from '../agent/event-record.js';
import { microsToIso, type StoredFailure, type StoredLifecycle } from '../agent/records.js';
import { buildReport, type FailureAccount, zeros } from '../agent/report.js';
import { ACTIONS, type Action, type Recipient } from '../event/model.js';
import type { Sql } from '../fleet/pg.js';
import {
  FAILURE_COLUMNS,
  type FailureRow,
  type FleetEventRecord,
  type LifecycleRow,
  toRecord,
} from '../fleet/pg-read.js';
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

const DAY_US = 86_400_000_000;
const READABLE = 'recipient IS NOT NULL';
const SEVERE = "action IN ('fatal', 'reset')";

interface VmCountRow {
  host: string;
  vm: string;
  failures: number;
  severe: number;
  last: number;
}

interface DetailRow extends FailureRow {
  raw: string;
}

export class PgSource implements DataSource {
  constructor(private readonly sql: Sql) {}

  async hosts(): Promise<readonly string[]> {
    const rows = await this.sql<{ host: string }[]>`SELECT host FROM host_summary ORDER BY host`;
    return rows.map((r) => r.host);
  }

  async hostFacts(host: string, nowUs: number): Promise<HostFacts | null> {
    const [known] = await this.sql<{ last: number | null }[]>`
      SELECT last_us AS last FROM host_summary WHERE host = ${host}`;
    if (known === undefined || known.last === null) return null;
    const day = await this.sql<{ action: Action; n: number }[]>`
      SELECT action, count(*) AS n FROM memory_failure
      WHERE host = ${host} AND seen_us >= ${nowUs - DAY_US} AND recipient IS NOT NULL
      GROUP BY action`;
    const [vms] = await this.sql<{ n: number }[]>`
      SELECT count(DISTINCT vm) AS n FROM memory_failure
      WHERE host = ${host} AND seen_us >= ${nowUs - DAY_US} AND recipient IS NOT NULL`;
    const lastDay = zeros(ACTIONS);
    for (const r of day) lastDay[r.action] += Number(r.n);
    return { host, lastDay, vms: Number(vms?.n ?? 0), lastFailure: microsToIso(known.last) };
  }

  /**
   * Every host's facts (or those of `hosts`) in three concurrent statements
   * (the overview's need): the last day's failures through the time index
   * (per host, the host's), the last failure from host_summary.
   */
  async hostsFacts(nowUs: number, hosts?: readonly string[]): Promise<readonly HostFacts[]> {
    const sql = this.sql;
    const only =
      hosts === undefined
        ? sql``
        : sql`AND host IN (SELECT json_array_elements_text(${JSON.stringify(hosts)}::text::json))`;
    // Independent statements: run side by side on the pool's connections.
    const [last, day, vms] = await Promise.all([
      sql<{ host: string; last: number }[]>`
        SELECT host, last_us AS last FROM host_summary WHERE true ${only} ORDER BY host`,
      sql<{ host: string; action: Action; n: number }[]>`
        SELECT host, action, count(*) AS n FROM memory_failure
        WHERE seen_us >= ${nowUs - DAY_US} AND recipient IS NOT NULL ${only}
        GROUP BY host, action`,
      sql<{ host: string; n: number }[]>`
        SELECT host, count(DISTINCT vm) AS n FROM memory_failure
        WHERE seen_us >= ${nowUs - DAY_US} AND recipient IS NOT NULL ${only} GROUP BY host`,
    ]);
    const byHost = new Map<string, Record<Action, number>>();
    for (const r of day) {
      const counts = byHost.get(r.host) ?? zeros(ACTIONS);
      counts[r.action] += Number(r.n);
      byHost.set(r.host, counts);
    }
    const vmCount = new Map(vms.map((r) => [r.host, Number(r.n)]));
    return last.map((r) => ({
      host: r.host,
      lastDay: byHost.get(r.host) ?? zeros(ACTIONS),
      vms: vmCount.get(r.host) ?? 0,
      lastFailure: microsToIso(r.last),
    }));
  }

  async series(range: TimeRange, filter: SeriesFilter): Promise<Series> {
    const series = new SeriesBuilder(range);
    const sql = this.sql;
    const rows = await sql<{ b: number; recipient: Recipient; action: Action; n: number }[]>`
      SELECT seen_us / ${series.bucketUs}::bigint AS b, recipient, action, count(*) AS n
      FROM memory_failure
      WHERE seen_us >= ${range.fromUs} AND seen_us < ${range.toUs} AND recipient IS NOT NULL
        ${filter.host === undefined ? sql`` : sql`AND host = ${filter.host}`}
        ${filter.vm === undefined ? sql`` : sql`AND vm = ${filter.vm}`}
      GROUP BY b, recipient, action`;
    for (const r of rows) series.add(Number(r.b), r.recipient, r.action, Number(r.n));
    return series.build();
  }

  async topHosts(range: TimeRange, limit: number): Promise<readonly HostCount[]> {
    const rows = await this.sql<{ host: string; n: number }[]>`
      SELECT host, count(*) AS n FROM memory_failure
      WHERE seen_us >= ${range.fromUs} AND seen_us < ${range.toUs} AND recipient IS NOT NULL
      GROUP BY host ORDER BY n DESC, host LIMIT ${limit}`;
    return rows.map((r) => ({ host: r.host, failures: Number(r.n) }));
  }

  async topVms(range: TimeRange, limit: number, host?: string): Promise<readonly VmCount[]> {
    return await this.vmCounts(range, limit, 0, host);
  }

  async hostVms(
    host: string,
    range: TimeRange,
    limit: number,
    offset: number,
  ): Promise<readonly VmCount[]> {
    return await this.vmCounts(range, limit, offset, host);
  }

  private async vmCounts(
    range: TimeRange,
    limit: number,
    offset: number,
    host?: string,
  ): Promise<readonly VmCount[]> {
    const sql = this.sql;
    const rows = await sql<VmCountRow[]>`
      SELECT host, vm, count(*) AS failures, count(*) FILTER (WHERE ${sql.unsafe(SEVERE)}) AS severe,
        max(seen_us) AS last
      FROM memory_failure
      WHERE seen_us >= ${range.fromUs} AND seen_us < ${range.toUs} AND ${sql.unsafe(READABLE)}
        ${host === undefined ? sql`` : sql`AND host = ${host}`}
      GROUP BY host, vm ORDER BY failures DESC, host, vm LIMIT ${limit} OFFSET ${offset}`;
    return rows.map((r) => ({
      host: r.host,
      vm: r.vm,
      failures: Number(r.failures),
      severe: Number(r.severe),
      lastSeen: microsToIso(Number(r.last)),
    }));
  }

  async events(query: EventQuery): Promise<Page<FleetEventRecord>> {
    const sql = this.sql;
    const rows = await sql<FailureRow[]>`
      SELECT ${sql.unsafe(FAILURE_COLUMNS)} FROM memory_failure
      WHERE seen_us >= ${query.range.fromUs} AND seen_us < ${query.range.toUs}
        AND ${sql.unsafe(READABLE)}
        ${query.host === undefined ? sql`` : sql`AND host = ${query.host}`}
        ${query.vm === undefined ? sql`` : sql`AND vm = ${query.vm}`}
        ${query.before === undefined ? sql`` : sql`AND id < ${query.before}`}
      ORDER BY id DESC LIMIT ${query.limit + 1}`;
    const page = rows.slice(0, query.limit);
    return {
      items: page.map(toRecord),
      next: rows.length > query.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }

  async hasVm(host: string, vm: string): Promise<boolean> {
    const [hit] = await this.sql`
      SELECT EXISTS (SELECT 1 FROM vm_summary WHERE host = ${host} AND vm = ${vm})
        OR EXISTS (SELECT 1 FROM lifecycle WHERE host = ${host} AND vm = ${vm}) AS hit`;
    return hit?.hit === true;
  }

  async failures(
    host: string,
    vm: string,
    limit: number,
    before?: number,
  ): Promise<Page<FailureDetail>> {
    const sql = this.sql;
    const rows = await sql<DetailRow[]>`
      SELECT ${sql.unsafe(FAILURE_COLUMNS)}, raw FROM memory_failure
      WHERE host = ${host} AND vm = ${vm} AND id < ${before ?? Number.MAX_SAFE_INTEGER}
      ORDER BY id DESC LIMIT ${limit + 1}`;
    const page = rows.slice(0, limit);
    if (page.length === 0) return { items: [], next: null };
    // The failure just after the page bounds the last one's outcome window, as in the report.
    const [newer] = await sql<DetailRow[]>`
      SELECT ${sql.unsafe(FAILURE_COLUMNS)}, raw FROM memory_failure
      WHERE host = ${host} AND vm = ${vm} AND id > ${page[0]!.id} ORDER BY id LIMIT 1`;
    const fromUs = Math.min(...page.map((f) => f.received_us)) - AROUND_US;
    const toUs = Math.max(...page.map((f) => f.received_us)) + AROUND_US;
    const lifecycle = (
      await sql<LifecycleRow[]>`
        SELECT id, kind, ts_seconds, ts_micros, received_us, data FROM lifecycle
        WHERE host = ${host} AND vm = ${vm} AND received_us BETWEEN ${fromUs} AND ${toUs}
        ORDER BY received_us, id LIMIT ${MAX_AROUND}`
    ).map((r) => toStoredLifecycle(r, vm));
    const stored = page.map(toStoredFailure);
    const ascending = [...stored].reverse();
    if (newer !== undefined) ascending.push(toStoredFailure(newer));
    const accounts = new Map<number, FailureAccount>();
    for (const v of buildReport(ascending, lifecycle).vms) {
      for (const a of v.accounts) accounts.set(a.id, a);
    }
    const items = page.map((row, i): FailureDetail => {
      const f = stored[i]!;
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
        ...toRecord(row),
        explanation: toAlertPayload(f).explanation,
        outcome: accounts.get(f.id)?.outcome ?? null,
        raw: row.raw,
        around,
      };
    });
    return { items, next: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async marks(): Promise<Marks> {
    const [r] = await this.sql<{ f: number | null; l: number | null }[]>`
      SELECT (SELECT max(id) FROM memory_failure) AS f, (SELECT max(id) FROM lifecycle) AS l`;
    return { failure: Number(r?.f ?? 0), lifecycle: Number(r?.l ?? 0) };
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

function toStoredFailure(r: DetailRow): StoredFailure {
  const timestamp = r.ts_seconds >= 0 ? { seconds: r.ts_seconds, microseconds: r.ts_micros } : null;
  return {
    id: r.id,
    vm: r.vm,
    failure:
      r.recipient === null || r.action === null
        ? null
        : {
            recipient: r.recipient,
            action: r.action,
            actionRequired: r.action_required === true,
            recursive: r.recursive === true,
          },
    valid: r.valid,
    error: r.error,
    timestamp,
    timestampIso: timestamp === null ? null : microsToIso(r.ts_seconds * 1_000_000 + r.ts_micros),
    receivedAt: microsToIso(r.received_us),
    receivedUs: r.received_us,
    dialect: r.dialect,
    raw: r.raw,
  };
}

function toStoredLifecycle(r: LifecycleRow, vm: string): StoredLifecycle {
  const timestamp =
    r.ts_seconds === null || r.ts_micros === null || r.ts_seconds < 0
      ? null
      : { seconds: r.ts_seconds, microseconds: r.ts_micros };
  return {
    id: r.id,
    vm,
    event: r.kind,
    timestamp,
    timestampIso:
      timestamp === null
        ? null
        : microsToIso(timestamp.seconds * 1_000_000 + timestamp.microseconds),
    receivedAt: microsToIso(r.received_us),
    receivedUs: r.received_us,
    data: r.data === null ? null : (JSON.parse(r.data) as unknown),
  };
}
