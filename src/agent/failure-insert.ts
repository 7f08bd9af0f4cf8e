/**
 * Writing memory_failure rows fast. One INSERT per row spends most of its time
 * in the statement's own round trip (bind, step, reset), so rows go in CHUNK
 * at a time through one multi-row statement; what is left over goes one by
 * one. Replays are still recognised by the unique index (INSERT OR IGNORE):
 * when a chunk comes back with fewer changes than rows, each row's id is
 * looked up by its key to tell which rows this statement made.
 */
import type Database from 'better-sqlite3';
import { FAILURE_COLUMNS, type FailureInsert } from './store-rows.js';

const WIDTH = FAILURE_COLUMNS.length;
/** Rows per multi-row statement: measured flat from 25 to 200; 50 keeps it small. */
export const CHUNK = 50;
const ROW = `(${Array(WIDTH).fill('?').join(', ')})`;

export class FailureInserter {
  private readonly one: Database.Statement;
  private readonly chunk: Database.Statement;
  private readonly idOf: Database.Statement;
  /** The chunk statement's parameters, reused from chunk to chunk. */
  private readonly flat: unknown[] = new Array(CHUNK * WIDTH);

  constructor(db: Database.Database) {
    const insert = `INSERT OR IGNORE INTO memory_failure (${FAILURE_COLUMNS.join(', ')}) VALUES`;
    this.one = db.prepare(`${insert} ${ROW}`);
    this.chunk = db.prepare(`${insert} ${Array(CHUNK).fill(ROW).join(', ')}`);
    this.idOf = db
      .prepare(
        'SELECT id FROM memory_failure WHERE vm = ? AND ts_seconds = ? AND ts_micros = ? AND dedup = ?',
      )
      .pluck();
  }

  /**
   * Inserts the rows (from failureRow) in order, inside the
   * caller's transaction; `fresh[i]` says whether rows[i] made a new row,
   * `ids[i]` its id (0 for a replay).
   */
  insert(rows: readonly FailureInsert[]): { fresh: boolean[]; ids: number[] } {
    const fresh: boolean[] = new Array(rows.length).fill(false);
    const ids: number[] = new Array(rows.length).fill(0);
    let at = 0;
    for (; at + CHUNK <= rows.length; at += CHUNK) this.insertChunk(rows, at, fresh, ids);
    for (; at < rows.length; at++) {
      const info = this.one.run(positional(rows[at]!));
      if (info.changes > 0) {
        fresh[at] = true;
        ids[at] = Number(info.lastInsertRowid);
      }
    }
    return { fresh, ids };
  }

  private insertChunk(
    rows: readonly FailureInsert[],
    at: number,
    fresh: boolean[],
    ids: number[],
  ): void {
    const flat = this.flat;
    for (let r = 0; r < CHUNK; r++) {
      const row = rows[at + r]!;
      for (let c = 0; c < WIDTH; c++) flat[r * WIDTH + c] = row[FAILURE_COLUMNS[c]!];
    }
    const { changes, lastInsertRowid } = this.chunk.run(flat);
    if (changes === 0) return;
    // A rowid table gives each new row the largest id so far plus one, so the
    // rows this statement made hold the ids (last - changes, last], in order.
    const last = Number(lastInsertRowid);
    if (changes === CHUNK) {
      for (let r = 0; r < CHUNK; r++) {
        fresh[at + r] = true;
        ids[at + r] = last - CHUNK + 1 + r;
      }
      return;
    }
    // Some rows were replays (of stored rows, or of an earlier row in this chunk).
    const first = last - changes + 1;
    const claimed = new Set<number>();
    for (let r = 0; r < CHUNK; r++) {
      const row = rows[at + r]!;
      // The unique key.
      const id = this.idOf.get(row.vm, row.ts_seconds, row.ts_micros, row.dedup) as
        | number
        | undefined;
      if (id === undefined || id < first || id > last || claimed.has(id)) continue;
      claimed.add(id);
      fresh[at + r] = true;
      ids[at + r] = id;
    }
  }
}

/** A row's values in FAILURE_COLUMNS order, as the `?` statements bind them. */
function positional(row: FailureInsert): unknown[] {
  return FAILURE_COLUMNS.map((c) => row[c]);
}
