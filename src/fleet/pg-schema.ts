/**
 * The fleet's PostgreSQL schema as versioned migrations, applied in order
 * by migratePg() under an advisory lock (several collectors starting at
 * once apply each migration once). `memfail_migrations` lists what ran.
 * Append new migrations; never edit one that has shipped.
 *
 * The unique keys are the agent store's own (plus the host): a message
 * delivered twice, by JetStream or by a collector that died before its ack,
 * inserts nothing the second time. vm_summary is kept in the same
 * transaction as the rows it counts, so `hosts` and `report` read counts
 * without scanning memory_failure; host_summary adds it up per host. Partitioning by time is left to the
 * paper design (ARCHITECTURE.md): it would make the unique key include time.
 */
import type { Sql } from 'postgres';

export interface PgMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'fleet memory failures, lifecycle events, per-VM counts, rejected messages',
    sql: `
      CREATE TABLE memory_failure (
        id              bigserial PRIMARY KEY,
        host            text    NOT NULL,
        vm              text    NOT NULL,
        recipient       text    CHECK (recipient IN ('hypervisor', 'guest')),
        action          text    CHECK (action IN ('ignore', 'inject', 'fatal', 'reset')),
        action_required boolean,
        recursive       boolean,
        ts_seconds      bigint  NOT NULL,  -- QMP timestamp as sent (-1, -1: QEMU had no clock)
        ts_micros       integer NOT NULL,
        seen_us         bigint  NOT NULL,  -- QMP time in µs, else the agent's receipt time
        received_us     bigint  NOT NULL,
        dialect         text,
        raw             text    NOT NULL,
        error           text,
        valid           boolean NOT NULL,
        dedup           text    NOT NULL,  -- the agent store's dedup code
        collected_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT memory_failure_key UNIQUE (host, vm, ts_seconds, ts_micros, dedup)
      );
      -- Per host over time (events --host, report --host), and fleet-wide over time.
      CREATE INDEX memory_failure_host_seen ON memory_failure (host, seen_us);
      CREATE INDEX memory_failure_seen ON memory_failure (seen_us);

      CREATE TABLE lifecycle (
        id           bigserial PRIMARY KEY,
        host         text    NOT NULL,
        vm           text    NOT NULL,
        kind         text    NOT NULL,
        ts_seconds   bigint,
        ts_micros    integer,
        received_us  bigint  NOT NULL,
        data         text,
        dedup        text    NOT NULL,
        collected_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT lifecycle_key UNIQUE NULLS NOT DISTINCT (host, vm, kind, ts_seconds, ts_micros, dedup)
      );
      CREATE INDEX lifecycle_vm_time ON lifecycle (host, vm, received_us);

      -- What Store.failureCounts() adds up per VM, kept as rows arrive.
      CREATE TABLE vm_summary (
        host            text   NOT NULL,
        vm              text   NOT NULL,
        failures        bigint NOT NULL,  -- readable ones
        hypervisor      bigint NOT NULL,
        guest           bigint NOT NULL,
        ignore          bigint NOT NULL,
        inject          bigint NOT NULL,
        fatal           bigint NOT NULL,
        reset           bigint NOT NULL,
        action_required bigint NOT NULL,
        recursive       bigint NOT NULL,
        invalid         bigint NOT NULL,  -- flagged invalid, readable or not
        first_us        bigint NOT NULL,
        last_us         bigint NOT NULL,
        PRIMARY KEY (host, vm)
      );

      -- Messages on the stream that could not be stored as records, kept for
      -- a person (or a newer collector) to look at; never retried.
      CREATE TABLE rejected (
        id          bigserial PRIMARY KEY,
        stream      text    NOT NULL,
        stream_seq  bigint  NOT NULL,
        subject     text    NOT NULL,
        reason      text    NOT NULL CHECK (reason IN ('not-ours', 'malformed', 'newer-version', 'oversized')),
        detail      text    NOT NULL,
        version     integer,
        size        integer NOT NULL,
        payload     bytea,  -- NULL when oversized
        rejected_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream, stream_seq)
      );
    `,
  },
  {
    version: 2,
    description: 'per-host counts beside vm_summary (the dashboard reads hosts, not VMs)',
    sql: `
      -- vm_summary added up per host, kept in the same transaction: what
      -- changed since the dashboard last judged a host (failures never
      -- decreases), and each host's last failure, in one row per host.
      CREATE TABLE host_summary (
        host     text   PRIMARY KEY,
        failures bigint NOT NULL,  -- readable ones, as vm_summary.failures
        last_us  bigint NOT NULL
      );
      INSERT INTO host_summary (host, failures, last_us)
        SELECT host, sum(failures), max(last_us) FROM vm_summary GROUP BY host;
    `,
  },
  {
    version: 3,
    description: 'hosts draining: the drain limit across agents (watch --act --drain-pg)',
    sql: `
      -- One row per host being evacuated, a lease its agent renews
      -- (fleet/drain-pg.ts); the drain limit counts the rows.
      CREATE TABLE draining (
        host       text        PRIMARY KEY,
        reason     text        NOT NULL,
        owner      text        NOT NULL,  -- hostname:pid of the memfail draining it
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        renewed_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

export class PgSchemaError extends Error {
  override name = 'PgSchemaError';
}

/** An arbitrary constant: the advisory lock migrations hold. */
const MIGRATION_LOCK = 0x6d656d66;

/** Brings the database to the last migration; throws PgSchemaError when it is newer. */
export async function migratePg(sql: Sql): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS memfail_migrations (
      version     integer PRIMARY KEY,
      description text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`;
    const [row] = await tx<
      { v: number | null }[]
    >`SELECT max(version) AS v FROM memfail_migrations`;
    const current = row?.v ?? 0;
    if (current > PG_SCHEMA_VERSION) {
      throw new PgSchemaError(
        `the fleet database has schema version ${current}, newer than this memfail understands (${PG_SCHEMA_VERSION}); upgrade memfail`,
      );
    }
    for (const m of PG_MIGRATIONS) {
      if (m.version <= current) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO memfail_migrations (version, description) VALUES (${m.version}, ${m.description})`;
    }
    return PG_SCHEMA_VERSION;
  });
}

/**
 * For readers: the schema must be there (a collector made it) and not newer
 * than this memfail. Changes nothing.
 */
export async function checkPgSchema(sql: Sql): Promise<void> {
  const [t] = await sql`SELECT to_regclass('memfail_migrations') IS NOT NULL AS present`;
  if (!t?.present) {
    throw new PgSchemaError('no fleet data in this database (has `memfail collect` run?)');
  }
  const [row] = await sql<{ v: number | null }[]>`SELECT max(version) AS v FROM memfail_migrations`;
  if ((row?.v ?? 0) > PG_SCHEMA_VERSION) {
    throw new PgSchemaError(
      `the fleet database has schema version ${row?.v}, newer than this memfail understands (${PG_SCHEMA_VERSION}); upgrade memfail`,
    );
  }
}
