/**
 * Reading the fleet database: the same records, report and host list as the
 * agent's SQLite store gives, for every host. A VM is named `host/vm` in
 * text and in the report (two hosts may both have a vm1); JSON event
 * records carry `host` beside `vm`. Every query is served by an index:
 * per host and time (memory_failure_host_seen), fleet-wide by time
 * (memory_failure_seen), one VM (memory_failure_key's prefix,
 * lifecycle_vm_time), counts from vm_summary (test/fleet/pg-read.test.ts
 * checks the plans).
 */
import type { EventRecord } from '../agent/event-record.js';
import { microsToIso, type StoredLifecycle } from '../agent/records.js';
import type { AsyncReportSource, ReportFailure, VmCounts } from '../agent/report.js';
import type { Action, Dialect, Recipient } from '../event/model.js';
import type { LifecycleKind } from '../agent/records.js';
import { evaluate, type HostHealth } from '../health/evaluate.js';
import { healthCell } from '../health/host.js';
import type { Policy } from '../health/policy.js';
import type { Sql } from './pg.js';
import { fleetHealth } from './pg-health.js';

export interface FleetFilter {
  readonly host?: string;
  readonly vm?: string;
  readonly since?: Date;
  readonly includeUnreadable?: boolean;
}

export interface FleetEventRecord extends EventRecord {
  readonly host: string;
}

/** A memory_failure row as the readers select it. */
export interface FailureRow {
  id: number;
  host: string;
  vm: string;
  recipient: Recipient | null;
  action: Action | null;
  action_required: boolean | null;
  recursive: boolean | null;
  ts_seconds: number;
  ts_micros: number;
  received_us: number;
  dialect: Dialect | null;
  valid: boolean;
  error: string | null;
}

