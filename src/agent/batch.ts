/**
 * Groups observations into transactions: a batch is committed when it reaches
 * `maxEvents` or `maxDelayMs` after its first observation, whichever comes
 * first. An observation is *acknowledged* once its batch committed; listeners
 * registered with onCommitted hear about each committed batch, in order.
 */
import type { Observation } from './records.js';
import type { InsertResult, Store } from './store.js';

export interface BatchOptions {
  /** Commit once this many observations are pending (default 1000). */
  readonly maxEvents?: number;
  /** Commit at most this long after the first pending observation (default 20 ms). */
  readonly maxDelayMs?: number;
  /** Alert sinks owed an outbox row per new failure (see alerts.ts). */
  readonly sinks?: readonly string[];
}

export interface CommittedBatch {
  readonly observations: readonly Observation[];
  readonly result: InsertResult;
}

export type CommitListener = (batch: CommittedBatch) => void;
export type CommitErrorListener = (error: Error, batch: readonly Observation[]) => void;

export class BatchWriter {
  private pending: Observation[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: CommitListener[] = [];
  private readonly errorListeners: CommitErrorListener[] = [];
  private readonly maxEvents: number;
  private readonly maxDelayMs: number;
  private readonly sinks: readonly string[];
  private closed = false;

  constructor(
    private readonly store: Store,
    options: BatchOptions = {},
  ) {
    this.maxEvents = options.maxEvents ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 20;
    this.sinks = options.sinks ?? [];
  }

  /** Queues an observation; it is acknowledged when a later onCommitted names it. */
  push(observation: Observation): void {
    if (this.closed) throw new Error('BatchWriter is closed');
    this.pending.push(observation);
    if (this.pending.length >= this.maxEvents) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.maxDelayMs);
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

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Commits everything pending now. Returns false if the commit failed. */
  flush(): boolean {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return true;
    const batch = this.pending;
    let result: InsertResult;
    try {
      result = this.store.insert(batch, this.sinks);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      // Keep the batch: nothing unacknowledged is given up. Retry later.
      if (!this.closed) this.timer = setTimeout(() => this.flush(), 1000);
      for (const listener of this.errorListeners) listener(error, batch);
      if (this.errorListeners.length === 0) throw error;
      return false;
    }
    this.pending = [];
    const committed = { observations: batch, result };
    for (const listener of this.listeners) listener(committed);
    return true;
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
