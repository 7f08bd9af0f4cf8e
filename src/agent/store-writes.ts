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
  MAX_ERROR_CHARS,
  MAX_RAW_CHARS,
  type PreparedBatch,
  prepareBatch,
} from './rows.js';
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
  private readonly insertBatch: (batch: PreparedBatch, sinks: readonly string[]) => InsertResult;

  constructor(private readonly db: Database.Database) {
    this.failureRows = new FailureInserter(db);
    this.insertLifecycle = db.prepare(
      `INSERT OR IGNORE INTO lifecycle (vm, kind, ts_seconds, ts_micros, received_us, data, dedup)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertOutbox = db.prepare('INSERT OR IGNORE INTO outbox (failure_id, sink) VALUES (?, ?)');
    this.insertGap = db.prepare(
      'INSERT INTO gap (vm, from_us, to_us, reason, detail) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertBatch = db.transaction((batch: PreparedBatch, sinks: readonly string[]) => {
      const { kinds, params } = batch;
      const fresh: boolean[] = new Array(params.length).fill(false);
      const failureAt: number[] = [];
      let newLifecycle = 0;
      for (let i = 0; i < params.length; i++) {
        if (kinds[i] === 'failure') failureAt.push(i);
        else if (kinds[i] === 'gap') {
          this.insertGap.run(params[i]);
          fresh[i] = true;
          newLifecycle++;
        } else if (this.insertLifecycle.run(params[i]).changes > 0) {
          fresh[i] = true;
          newLifecycle++;
        }
      }
      const failures = this.failureRows.insert(failureAt.map((i) => params[i] as unknown[]));
      const newFailureIds: number[] = [];
      failureAt.forEach((i, k) => {
        if (!failures.fresh[k]) return;
        fresh[i] = true;
        const id = failures.ids[k] as number;
        newFailureIds.push(id);
        for (const sink of sinks) this.insertOutbox.run(id, sink);
      });
      const duplicates = params.length - newLifecycle - newFailureIds.length;
      return { newFailureIds, newLifecycle, duplicates, fresh };
    });
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