/** The WHERE clause and its parameters for a filter ($1, $2, … in order). */
function where(filter: FleetFilter): { text: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (filter.host !== undefined) {
    params.push(filter.host);
    parts.push(`host = $${params.length}`);
  }
  if (filter.vm !== undefined) {
    params.push(filter.vm);
    parts.push(`vm = $${params.length}`);
  }
  if (filter.since !== undefined) {
    params.push(filter.since.getTime() * 1000);
    parts.push(`seen_us >= $${params.length}`);
  }
  if (!filter.includeUnreadable) parts.push('recipient IS NOT NULL');
  return { text: parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`, params };
}

/**
 * The events query, in event time order (QMP's time, else receipt) so that
 * an index gives the order; `events --db` lists in receipt order, the same
 * order unless a VM's clock and the agents' disagree.
 */
/** The columns toRecord() reads. */
export const FAILURE_COLUMNS = `id, host, vm, recipient, action, action_required, recursive,
  ts_seconds, ts_micros, received_us, dialect, valid, error`;

export function eventsQuery(filter: FleetFilter): { text: string; params: (string | number)[] } {
  const w = where(filter);
  return {
    text: `SELECT id, host, vm, recipient, action, action_required, recursive, ts_seconds,
      ts_micros, received_us, dialect, valid, error FROM memory_failure ${w.text}
      ORDER BY seen_us, id`,
    params: w.params,
  };
}

/** Records a chunk at a time (a server-side cursor): constant memory for any result. */
export async function* fleetEvents(
  sql: Sql,
  filter: FleetFilter,
): AsyncGenerator<FleetEventRecord> {
  const q = eventsQuery(filter);
  for await (const rows of sql.unsafe(q.text, q.params).cursor(1000)) {
    for (const row of rows as unknown as FailureRow[]) yield toRecord(row);
  }
}

export async function countFleetEvents(sql: Sql, filter: FleetFilter): Promise<number> {
  const w = where(filter);
  const [r] = await sql.unsafe(`SELECT count(*) AS n FROM memory_failure ${w.text}`, w.params);
  return Number(r?.n ?? 0);
}

/** The row as `events --pg --json` prints it. */
export function toRecord(r: FailureRow): FleetEventRecord {
  const receivedAt = microsToIso(r.received_us);
  return {
    id: r.id,
    host: r.host,
    vm: r.vm,
    recipient: r.recipient,
    action: r.action,
    actionRequired: r.action_required,
    recursive: r.recursive,
    timestamp: r.ts_seconds >= 0 ? microsToIso(r.ts_seconds * 1_000_000 + r.ts_micros) : receivedAt,
    receivedAt,
    dialect: r.dialect,
    valid: r.valid,
    error: r.error,
  };
}

/** One host's line in `memfail hosts`. */
export interface HostSummary {
  readonly host: string;
  readonly vms: number;
  /** Readable failures. */
  readonly failures: number;
  readonly invalid: number;
  /** When its last failure happened (QMP's time, else receipt), ISO 8601. */
  readonly lastFailure: string | null;
  /** The policy's verdict on its failures within the policy's lookback. */
  readonly health: HostHealth;
}

/** Every host (or `host`) with its counts and its health under `policy` at `now`. */
export async function fleetHosts(
  sql: Sql,
  policy: Policy,
  host?: string,
  now = new Date(),
): Promise<HostSummary[]> {
  const verdicts = await fleetHealth(sql, policy, now, host);
  const rows = await sql<
    { host: string; vms: number; failures: number; invalid: number; last_us: number }[]
  >`SELECT host, count(*) AS vms, sum(failures) AS failures, sum(invalid) AS invalid,
      max(last_us) AS last_us
    FROM vm_summary ${host === undefined ? sql`` : sql`WHERE host = ${host}`}
    GROUP BY host ORDER BY host`;
  return rows.map((r) => ({
    host: r.host,
    vms: Number(r.vms),
    failures: Number(r.failures),
    invalid: Number(r.invalid),
    lastFailure: r.last_us === null ? null : microsToIso(Number(r.last_us)),
    health: verdicts.get(r.host) ?? evaluate(policy, r.host, [], now),
  }));
}

/** The report over the fleet (or one host): VMs named host/vm. */
export function fleetReportSource(sql: Sql, host?: string): AsyncReportSource {
  return {
    vmCounts: async () => {
      const rows = await sql<SummaryRow[]>`SELECT * FROM vm_summary
        ${host === undefined ? sql`` : sql`WHERE host = ${host}`}`;
      return rows.map(toCounts);
    },
    load: async (name) => {
      const slash = name.indexOf('/');
      const h = name.slice(0, slash);
      const vm = name.slice(slash + 1);
      const failures = await sql<ReportRow[]>`SELECT id, recipient, action, action_required,
          recursive, ts_seconds, ts_micros, received_us FROM memory_failure
        WHERE host = ${h} AND vm = ${vm} AND recipient IS NOT NULL ORDER BY received_us, id`;
      const lifecycle = await sql<LifecycleRow[]>`SELECT id, kind, ts_seconds, ts_micros,
          received_us, data FROM lifecycle WHERE host = ${h} AND vm = ${vm}
        ORDER BY received_us, id`;
      return {
        failures: failures.map(
          (r): ReportFailure => ({
            id: r.id,
            vm: name,
            failure: {
              recipient: r.recipient,
              action: r.action,
              actionRequired: r.action_required,
              recursive: r.recursive,
            },
            timestamp:
              r.ts_seconds < 0 ? null : { seconds: r.ts_seconds, microseconds: r.ts_micros },
            receivedUs: r.received_us,
          }),
        ),
        lifecycle: lifecycle.map(
          (r): StoredLifecycle => ({
            id: r.id,
            vm: name,
            event: r.kind,
            timestamp:
              r.ts_seconds === null || r.ts_micros === null || r.ts_seconds < 0
                ? null
                : { seconds: r.ts_seconds, microseconds: r.ts_micros },
            timestampIso:
              r.ts_seconds === null || r.ts_micros === null || r.ts_seconds < 0
                ? null
                : microsToIso(r.ts_seconds * 1_000_000 + r.ts_micros),
            receivedAt: microsToIso(r.received_us),
            receivedUs: r.received_us,
            data: r.data === null ? null : (JSON.parse(r.data) as unknown),
          }),
        ),
      };
    },
  };
}

interface SummaryRow {
  host: string;
  vm: string;
  failures: number;
  hypervisor: number;
  guest: number;
  ignore: number;
  inject: number;
  fatal: number;
  reset: number;
  action_required: number;
  recursive: number;
  invalid: number;
  first_us: number;
  last_us: number;
}

interface ReportRow {
  id: number;
  recipient: Recipient;
  action: Action;
  action_required: boolean;
  recursive: boolean;
  ts_seconds: number;
  ts_micros: number;
  received_us: number;
}

/** A lifecycle row as read back (also the dashboard's, web/pg-source.ts). */
export interface LifecycleRow {
  id: number;
  kind: LifecycleKind;
  ts_seconds: number | null;
  ts_micros: number | null;
  received_us: number;
  data: string | null;
}

function toCounts(r: SummaryRow): VmCounts {
  return {
    vm: `${r.host}/${r.vm}`,
    failures: r.failures,
    byRecipient: { hypervisor: r.hypervisor, guest: r.guest },
    byAction: { ignore: r.ignore, inject: r.inject, fatal: r.fatal, reset: r.reset },
    actionRequired: r.action_required,
    recursive: r.recursive,
    invalid: r.invalid,
    firstSeen: microsToIso(r.first_us),
    lastSeen: microsToIso(r.last_us),
  };
}

/** The columns of `memfail hosts`, in order; HEALTH last, as it carries the worst reason. */
const HOST_COLUMNS: readonly {
  readonly title: string;
  readonly cell: (h: HostSummary) => string;
  readonly right: boolean;
}[] = [
  { title: 'HOST', cell: (h) => h.host, right: false },
  { title: 'VMS', cell: (h) => String(h.vms), right: true },
  { title: 'FAILURES', cell: (h) => String(h.failures), right: true },
  { title: 'INVALID', cell: (h) => String(h.invalid), right: true },
  { title: 'LAST FAILURE', cell: (h) => h.lastFailure ?? '-', right: false },
  { title: 'HEALTH', cell: (h) => healthCell(h.health), right: false },
];

/** `memfail hosts` as text: one line per host. */
export function formatHosts(hosts: readonly HostSummary[]): string {
  const rows = [
    HOST_COLUMNS.map((c) => c.title),
    ...hosts.map((h) => HOST_COLUMNS.map((c) => c.cell(h))),
  ];
  const widths = HOST_COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (HOST_COLUMNS[i]!.right ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${rows.map(line).join('\n')}\n`;
}
