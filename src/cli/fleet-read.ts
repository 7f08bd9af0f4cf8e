import { hostname } from 'node:os';
import { formatEventLine } from '../agent/event-record.js';
import { reportTextAsync } from '../agent/report.js';
import type { Store } from '../agent/store.js';
import { openPg, redactPgUrl, type Sql } from '../fleet/pg.js';
import { fleetHostHealth } from '../fleet/pg-health.js';
import { checkPgSchema, PgSchemaError } from '../fleet/pg-schema.js';
import {
  countFleetEvents,
  fleetEvents,
  fleetHosts,
  fleetReportSource,
  formatHosts,
  type HostSummary,
} from '../fleet/pg-read.js';
import type { HostHealth } from '../health/evaluate.js';
import { formatHealth, hostHealth } from '../health/host.js';
import type { Policy } from '../health/policy.js';
import type { EventsFlags, ReportFlags } from './agent.js';
import { parseSince, parseWithin } from './agent-read.js';
import { readPolicy } from './health-run.js';
import { openStoreFor } from './store-open.js';
import { type Io, writeOut } from './io.js';

export async function fleetEventsCommand(opts: EventsFlags, url: string, io: Io): Promise<number> {
  const since = opts.since === undefined ? undefined : parseSince(opts.since);
  const filter = {
    ...(opts.host === undefined ? {} : { host: opts.host }),
    ...(opts.vm === undefined ? {} : { vm: opts.vm }),
    ...(since === undefined ? {} : { since }),
    includeUnreadable: opts.all === true,
  };
  return withPg(url, io, async (sql) => {
    if (opts.count) {
      io.stdout(`${await countFleetEvents(sql, filter)}\n`);
      return 0;
    }
    const json = opts.json === true;
    async function* pieces() {
      let first = true;
      if (json) yield '[';
      for await (const r of fleetEvents(sql, filter)) {
        if (!json) yield `${formatEventLine({ ...r, vm: `${r.host}/${r.vm}` })}\n`;
        else {
          const { id, host, ...rest } = r;
          // The local record's members, with host right after id.
          const text = JSON.stringify({ id, host, ...rest }, null, 2);
          yield `${first ? '\n' : ',\n'}  ${text.replaceAll('\n', '\n  ')}`;
          first = false;
        }
      }
      if (json) yield first ? ']\n' : '\n]\n';
    }
    await writeOut(io, pieces());
    return 0;
  });
}

export async function fleetReportCommand(opts: ReportFlags, url: string, io: Io): Promise<number> {
  const horizonMs = parseWithin(opts.within);
  const judge = opts.health === true || opts.policy !== undefined;
  const policy = judge ? readPolicy(opts.policy, io) : null;
  if (judge && policy === null) return 1;
  return withPg(url, io, async (sql) => {
    const source = fleetReportSource(sql, opts.host);
    const json = opts.json === true;
    let pieces = reportTextAsync(source, { json, horizonMs });
    if (policy !== null) {
      // One host asked about: its verdict, as report --db --health gives; else every host's.
      const verdicts =
        opts.host === undefined
          ? (await fleetHosts(sql, policy)).map((h) => h.health)
          : await fleetHostHealth(sql, policy, opts.host);
      pieces = withFleetHealth(pieces, verdicts, json);
    }
    await writeOut(io, pieces);
    return 0;
  });
}

/**
 * `report --pg --health`: the report's pieces, then the verdicts — one
 * host's as `report --db --health` adds it, or every host's (a `health`
 * array in JSON; in text, the hosts a rule matches and a count of the rest).
 */
async function* withFleetHealth(
  pieces: AsyncIterable<string>,
  verdicts: HostHealth | readonly HostHealth[],
  json: boolean,
): AsyncGenerator<string> {
  let last: string | null = null;
  for await (const piece of pieces) {
    if (last !== null) yield last;
    last = piece;
  }
  if (json) {
    const body = `  "health": ${JSON.stringify(verdicts, null, 2).replaceAll('\n', '\n  ')}\n}\n`;
    yield `${(last ?? '').replace(/\n}\n$/, '')},\n${body}`;
    return;
  }
  if (last !== null) yield last;
  if (!Array.isArray(verdicts)) {
    yield `\nhost health: ${formatHealth(verdicts as HostHealth)}`;
    return;
  }
  const judged = verdicts.filter((h) => h.state !== 'healthy');
  yield `\nhost health: ${judged.length} of ${verdicts.length} hosts not healthy\n`;
  for (const h of judged) yield formatHealth(h);
}

export interface HostsFlags {
  db?: string;
  pg?: string;
  host?: string;
  json?: boolean;
  policy?: string;
}

export async function hostsCommand(opts: HostsFlags, url: string | undefined, io: Io) {
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  const print = (hosts: readonly HostSummary[]) =>
    io.stdout(opts.json ? `${JSON.stringify(hosts, null, 2)}\n` : formatHosts(hosts));
  if (url !== undefined) {
    return withPg(url, io, async (sql) => {
      print(await fleetHosts(sql, policy, opts.host));
      return 0;
    });
  }
  const store = openStoreFor(opts.db, io, true);
  if (store === null) return 1;
  try {
    print([localHost(store, opts.host ?? hostname(), policy)]);
    return 0;
  } finally {
    store.close();
  }
}

/** The local database as one host of the fleet. */
function localHost(store: Store, host: string, policy: Policy): HostSummary {
  const vms = store.failureCounts();
  let last: string | null = null;
  for (const v of vms)
    if (v.lastSeen !== null && (last === null || v.lastSeen > last)) last = v.lastSeen;
  return {
    host,
    vms: vms.length,
    failures: vms.reduce((n, v) => n + v.failures, 0),
    invalid: vms.reduce((n, v) => n + v.invalid, 0),
    lastFailure: last,
    health: hostHealth(store, policy, host),
  };
}

/** Opens the fleet database, checks its schema, runs `use`; a clear error for the usual failures. */
export async function withPg(
  url: string,
  io: Io,
  use: (sql: Sql) => Promise<number>,
): Promise<number> {
  const sql = openPg(url, 1);
  try {
    await checkPgSchema(sql);
    return await use(sql);
  } catch (err) {
    if (err instanceof PgSchemaError) {
      io.stderr(`memfail: ${err.message}\n`);
      return 1;
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|28|3D)/.test(code)) {
      io.stderr(
        `memfail: cannot read the fleet database ${redactPgUrl(url)}: ${(err as Error).message}\n`,
      );
      return 1;
    }
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
