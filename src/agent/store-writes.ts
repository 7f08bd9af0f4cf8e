/**
 * Writing to the store: a batch of observations in one transaction (replays
 * recognised by their dedup key, never doubling a row; an outbox row per
 * sink for each new failure), and observations the database refused, set
 * aside in quarantine.
 */
import type Database from 'better-sqlite3';
import { FailureInserter } from './failure-insert.js';
import type { Observation } from './records.js';
import {
  capText,
  type FailureInsert,
  GAP_COLUMNS,
  type InsertRow,
  insertSql,
  LIFECYCLE_COLUMNS,
  MAX_ERROR_CHARS,
  MAX_RAW_CHARS,
  prepareBatch,
} from './store-rows.js';
import { errorText } from './store-connection.js';

/** What one committed batch changed. */
export interface InsertResult {
  /** Ids of failures that were new (not replays), in batch order. */
  readonly newFailureIds: readonly number[];
  readonly newLifecycle: number;
  /** Observations already in the store (a replay after reconnect or restart). */
  readonly duplicates: number;
  /** Per observation, in batch order: true if it made a new row. */
  readonly fresh: readonly boolean[];
}

export class StoreWrites {
  private readonly failureRows: FailureInserter;
  private readonly insertLifecycle: Database.Statement;
  private readonly insertOutbox: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly insertBatch: (
    rows: readonly InsertRow[],
    sinks: readonly string[],
  ) => InsertResult;

  constructor(private readonly db: Database.Database) {
    this.failureRows = new FailureInserter(db);
    this.insertLifecycle = db.prepare(
      insertSql('INSERT OR IGNORE', 'lifecycle', LIFECYCLE_COLUMNS),
    );
    this.insertOutbox = db.prepare('INSERT OR IGNORE INTO outbox (failure_id, sink) VALUES (?, ?)');
    this.insertGap = db.prepare(insertSql('INSERT', 'gap', GAP_COLUMNS));
    this.insertBatch = db.transaction((rows: readonly InsertRow[], sinks: readonly string[]) =>
      this.writeBatch(rows, sinks),
    );
  }

  /** Lifecycle events and gaps one by one, failures in chunks, then the new failures' outbox rows. */
  private writeBatch(rows: readonly InsertRow[], sinks: readonly string[]): InsertResult {
    const fresh: boolean[] = new Array(rows.length).fill(false);
    const failureAt: number[] = [];
    const failureRows: FailureInsert[] = [];
    let newLifecycle = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r.kind === 'failure') {
        failureAt.push(i);
        failureRows.push(r.row);
        continue;
      }
      const made = r.kind === 'gap' ? this.insertGap.run(r.row) : this.insertLifecycle.run(r.row);
      if (made.changes > 0) {
        fresh[i] = true;
        newLifecycle++;
      }
    }
    const failures = this.failureRows.insert(failureRows);
    const newFailureIds: number[] = [];
    failureAt.forEach((i, k) => {
      if (!failures.fresh[k]) return;
      fresh[i] = true;
      const id = failures.ids[k] as number;
      newFailureIds.push(id);
      for (const sink of sinks) this.insertOutbox.run(id, sink);
    });
    const duplicates = rows.length - newLifecycle - newFailureIds.length;
    return { newFailureIds, newLifecycle, duplicates, fresh };
  }

  /**
   * Writes a batch in one transaction; once this returns, every observation in
   * it is durable. For each new failure, an outbox row per sink is written in
   * the same transaction.
   */
  insert(batch: readonly Observation[], sinks: readonly string[] = []): InsertResult {
    return this.insertBatch(prepareBatch(batch), sinks);
  }

  /**
   * Sets aside an observation the database refused (see BatchWriter), with
   * the reason. The row is untyped: it always fits.
   */
  quarantine(obs: Observation, reason: string): void {
    this.db
      .prepare(
        'INSERT INTO quarantine (vm, kind, received_us, reason, record) VALUES (?, ?, ?, ?, ?)',
      )
      .run(
        String((obs as { vm?: unknown }).vm ?? ''),
        String(obs.kind),
        'receivedUs' in obs ? Number(obs.receivedUs) : null,
        capText(reason, MAX_ERROR_CHARS),
        capText(safeJson(obs), MAX_RAW_CHARS),
      );
  }
}

/** JSON of anything: values JSON cannot write (bigint, cycles) become their text. */
function safeJson(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? 'null'
    );
  } catch (err) {
    return JSON.stringify({ unserialisable: errorText(err) });
  }
}
