/**
 * The drain limit kept in the fleet database (`draining`, migration 3): a
 * row per host draining, admitted under a transaction-scoped advisory lock
 * so that two agents never both take the last place. A row is a lease: the
 * agent renews it while its evacuation runs, and a row not renewed for
 * `leaseMs` (its agent died or lost the database) is cleared by the next
 * admission, so a dead agent does not hold the fleet's places for ever.
 */
import { hostname } from 'node:os';
import type { DrainGate } from '../evacuate/drain.js';
import { openPg, redactPgUrl, type Sql } from './pg.js';
import { migratePg } from './pg-schema.js';

/** An arbitrary constant, not the migrations' lock. */
const DRAIN_LOCK = 0x6d66_6472;

export const DEFAULT_LEASE_MS = 5 * 60_000;

export class PgDrainGate implements DrainGate {
  readonly where: string;
  readonly renewMs: number;
  private ready: Promise<unknown> | null = null;
  private readonly owner = `${hostname()}:${process.pid}`;

  private constructor(
    private readonly sql: Sql,
    url: string,
    private readonly leaseMs: number,
    private readonly ownsSql: boolean,
  ) {
    this.where = `the fleet database ${redactPgUrl(url)}`;
    this.renewMs = Math.max(1, Math.floor(leaseMs / 3));
  }

  /** A gate over the database at `url` (connected, and its schema brought up to date, on first use). */
  static open(url: string, leaseMs = DEFAULT_LEASE_MS): PgDrainGate {
    return new PgDrainGate(openPg(url, 1), url, leaseMs, true);
  }

  /** A gate on a client the caller owns (tests, the demo). */
  static over(sql: Sql, url: string, leaseMs = DEFAULT_LEASE_MS): PgDrainGate {
    return new PgDrainGate(sql, url, leaseMs, false);
  }

  async enter(
    host: string,
    limit: number,
    reason: string,
  ): Promise<{ readonly draining: readonly string[] } | null> {
    await this.schema();
    return await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${DRAIN_LOCK})`;
      await tx`DELETE FROM draining
        WHERE renewed_at < clock_timestamp() - ${this.leaseMs} * interval '1 millisecond'`;
      const others = await tx<{ host: string }[]>`
        SELECT host FROM draining WHERE host <> ${host} ORDER BY started_at, host`;
      if (others.length >= limit) return { draining: others.map((r) => r.host) };
      await tx`INSERT INTO draining (host, reason, owner) VALUES (${host}, ${reason}, ${this.owner})
        ON CONFLICT (host) DO UPDATE SET renewed_at = clock_timestamp(), owner = excluded.owner`;
      return null;
    });
  }

  async renew(host: string): Promise<void> {
    await this.sql`UPDATE draining SET renewed_at = clock_timestamp() WHERE host = ${host}`;
  }

  async leave(host: string): Promise<void> {
    await this.sql`DELETE FROM draining WHERE host = ${host}`;
  }

  async close(): Promise<void> {
    if (this.ownsSql) await this.sql.end({ timeout: 5 });
  }

  private schema(): Promise<unknown> {
    this.ready ??= migratePg(this.sql).catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }
}
