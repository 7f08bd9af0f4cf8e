/**
 * Groups observations into transactions: a batch is committed when it reaches
 * `maxEvents` or `maxDelayMs` after its first observation, whichever comes
 * first — but, short of `maxEvents`, no sooner than `minCommitIntervalMs`
 * after the previous commit. A lone observation is committed `maxDelayMs`
 * after it came; under a steady stream commits settle at one per
 * `minCommitIntervalMs`, each with all that came meanwhile: a commit has a
 * fixed cost (every page it touches goes to the WAL whole), so rows cost
 * less than half as much in batches of 140 as in batches of 15. An
 * observation is *acknowledged* once its batch committed; listeners
 * registered with onCommitted hear about each committed batch, in order.
 *
 * One bad observation never blocks the others: store-rows.ts makes any observation
 * fit its columns, and should the database still refuse a batch for what is
 * in it (a constraint, a type, a value too big), the batch is split in halves
 * until the refused observation stands alone; that one is quarantined with
 * the reason (Store.quarantine) and the rest commit. Only when the database
 * itself is unavailable (locked, full, read-only, I/O error) does the batch
 * stay pending, retried every second; each distinct error is reported once.
 *
 * Backlog: what stays pending is bounded by backpressure, not by dropping.
 * At `maxPending` observations the writer tells its sources it is full
 * (onBacklog); they stop reading (a paused QMP socket: QEMU keeps its
 * events meanwhile) until half the backlog is committed. What a source had
 * already read when told is still taken, so the count can pass the cap by a
 * few socket reads' worth per source; nothing offered is ever refused.
 */
import type { Observation } from './records.js';
import type { InsertResult, Store } from './store.js';

export interface BatchOptions {
  /** Commit once this many observations are pending (default 1000). */
  readonly maxEvents?: number;
  /** Commit at most this long after the first pending observation (default 20 ms)... */
  readonly maxDelayMs?: number;
  /** ...unless the previous commit was less than this long ago (default 100 ms; 0: no limit). */
  readonly minCommitIntervalMs?: number;
  /** Alert sinks owed an outbox row per new failure (see alerts.ts). */
  readonly sinks?: readonly string[];
  /**
   * Sources are told to pause at this many pending observations, and to
   * resume at half (default 50,000: QEMU's failures take well under 1 KB
   * each as parsed, so tens of MB).
   */
  readonly maxPending?: number;
}

/** Default BatchOptions.maxPending. */
export const MAX_PENDING = 50_000;

export interface CommittedBatch {
  readonly observations: readonly Observation[];
  readonly result: InsertResult;
}

export type CommitListener = (batch: CommittedBatch) => void;
/** Hears the backlog fill (`full`: sources should stop reading) and drain again. */
export type BacklogListener = (full: boolean) => void;
export type CommitErrorListener = (error: Error, batch: readonly Observation[]) => void;
export type QuarantineListener = (q: {
  readonly observation: Observation;
  readonly reason: string;
}) => void;

/**
 * Whether a failed insert says nothing about the rows: the database could
 * not be written at all (the batch is kept and retried), as opposed to a
 * row it refused (quarantined).
 */
export function storeUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) {
    return err instanceof Error && /database connection is not open/.test(err.message);
  }
  return !/^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
}

