/**
 * The store's schema, as an ordered list of migrations. SQLite's `user_version`
 * records how many have been applied; each runs in its own transaction together
 * with the version bump, so a crash mid-migration leaves the previous version.
 * Append new migrations; never edit one that has shipped.
 */

export interface Migration {
  /** The `user_version` the database has once this migration ran. */
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'memory failures, lifecycle events, alert outbox',
    sql: `
      -- One row per MEMORY_FAILURE received. An event that fails validation is
      -- kept with valid = 0 and error saying why; its canonical columns are
      -- NULL only when they could not be read at all.
      CREATE TABLE memory_failure (
        id              INTEGER PRIMARY KEY,
        vm              TEXT    NOT NULL,
        recipient       TEXT    CHECK (recipient IN ('hypervisor', 'guest')),
        action          TEXT    CHECK (action IN ('ignore', 'inject', 'fatal', 'reset')),
        action_required INTEGER CHECK (action_required IN (0, 1)),
        recursive       INTEGER CHECK (recursive IN (0, 1)),
        timestamp       TEXT,     -- QMP timestamp, ISO 8601 with microseconds
        ts_seconds      INTEGER,  -- QMP timestamp as sent
        ts_micros       INTEGER,
        received_at     TEXT    NOT NULL,  -- agent clock, ISO 8601
        received_us     INTEGER NOT NULL,  -- agent clock, microseconds since the epoch
        dialect         TEXT    CHECK (dialect IN ('qemu', 'seed')),
        raw             TEXT    NOT NULL,  -- the whole QMP message as JSON
        valid           INTEGER NOT NULL CHECK (valid IN (0, 1)),
        error           TEXT,
        dedup_key       BLOB    NOT NULL UNIQUE
      ) STRICT;
      CREATE INDEX memory_failure_vm_time ON memory_failure (vm, received_us);
      CREATE INDEX memory_failure_time ON memory_failure (received_us);

      -- What happened to the VM around its failures: QMP run-state events, and
      -- the agent's own view of the VM's QMP connection opening and closing.
      CREATE TABLE lifecycle (
        id          INTEGER PRIMARY KEY,
        vm          TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('RESET', 'SHUTDOWN', 'STOP', 'RESUME',
                      'GUEST_PANICKED', 'CONNECTED', 'DISCONNECTED')),
        timestamp   TEXT,
        ts_seconds  INTEGER,
        ts_micros   INTEGER,
        received_at TEXT    NOT NULL,
        received_us INTEGER NOT NULL,
        data        TEXT,   -- the event's data (or the connection detail) as JSON
        dedup_key   BLOB    UNIQUE  -- NULL for connection events: each one is new
      ) STRICT;
      CREATE INDEX lifecycle_vm_time ON lifecycle (vm, received_us);

      -- Alerts owed for a failure, one row per sink, written in the same
      -- transaction as the failure; a row stays until its delivery succeeds.
      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        failure_id      INTEGER NOT NULL REFERENCES memory_failure (id),
        sink            TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_us INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        delivered_at    TEXT,
        UNIQUE (failure_id, sink)
      ) STRICT;
      CREATE INDEX outbox_pending ON outbox (sink, next_attempt_us) WHERE delivered_at IS NULL;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
