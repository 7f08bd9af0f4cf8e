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

/** QMP's timestamp as ISO 8601 with microseconds, e.g. 2026-11-25T10:41:07.332511Z. */
const ISO_TIMESTAMP = `CASE WHEN ts_seconds >= 0 THEN
  strftime('%Y-%m-%dT%H:%M:%S', ts_seconds, 'unixepoch') || printf('.%06dZ', ts_micros) END`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'memory failures, lifecycle events, alert outbox',
    sql: `
      -- One row per MEMORY_FAILURE received. An event that fails validation is
      -- kept with valid = 0 and error saying why; its canonical columns are
      -- NULL only when they could not be read at all. Built for ingest speed:
      -- one index, the ISO timestamp computed on read, and the raw message
      -- stored only when the canonical columns do not reproduce it exactly.
      CREATE TABLE memory_failure (
        id              INTEGER PRIMARY KEY,
        vm              TEXT    NOT NULL,
        recipient       TEXT    CHECK (recipient IN ('hypervisor', 'guest')),
        action          TEXT    CHECK (action IN ('ignore', 'inject', 'fatal', 'reset')),
        action_required INTEGER CHECK (action_required IN (0, 1)),
        recursive       INTEGER CHECK (recursive IN (0, 1)),
        ts_seconds      INTEGER NOT NULL,  -- QMP timestamp as sent (-1, -1: QEMU had no clock)
        ts_micros       INTEGER NOT NULL,
        timestamp       TEXT GENERATED ALWAYS AS (${ISO_TIMESTAMP}) VIRTUAL,
        received_us     INTEGER NOT NULL,  -- receipt time: agent clock, µs since the epoch
        dialect         TEXT    CHECK (dialect IN ('qemu', 'seed')),
        -- The whole QMP message as JSON; NULL when it is exactly the dialect's
        -- wire form of the canonical columns (store.ts rebuilds it on read).
        raw             TEXT,
        valid           INTEGER NOT NULL CHECK (valid IN (0, 1)),
        error           TEXT,
        -- With the VM and the timestamp, identifies the event across replays
        -- (store.ts): a small integer for the canonical content, or a hash.
        dedup           ANY     NOT NULL,
        UNIQUE (vm, ts_seconds, ts_micros, dedup)
      ) STRICT;

      -- What happened to the VM around its failures: QMP run-state events, and
      -- the agent's own view of the VM's QMP connection opening and closing.
      CREATE TABLE lifecycle (
        id          INTEGER PRIMARY KEY,
        vm          TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('RESET', 'SHUTDOWN', 'STOP', 'RESUME',
                      'GUEST_PANICKED', 'CONNECTED', 'DISCONNECTED')),
        ts_seconds  INTEGER,
        ts_micros   INTEGER,
        timestamp   TEXT GENERATED ALWAYS AS (${ISO_TIMESTAMP}) VIRTUAL,
        received_us INTEGER NOT NULL,
        data        TEXT,   -- the event's data (or the connection detail) as JSON
        dedup       TEXT,   -- hash of the data; NULL for connection events (each one is new)
        UNIQUE (vm, ts_seconds, ts_micros, kind, dedup)
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
      CREATE INDEX outbox_pending ON outbox (sink, id) WHERE delivered_at IS NULL;
    `,
  },
  {
    version: 2,
    description: 'the raw message stored for every failure',
    sql: `
      -- Version 1 left raw NULL when the message was exactly the dialect's wire
      -- form of the canonical columns (and rebuilt it on read). From now on
      -- every row carries its message: write that same text into those rows.
      UPDATE memory_failure SET raw =
        '{"event":"MEMORY_FAILURE","data":{' ||
        CASE dialect
          WHEN 'qemu' THEN '"recipient":"' || recipient || '","action":"' || action || '"'
          ELSE '"action":"' || CASE action
            WHEN 'ignore' THEN 'hypervisor-ignore'
            WHEN 'fatal' THEN 'hypervisor-fatal'
            WHEN 'inject' THEN 'guest-mce-inject'
            WHEN 'reset' THEN 'guest-mce-fatal' END || '"'
        END ||
        ',"flags":{"action-required":' || iif(action_required = 1, 'true', 'false') ||
        ',"recursive":' || iif(recursive = 1, 'true', 'false') ||
        '}},"timestamp":{"seconds":' || ts_seconds || ',"microseconds":' || ts_micros || '}}'
      WHERE raw IS NULL;
    `,
  },
  {
    version: 3,
    description: 'memory_failure rebuilt for ingest speed: canonical fields as one content code',
    sql: `
      -- The same columns for readers, fewer for the insert: recipient, action,
      -- both flags and valid are now computed on read from a 5-bit content
      -- code (rows.ts: bit 0 guest, bits 1-2 the action's index in ignore,
      -- inject, fatal, reset, bit 3 action-required, bit 4 recursive; NULL
      -- when the event was unreadable), and the per-row CHECKs are gone (the
      -- agent writes only what it mapped). Ids are kept: the outbox refers to them.
      CREATE TABLE memory_failure_v3 (
        id              INTEGER PRIMARY KEY,
        vm              TEXT    NOT NULL,
        content         INTEGER,
        ts_seconds      INTEGER NOT NULL,  -- QMP timestamp as sent (-1, -1: QEMU had no clock)
        ts_micros       INTEGER NOT NULL,
        received_us     INTEGER NOT NULL,  -- receipt time: agent clock, µs since the epoch
        dialect         TEXT,              -- 'qemu' or 'seed'; NULL when it could not be told
        raw             TEXT    NOT NULL,  -- the QMP message as JSON
        error           TEXT,              -- why it failed validation; NULL: valid
        dedup           ANY     NOT NULL,  -- see migration 1
        recipient       TEXT    GENERATED ALWAYS AS (
                          CASE WHEN content IS NOT NULL THEN iif(content & 1, 'guest', 'hypervisor') END) VIRTUAL,
        action          TEXT    GENERATED ALWAYS AS (
                          CASE (content >> 1) & 3 WHEN 0 THEN 'ignore' WHEN 1 THEN 'inject'
                            WHEN 2 THEN 'fatal' WHEN 3 THEN 'reset' END) VIRTUAL,
        action_required INTEGER GENERATED ALWAYS AS ((content >> 3) & 1) VIRTUAL,
        recursive       INTEGER GENERATED ALWAYS AS ((content >> 4) & 1) VIRTUAL,
        valid           INTEGER GENERATED ALWAYS AS (content IS NOT NULL AND error IS NULL) VIRTUAL,
        timestamp       TEXT    GENERATED ALWAYS AS (${ISO_TIMESTAMP}) VIRTUAL,
        UNIQUE (vm, ts_seconds, ts_micros, dedup)
      ) STRICT;
      INSERT INTO memory_failure_v3
        (id, vm, content, ts_seconds, ts_micros, received_us, dialect, raw, error, dedup)
      SELECT id, vm,
        CASE WHEN recipient IS NOT NULL AND action IS NOT NULL THEN
          (recipient = 'guest')
          | (CASE action WHEN 'ignore' THEN 0 WHEN 'inject' THEN 1 WHEN 'fatal' THEN 2 ELSE 3 END << 1)
          | (coalesce(action_required, 0) << 3) | (coalesce(recursive, 0) << 4)
        END,
        ts_seconds, ts_micros, received_us, dialect, raw, error, dedup
      FROM memory_failure;
      DROP TABLE memory_failure;
      ALTER TABLE memory_failure_v3 RENAME TO memory_failure;
    `,
  },
  {
    version: 4,
    description: "raw messages in QEMU's or the compact layout kept as a layout number",
    sql: `
      -- Almost every message is exactly QEMU's JSON text (or the compact one)
      -- of the row's own columns: for those, raw_text is NULL and layout says
      -- which, and raw rebuilds the message (agent/raw-layout.ts has the same
      -- template and stores NULL only when the message is exactly its text).
      -- Readers see raw as before. Layouts: 1 QEMU's writer (': ' and ', '),
      -- 2 compact; never change one, add numbers.
      CREATE TABLE memory_failure_v4 (
        id              INTEGER PRIMARY KEY,
        vm              TEXT    NOT NULL,
        content         INTEGER,
        ts_seconds      INTEGER NOT NULL,  -- QMP timestamp as sent (-1, -1: QEMU had no clock)
        ts_micros       INTEGER NOT NULL,
        received_us     INTEGER NOT NULL,  -- receipt time: agent clock, µs since the epoch
        dialect         TEXT,              -- 'qemu' or 'seed'; NULL when it could not be told
        layout          INTEGER,           -- raw_text NULL: the layout raw rebuilds
        raw_text        TEXT,              -- the QMP message as received, unless layout says it
        error           TEXT,              -- why it failed validation; NULL: valid
        dedup           ANY     NOT NULL,  -- see migration 1
        recipient       TEXT    GENERATED ALWAYS AS (
                          CASE WHEN content IS NOT NULL THEN iif(content & 1, 'guest', 'hypervisor') END) VIRTUAL,
        action          TEXT    GENERATED ALWAYS AS (
                          CASE (content >> 1) & 3 WHEN 0 THEN 'ignore' WHEN 1 THEN 'inject'
                            WHEN 2 THEN 'fatal' WHEN 3 THEN 'reset' END) VIRTUAL,
        action_required INTEGER GENERATED ALWAYS AS ((content >> 3) & 1) VIRTUAL,
        recursive       INTEGER GENERATED ALWAYS AS ((content >> 4) & 1) VIRTUAL,
        valid           INTEGER GENERATED ALWAYS AS (content IS NOT NULL AND error IS NULL) VIRTUAL,
        timestamp       TEXT    GENERATED ALWAYS AS (${ISO_TIMESTAMP}) VIRTUAL,
        raw             TEXT    GENERATED ALWAYS AS (coalesce(raw_text,
          CASE WHEN layout IN (1, 2) THEN
            '{"timestamp"' || iif(layout = 1, ': {"seconds": ', ':{"seconds":') || ts_seconds
            || iif(layout = 1, ', "microseconds": ', ',"microseconds":') || ts_micros
            || iif(layout = 1, '}, "event": "MEMORY_FAILURE", "data": {', '},"event":"MEMORY_FAILURE","data":{')
            || CASE dialect
                 WHEN 'qemu' THEN iif(layout = 1, '"recipient": "', '"recipient":"')
                   || iif(content & 1, 'guest', 'hypervisor')
                   || iif(layout = 1, '", "action": "', '","action":"') || action
                 ELSE iif(layout = 1, '"action": "', '"action":"')
                   || CASE (content >> 1) & 3 WHEN 0 THEN 'hypervisor-ignore' WHEN 1 THEN 'guest-mce-inject'
                        WHEN 2 THEN 'hypervisor-fatal' WHEN 3 THEN 'guest-mce-fatal' END
               END
            || iif(layout = 1, '", "flags": {"action-required": ', '","flags":{"action-required":')
            || iif(content & 8, 'true', 'false')
            || iif(layout = 1, ', "recursive": ', ',"recursive":') || iif(content & 16, 'true', 'false')
            || '}}}'
          END)) VIRTUAL,
        CHECK (raw_text IS NOT NULL OR (layout IS NOT NULL AND layout IN (1, 2)
          AND content IS NOT NULL AND dialect IS NOT NULL)),
        UNIQUE (vm, ts_seconds, ts_micros, dedup)
      ) STRICT;
      INSERT INTO memory_failure_v4
        (id, vm, content, ts_seconds, ts_micros, received_us, dialect, layout, raw_text, error, dedup)
      SELECT id, vm, content, ts_seconds, ts_micros, received_us, dialect, NULL, raw, error, dedup
      FROM memory_failure;
      DROP TABLE memory_failure;
      ALTER TABLE memory_failure_v4 RENAME TO memory_failure;
    `,
  },
  {
    version: 5,
    description: "raw messages in QEMU 7.2's own member order kept as layout 3",
    sql: `
      -- Layout 1 (migration 4) has QEMU's separators but the schema's member
      -- order, which QEMU does not use: its dictionaries print in hash order,
      -- and QEMU 7.2 writes MEMORY_FAILURE's data as flags (recursive, then
      -- action-required), recipient, action (checked against the real QEMU in
      -- test/agent/qemu.test.ts). Layout 3 is that text, for the QEMU dialect
      -- only. Layouts 1 and 2 keep their meaning.
      CREATE TABLE memory_failure_v5 (
        id              INTEGER PRIMARY KEY,
        vm              TEXT    NOT NULL,
        content         INTEGER,
        ts_seconds      INTEGER NOT NULL,  -- QMP timestamp as sent (-1, -1: QEMU had no clock)
        ts_micros       INTEGER NOT NULL,
        received_us     INTEGER NOT NULL,  -- receipt time: agent clock, µs since the epoch
        dialect         TEXT,              -- 'qemu' or 'seed'; NULL when it could not be told
        layout          INTEGER,           -- raw_text NULL: the layout raw rebuilds
        raw_text        TEXT,              -- the QMP message as received, unless layout says it
        error           TEXT,              -- why it failed validation; NULL: valid
        dedup           ANY     NOT NULL,  -- see migration 1
        recipient       TEXT    GENERATED ALWAYS AS (
                          CASE WHEN content IS NOT NULL THEN iif(content & 1, 'guest', 'hypervisor') END) VIRTUAL,
        action          TEXT    GENERATED ALWAYS AS (
                          CASE (content >> 1) & 3 WHEN 0 THEN 'ignore' WHEN 1 THEN 'inject'
                            WHEN 2 THEN 'fatal' WHEN 3 THEN 'reset' END) VIRTUAL,
        action_required INTEGER GENERATED ALWAYS AS ((content >> 3) & 1) VIRTUAL,
        recursive       INTEGER GENERATED ALWAYS AS ((content >> 4) & 1) VIRTUAL,
        valid           INTEGER GENERATED ALWAYS AS (content IS NOT NULL AND error IS NULL) VIRTUAL,
        timestamp       TEXT    GENERATED ALWAYS AS (${ISO_TIMESTAMP}) VIRTUAL,
        raw             TEXT    GENERATED ALWAYS AS (coalesce(raw_text,
          CASE WHEN layout IN (1, 2) THEN
            '{"timestamp"' || iif(layout = 1, ': {"seconds": ', ':{"seconds":') || ts_seconds
            || iif(layout = 1, ', "microseconds": ', ',"microseconds":') || ts_micros
            || iif(layout = 1, '}, "event": "MEMORY_FAILURE", "data": {', '},"event":"MEMORY_FAILURE","data":{')
            || CASE dialect
                 WHEN 'qemu' THEN iif(layout = 1, '"recipient": "', '"recipient":"')
                   || iif(content & 1, 'guest', 'hypervisor')
                   || iif(layout = 1, '", "action": "', '","action":"') || action
                 ELSE iif(layout = 1, '"action": "', '"action":"')
                   || CASE (content >> 1) & 3 WHEN 0 THEN 'hypervisor-ignore' WHEN 1 THEN 'guest-mce-inject'
                        WHEN 2 THEN 'hypervisor-fatal' WHEN 3 THEN 'guest-mce-fatal' END
               END
            || iif(layout = 1, '", "flags": {"action-required": ', '","flags":{"action-required":')
            || iif(content & 8, 'true', 'false')
            || iif(layout = 1, ', "recursive": ', ',"recursive":') || iif(content & 16, 'true', 'false')
            || '}}}'
          WHEN layout = 3 AND dialect = 'qemu' THEN
            '{"timestamp": {"seconds": ' || ts_seconds || ', "microseconds": ' || ts_micros
            || '}, "event": "MEMORY_FAILURE", "data": {"flags": {"recursive": '
            || iif(content & 16, 'true', 'false') || ', "action-required": '
            || iif(content & 8, 'true', 'false') || '}, "recipient": "'
            || iif(content & 1, 'guest', 'hypervisor') || '", "action": "' || action || '"}}'
          END)) VIRTUAL,
        CHECK (raw_text IS NOT NULL OR (layout IS NOT NULL AND content IS NOT NULL
          AND ((layout IN (1, 2) AND dialect IS NOT NULL) OR (layout = 3 AND dialect = 'qemu')))),
        UNIQUE (vm, ts_seconds, ts_micros, dedup)
      ) STRICT;
      INSERT INTO memory_failure_v5
        (id, vm, content, ts_seconds, ts_micros, received_us, dialect, layout, raw_text, error, dedup)
      SELECT id, vm, content, ts_seconds, ts_micros, received_us, dialect, layout, raw_text, error, dedup
      FROM memory_failure;
      DROP TABLE memory_failure;
      ALTER TABLE memory_failure_v5 RENAME TO memory_failure;
    `,
  },
  {
    version: 6,
    description:
      'hardening: capped raw messages, quarantine, gaps, agent runs, alert dead letters and claims',
    sql: `
      -- A raw message longer than the cap is stored cut (raw_text holds its
      -- start); raw_length is then the whole message's length in characters
      -- and raw_sha256 its hash (hex). Both NULL: raw is the whole message.
      ALTER TABLE memory_failure ADD COLUMN raw_length INTEGER;
      ALTER TABLE memory_failure ADD COLUMN raw_sha256 TEXT;

      -- Observations the database refused even after the batch was split
      -- (agent/batch.ts): kept here with the reason rather than blocking
      -- every later commit. Untyped on purpose: a row here must always fit.
      CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        vm,
        kind,
        received_us,
        reason      NOT NULL,
        record      NOT NULL   -- the observation as JSON (capped)
      );

      -- When the record may be incomplete (QMP does not replay events): the
      -- agent was killed (from its last sign of life to the next start), or a
      -- VM's connection was lost and regained. vm NULL: every VM.
      CREATE TABLE gap (
        id          INTEGER PRIMARY KEY,
        vm          TEXT,
        from_us     INTEGER NOT NULL,
        to_us       INTEGER NOT NULL,
        reason      TEXT    NOT NULL CHECK (reason IN ('agent-killed', 'connection-lost')),
        detail      TEXT
      ) STRICT;
      CREATE INDEX gap_vm_time ON gap (vm, from_us);

      -- One row per watch process: its heartbeat tells the next start how
      -- long the record was unwatched when it did not end cleanly.
      CREATE TABLE agent_run (
        id          INTEGER PRIMARY KEY,
        pid         INTEGER NOT NULL,
        started_us  INTEGER NOT NULL,
        alive_us    INTEGER NOT NULL,
        ended_us    INTEGER,           -- NULL: running, or killed
        vms         TEXT    NOT NULL   -- JSON list of the VM names it watched
      ) STRICT;

      -- Alerts: dead_at set once a sink refused it (4xx) or it failed too
      -- often; "memfail alerts retry" clears it. A delivery first claims its
      -- row (claim_until_us in the future) so two agents never both send it.
      ALTER TABLE outbox ADD COLUMN dead_at TEXT;
      ALTER TABLE outbox ADD COLUMN claim_until_us INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    `,
  },
  {
    version: 7,
    description: 'failures by receipt time, for the dashboard',
    sql: `
      -- The dashboard (src/web) asks for a time range: counts per time bucket
      -- by content and per VM. This index answers those from its own pages
      -- (receipt time, content code, VM), without reading the rows.
      CREATE INDEX memory_failure_received ON memory_failure (received_us, content, vm);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
