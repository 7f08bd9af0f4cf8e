/**
 * `memfail serve`: opens the store read-only (or the fleet database with
 * --pg) and serves the dashboard until SIGINT/SIGTERM.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { defaultDbPath } from '../agent/paths.js';
import { Store, StoreError } from '../agent/store.js';
import { DEFAULT_POLICY, type Policy } from '../health/policy.js';
import { openPg, redactPgUrl } from '../fleet/pg.js';
import { checkPgSchema, PgSchemaError } from '../fleet/pg-schema.js';
import { journalEvacuations } from '../web/evacuations.js';
import { fleetPolicyHealth, policyHealth } from '../web/health.js';
import { parseListen } from '../web/listen.js';
import { type Dashboard, ListenError, startDashboard, type TlsFiles } from '../web/server.js';
import { PgSource } from '../web/pg-source.js';
import { SqliteSource } from '../web/sqlite-source.js';
import { pgUrl } from './fleet-flags.js';
import { readPolicy } from './health-run.js';
import type { Io } from './io.js';
import { UsageError } from './io.js';

export async function serve(opts: ServeFlags, io: Io): Promise<number> {
  let listen: ReturnType<typeof parseListen>;
  try {
    listen = parseListen(opts.listen);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const token = tokenOf(opts);
  const tls = tlsOf(opts);
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  const where = {
    ...listen,
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
  };
  if (opts.journal !== undefined && !existsSync(opts.journal)) {
    io.stderr(`memfail: no evacuation journal at ${opts.journal}\n`);
    return 1;
  }
  const url = pgUrl(opts);
  const dashboard =
    url !== undefined
      ? await openFleetDashboard(url, where, io, policy, opts.journal)
      : await openDashboard(
          opts.db ?? defaultDbPath(),
          opts.host ?? hostname(),
          where,
          io,
          policy,
          opts.journal,
        );
  if (dashboard === null) return 1;
  await untilSignal();
  await dashboard.close();
  return 0;
}

/**
 * Starts a dashboard over `db` and says where; null (after saying why) when
 * it cannot. Evacuations come from `journal` (default: `db`, where `health
 * --act` and `evacuate` keep them unless told otherwise).
 */
export async function openDashboard(
  db: string,
  host: string,
  listen: { host: string; port: number; token?: string; tls?: TlsFiles },
  io: Io,
  policy: Policy = DEFAULT_POLICY,
  journal: string = db,
): Promise<(Dashboard & { source: SqliteSource }) | null> {
  let source: SqliteSource;
  let store: Store;
  try {
    source = SqliteSource.open(db, host);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return null;
  }
  try {
    store = Store.openReadOnly(db);
  } catch (err) {
    source.close();
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return null;
  }
  try {
    const health = policyHealth(store, policy);
    const evacuations = journalEvacuations(journal);
    const dashboard = await startDashboard({ source, health, evacuations, ...listen });
    io.stderr(
      `memfail: dashboard at ${dashboard.url}${listen.token === undefined ? '' : ' (token required)'}` +
        `${listen.tls?.clientCa === undefined ? '' : ' (client certificate required)'}\n`,
    );
    return {
      source,
      url: dashboard.url,
      close: async () => {
        await dashboard.close();
        evacuations.close();
        source.close();
        store.close();
      },
    };
  } catch (err) {
    source.close();
    store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (
      err instanceof ListenError ||
      code === 'EADDRINUSE' ||
      code === 'EACCES' ||
      code === 'EADDRNOTAVAIL'
    ) {
      io.stderr(
        `memfail: cannot serve on ${listen.host}:${listen.port}: ${(err as Error).message}\n`,
      );
      return null;
    }
    throw err;
  }
}

/**
 * A dashboard over the fleet database; null (after saying why) when it
 * cannot start. Evacuations come from `journal` when given (the fleet
 * database holds none).
 */
export async function openFleetDashboard(
  url: string,
  listen: { host: string; port: number; token?: string; tls?: TlsFiles },
  io: Io,
  policy: Policy = DEFAULT_POLICY,
  journal?: string,
): Promise<Dashboard | null> {
  const sql = openPg(url, 4);
  try {
    await checkPgSchema(sql);
  } catch (err) {
    await sql.end({ timeout: 5 });
    if (err instanceof PgSchemaError) {
      io.stderr(`memfail: ${err.message}\n`);
      return null;
    }
    io.stderr(
      `memfail: cannot read the fleet database ${redactPgUrl(url)}: ${(err as Error).message}\n`,
    );
    return null;
  }
  const source = new PgSource(sql);
  try {
    const health = fleetPolicyHealth(sql, policy);
    const evacuations = journal === undefined ? undefined : journalEvacuations(journal);
    const dashboard = await startDashboard({ source, health, evacuations, ...listen });
    io.stderr(
      `memfail: dashboard of ${redactPgUrl(url)} at ${dashboard.url}` +
        `${listen.token === undefined ? '' : ' (token required)'}` +
        `${listen.tls?.clientCa === undefined ? '' : ' (client certificate required)'}\n`,
    );
    return {
      url: dashboard.url,
      close: async () => {
        await dashboard.close();
        evacuations?.close();
        await source.close();
      },
    };
  } catch (err) {
    await source.close();
    if (err instanceof ListenError || isListenFailure(err)) {
      io.stderr(
        `memfail: cannot serve on ${listen.host}:${listen.port}: ${(err as Error).message}\n`,
      );
      return null;
    }
    throw err;
  }
}

function isListenFailure(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL';
}

export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export interface ServeFlags {
  db?: string;
  pg?: string;
  listen: string;
  token?: string;
  host?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  policy?: string;
  journal?: string;
}

/** The TLS files, read; a usage error when half given or unreadable. */
export function tlsOf(opts: ServeFlags): TlsFiles | undefined {
  const { tlsCert, tlsKey, tlsClientCa } = opts;
  if (tlsCert === undefined && tlsKey === undefined) {
    if (tlsClientCa !== undefined)
      throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
    return undefined;
  }
  if (tlsCert === undefined || tlsKey === undefined) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`cannot read ${flag} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read(tlsCert, '--tls-cert'),
    key: read(tlsKey, '--tls-key'),
    ...(tlsClientCa === undefined ? {} : { clientCa: read(tlsClientCa, '--tls-client-ca') }),
  };
}

export function tokenOf(opts: ServeFlags): string | undefined {
  const token = opts.token ?? process.env.MEMFAIL_TOKEN;
  if (token !== undefined && token.length < 8) {
    throw new UsageError('--token must be at least 8 characters');
  }
  return token;
}
