/**
 * Every evacuation step, durably: an evacuation of a host is a set of steps,
 * one per VM, each planned → started → completed | failed | skipped, and
 * every transition is also appended to a log with its reason. The tables
 * live in the agent's SQLite file beside its failures (created here if
 * missing, so they need no agent migration), and a write commits before the
 * step it describes goes on: a memfail killed at any point restarts from
 * what the journal says.
 */
import Database from 'better-sqlite3';

export type StepState = 'planned' | 'started' | 'completed' | 'failed' | 'skipped';
export type EvacuationState = 'running' | 'done' | 'incomplete';

export interface Step {
  readonly evacuation: number;
  readonly vm: string;
  readonly dest: string;
  readonly state: StepState;
  readonly detail: string;
  readonly updatedAt: string;
}

export interface Evacuation {
  readonly id: number;
  readonly host: string;
  readonly driver: string;
  readonly state: EvacuationState;
  readonly reason: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
}

export interface LogEntry {
  readonly vm: string | null;
  readonly state: string;
  readonly detail: string;
  readonly at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS evacuation (
  id INTEGER PRIMARY KEY,
  host TEXT NOT NULL,
  driver TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'incomplete')),
  reason TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX IF NOT EXISTS evacuation_host ON evacuation (host, state);
CREATE TABLE IF NOT EXISTS evacuation_step (
  evacuation_id INTEGER NOT NULL REFERENCES evacuation (id),
  vm TEXT NOT NULL,
  dest TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('planned', 'started', 'completed', 'failed', 'skipped')),
  detail TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (evacuation_id, vm)
);
CREATE TABLE IF NOT EXISTS evacuation_log (
  id INTEGER PRIMARY KEY,
  evacuation_id INTEGER NOT NULL REFERENCES evacuation (id),
  vm TEXT,
  state TEXT NOT NULL,
  detail TEXT NOT NULL,
  at TEXT NOT NULL
);
`;

export class Journal {
  private constructor(private readonly db: Database.Database) {}

  static open(path: string): Journal {
    const db = new Database(path);
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    // Every transition must survive a power loss as well as a kill: they are few.
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    return new Journal(db);
  }

  /**
   * The journal in `path` for reading alone (the dashboard), or null while
   * the file holds no journal yet (nothing was ever evacuated from it).
   */
  static openReadOnly(path: string): Journal | null {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evacuation_step'")
      .get();
    if (table === undefined) {
      db.close();
      return null;
    }
    return new Journal(db);
  }

  close(): void {
    this.db.close();
  }

  /** The unfinished evacuation of `host`, if one was interrupted. */
  running(host: string): Evacuation | null {
    const row = this.db
      .prepare(
        "SELECT * FROM evacuation WHERE host = ? AND state = 'running' ORDER BY id DESC LIMIT 1",
      )
      .get(host) as EvacuationRow | undefined;
    return row === undefined ? null : toEvacuation(row);
  }

  /** Hosts with an evacuation running (the drain limit counts them). */
  draining(): string[] {
    return (
      this.db.prepare("SELECT DISTINCT host FROM evacuation WHERE state = 'running'").all() as {
        host: string;
      }[]
    ).map((r) => r.host);
  }

  evacuations(host?: string): Evacuation[] {
    const rows = (
      host === undefined
        ? this.db.prepare('SELECT * FROM evacuation ORDER BY id').all()
        : this.db.prepare('SELECT * FROM evacuation WHERE host = ? ORDER BY id').all(host)
    ) as EvacuationRow[];
    return rows.map(toEvacuation);
  }

  /**
   * Starts an evacuation of `host` unless `drainLimit` hosts are draining
   * already (then returns their names instead). The count and the insert are
   * one IMMEDIATE transaction: two memfails sharing this file never both pass.
   */
  begin(
    host: string,
    driver: string,
    reason: string,
    plan: readonly { vm: string; dest: string }[],
    drainLimit = Number.POSITIVE_INFINITY,
  ): number | { readonly draining: readonly string[] } {
    return this.db
      .transaction((): number | { readonly draining: readonly string[] } => {
        const draining = this.draining().filter((h) => h !== host);
        if (draining.length >= drainLimit) return { draining };
        const at = now();
        const id = Number(
          this.db
            .prepare(
              "INSERT INTO evacuation (host, driver, state, reason, started_at) VALUES (?, ?, 'running', ?, ?)",
            )
            .run(host, driver, reason, at).lastInsertRowid,
        );
        this.log(id, null, 'running', reason, at);
        for (const { vm, dest } of plan) {
          this.db
            .prepare(
              "INSERT INTO evacuation_step (evacuation_id, vm, dest, state, detail, updated_at) VALUES (?, ?, ?, 'planned', ?, ?)",
            )
            .run(id, vm, dest, `to ${dest}`, at);
          this.log(id, vm, 'planned', `to ${dest}`, at);
        }
        return id;
      })
      .immediate();
  }

  /** Adds a step to a running evacuation (a VM that appeared since it was planned). */
  addStep(id: number, vm: string, dest: string): void {
    const at = now();
    this.db.transaction(() => {
      this.db
        .prepare(
          "INSERT OR IGNORE INTO evacuation_step (evacuation_id, vm, dest, state, detail, updated_at) VALUES (?, ?, ?, 'planned', ?, ?)",
        )
        .run(id, vm, dest, `to ${dest}`, at);
      this.log(id, vm, 'planned', `to ${dest}`, at);
    })();
  }

  steps(id: number): Step[] {
    return (
      this.db
        .prepare('SELECT * FROM evacuation_step WHERE evacuation_id = ? ORDER BY rowid')
        .all(id) as StepRow[]
    ).map((r) => ({
      evacuation: r.evacuation_id,
      vm: r.vm,
      dest: r.dest,
      state: r.state,
      detail: r.detail,
      updatedAt: r.updated_at,
    }));
  }

  setStep(id: number, vm: string, state: StepState, detail: string, dest?: string): void {
    const at = now();
    this.db.transaction(() => {
      this.db
        .prepare(
          'UPDATE evacuation_step SET state = ?, detail = ?, updated_at = ?, dest = coalesce(?, dest) WHERE evacuation_id = ? AND vm = ?',
        )
        .run(state, detail, at, dest ?? null, id, vm);
      this.log(id, vm, state, detail, at);
    })();
  }

  /** A note in the log that changes no step (e.g. "destination QEMU pid 123"). */
  note(id: number, vm: string | null, detail: string): void {
    this.log(id, vm, 'note', detail, now());
  }

  finish(id: number, state: Exclude<EvacuationState, 'running'>, detail: string): void {
    const at = now();
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE evacuation SET state = ?, ended_at = ? WHERE id = ?')
        .run(state, at, id);
      this.log(id, null, state, detail, at);
    })();
  }

  entries(id: number): LogEntry[] {
    return this.db
      .prepare(
        'SELECT vm, state, detail, at FROM evacuation_log WHERE evacuation_id = ? ORDER BY id',
      )
      .all(id) as LogEntry[];
  }

  private log(id: number, vm: string | null, state: string, detail: string, at: string): void {
    this.db
      .prepare(
        'INSERT INTO evacuation_log (evacuation_id, vm, state, detail, at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(id, vm, state, detail, at);
  }
}

interface EvacuationRow {
  id: number;
  host: string;
  driver: string;
  state: EvacuationState;
  reason: string;
  started_at: string;
  ended_at: string | null;
}

interface StepRow {
  evacuation_id: number;
  vm: string;
  dest: string;
  state: StepState;
  detail: string;
  updated_at: string;
}

function toEvacuation(r: EvacuationRow): Evacuation {
  return {
    id: r.id,
    host: r.host,
    driver: r.driver,
    state: r.state,
    reason: r.reason,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

function now(): string {
  return new Date().toISOString();
}