export class BatchWriter {
  private pending: Observation[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: CommitListener[] = [];
  private readonly errorListeners: CommitErrorListener[] = [];
  private readonly quarantineListeners: QuarantineListener[] = [];
  private readonly backlogListeners: BacklogListener[] = [];
  /** The last error reported, so that a retry failing the same way is not reported again. */
  private lastError: string | null = null;
  private readonly maxEvents: number;
  private readonly maxDelayMs: number;
  private readonly minCommitIntervalMs: number;
  /** performance.now() of the last commit (successful or not). */
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private readonly sinks: readonly string[];
  private readonly maxPending: number;
  private closed = false;
  /** The last commit failed: the next try is the retry timer's, not every push's. */
  private failing = false;
  private backlogged = false;

  constructor(
    private readonly store: Store,
    options: BatchOptions = {},
  ) {
    this.maxEvents = options.maxEvents ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 20;
    this.minCommitIntervalMs = options.minCommitIntervalMs ?? 100;
    this.sinks = options.sinks ?? [];
    this.maxPending = options.maxPending ?? MAX_PENDING;
    if (!(Number.isInteger(this.maxPending) && this.maxPending >= 1)) {
      throw new RangeError(`maxPending must be a positive integer, not ${options.maxPending}`);
    }
  }

  /** Queues an observation; it is acknowledged when a later onCommitted names it. */
  push(observation: Observation): void {
    if (this.closed) throw new Error('BatchWriter is closed');
    this.pending.push(observation);
    if (!this.backlogged && this.pending.length >= this.maxPending) this.setBacklogged(true);
    // While the database is unavailable, trying again on every push would only
    // spend the busy timeout each time: the retry timer is already set.
    if (this.pending.length >= this.maxEvents && !this.failing) this.flush();
    else if (this.timer === null) {
      const sinceCommit = performance.now() - this.lastCommitAt;
      // Whole milliseconds: Node keeps a timer list per distinct duration, and
      // a new fractional one per batch cost ~9% of a 200,000-event ingest.
      const delay = Math.ceil(Math.max(this.maxDelayMs, this.minCommitIntervalMs - sinceCommit));
      this.timer = setTimeout(() => this.flush(), delay);
    }
  }

  onCommitted(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /**
   * Hears about a batch that could not be committed (disk full, database
   * locked too long). The batch stays pending and is retried on the next flush.
   */
  onError(listener: CommitErrorListener): void {
    this.errorListeners.push(listener);
  }

  /** Hears about each observation set aside in quarantine (once each). */
  onQuarantine(listener: QuarantineListener): void {
    this.quarantineListeners.push(listener);
  }

  /**
   * Hears when the backlog reaches maxPending (true: stop reading) and when
   * it is down to half (false: read again). See `full` for the state now.
   */
  onBacklog(listener: BacklogListener): void {
    this.backlogListeners.push(listener);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Whether sources should be paused now (see onBacklog). */
  get full(): boolean {
    return this.backlogged;
  }

  private setBacklogged(full: boolean): void {
    this.backlogged = full;
    for (const listener of this.backlogListeners) listener(full);
  }

  /** Commits everything pending now. Returns false if the commit failed. */
  flush(): boolean {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return true;
    const batch = this.pending;
    this.pending = [];
    this.lastCommitAt = performance.now();
    const { committed, results, rest, error } = this.commit(batch);
    this.pending = rest;
    this.failing = error !== null;
    if (committed.length > 0) {
      const done = { observations: committed, result: mergeResults(results) };
      for (const listener of this.listeners) listener(done);
    }
    if (this.backlogged && this.pending.length <= this.maxPending >> 1) this.setBacklogged(false);
    if (error === null) {
      this.lastError = null;
      return true;
    }
    // Keep the rest: nothing unacknowledged is given up. Retry later.
    if (!this.closed) this.timer = setTimeout(() => this.flush(), 1000);
    if (this.errorListeners.length === 0) throw error;
    if (error.message !== this.lastError) {
      this.lastError = error.message;
      for (const listener of this.errorListeners) listener(error, rest);
    }
    return false;
  }

  /**
   * Inserts `batch` in one transaction if the database takes it; else in
   * halves, down to single observations, quarantining those refused alone.
   * Stops at the first sign that the database is unavailable.
   */
  private commit(batch: readonly Observation[]): {
    committed: Observation[];
    results: InsertResult[];
    rest: Observation[];
    error: Error | null;
  } {
    const committed: Observation[] = [];
    const results: InsertResult[] = [];
    const work: (readonly Observation[])[] = [batch];
    while (work.length > 0) {
      const part = work.shift() as readonly Observation[];
      try {
        results.push(this.store.insert(part, this.sinks));
        committed.push(...part);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!storeUnavailable(err)) {
          if (part.length > 1) {
            const mid = part.length >> 1;
            work.unshift(part.slice(0, mid), part.slice(mid));
            continue;
          }
          const observation = part[0] as Observation;
          try {
            this.store.quarantine(observation, error.message);
            for (const listener of this.quarantineListeners)
              listener({ observation, reason: error.message });
            continue;
          } catch (qerr) {
            const qerror = qerr instanceof Error ? qerr : new Error(String(qerr));
            return { committed, results, rest: [...part, ...work.flat()], error: qerror };
          }
        }
        return { committed, results, rest: [...part, ...work.flat()], error };
      }
    }
    return { committed, results, rest: [], error: null };
  }

  /** Commits what is pending and refuses further observations. */
  close(): boolean {
    const ok = this.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return ok;
  }
}

/** The results of a batch's parts as one, in the parts' order. */
function mergeResults(results: readonly InsertResult[]): InsertResult {
  if (results.length === 1) return results[0] as InsertResult;
  return {
    newFailureIds: results.flatMap((r) => r.newFailureIds),
    newLifecycle: results.reduce((n, r) => n + r.newLifecycle, 0),
    duplicates: results.reduce((n, r) => n + r.duplicates, 0),
    fresh: results.flatMap((r) => r.fresh),
  };
}
