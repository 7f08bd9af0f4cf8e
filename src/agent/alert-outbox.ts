/**
 * The alert outbox: per sink, a queue of alerts owed for new failures
 * (written with them, in the same transaction, by StoreWrites), claimed,
 * delivered, retried or given up on as dead letters.
 */
import type Database from 'better-sqlite3';
import { microsToIso, type StoredFailure } from './records.js';
import { capText, type FailureRow, MAX_ERROR_CHARS, toStoredFailure } from './store-rows.js';

/** An alert owed to one sink for one failure. */
export interface OutboxEntry {
  readonly id: number;
  readonly sink: string;
  readonly attempts: number;
  readonly failure: StoredFailure;
}

/** One undelivered alert, as `memfail alerts list` shows it. */
export interface AlertListing {
  readonly id: number;
  readonly failureId: number;
  readonly vm: string;
  readonly sink: string;
  readonly attempts: number;
  readonly lastError: string | null;
  /** When it was given up on; null: still owed. */
  readonly deadAt: string | null;
  readonly nextAttemptUs: number;
}

type OutboxJoinRow = FailureRow & { outbox_id: number; sink: string; attempts: number };

function toOutboxEntry(r: OutboxJoinRow): OutboxEntry {
  return { id: r.outbox_id, sink: r.sink, attempts: r.attempts, failure: toStoredFailure(r) };
}

export class AlertOutbox {
  constructor(private readonly db: Database.Database) {}

  /**
   * Undelivered alerts for `sinks`, oldest first (dead letters left out).
   * Each sink is a queue: its oldest alert is retried before any later one.
   */
  pendingAlerts(sinks: readonly string[], limit: number): OutboxEntry[] {
    if (sinks.length === 0) return [];
    const marks = sinks.map(() => '?').join(', ');
    const rows = this.db
      .prepare(
        `SELECT o.id AS outbox_id, o.sink, o.attempts, f.* FROM outbox o
         JOIN memory_failure f ON f.id = o.failure_id
         WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.sink IN (${marks})
         ORDER BY o.id LIMIT ?`,
      )
      .all(...sinks, limit) as OutboxJoinRow[];
    return rows.map(toOutboxEntry);
  }

  /**
   * Claims `sink`'s oldest owed alert for `owner` until `nowUs + leaseUs`,
   * atomically (one write transaction): while the claim holds, no other
   * agent on this database delivers it. Returns the entry; or when it may be
   * tried (its retry time, or another agent's claim running out); or null
   * when the sink owes nothing.
   */
  claimAlert(
    sink: string,
    owner: string,
    nowUs: number,
    leaseUs: number,
    /** Ignore the alert's retry time (the agent is draining for exit). */
    eager = false,
  ): OutboxEntry | { readonly waitUntilUs: number } | null {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare(
            `SELECT o.id AS outbox_id, o.sink, o.attempts, o.next_attempt_us, o.claim_until_us,
               o.claimed_by, f.* FROM outbox o JOIN memory_failure f ON f.id = o.failure_id
             WHERE o.sink = ? AND o.delivered_at IS NULL AND o.dead_at IS NULL
             ORDER BY o.id LIMIT 1`,
          )
          .get(sink) as
          | (OutboxJoinRow & {
              next_attempt_us: number;
              claim_until_us: number;
              claimed_by: string | null;
            })
          | undefined;
        if (row === undefined) return null;
        const heldElsewhere = row.claimed_by !== owner && row.claim_until_us > nowUs;
        const wait = Math.max(
          heldElsewhere ? row.claim_until_us : 0,
          eager ? 0 : row.next_attempt_us,
        );
        if (wait > nowUs) return { waitUntilUs: wait };
        this.db
          .prepare('UPDATE outbox SET claim_until_us = ?, claimed_by = ? WHERE id = ?')
          .run(nowUs + leaseUs, owner, row.outbox_id);
        return toOutboxEntry(row);
      })
      .immediate();
  }

  /** How many alerts for `sinks` are still owed (dead letters not counted). */
  owedAlerts(sinks: readonly string[]): number {
    if (sinks.length === 0) return 0;
    const marks = sinks.map(() => '?').join(', ');
    const row = this.db
      .prepare(
        `SELECT count(*) AS n FROM outbox
         WHERE delivered_at IS NULL AND dead_at IS NULL AND sink IN (${marks})`,
      )
      .get(...sinks) as { n: number };
    return row.n;
  }

  markDelivered(outboxId: number, atUs: number): void {
    this.db
      .prepare(
        `UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, claim_until_us = 0,
           claimed_by = NULL WHERE id = ?`,
      )
      .run(microsToIso(atUs), outboxId);
  }

  /**
   * Records a failed attempt: retried from `retryAtUs`, or with `dead` given
   * up on (a dead letter, until `memfail alerts retry`).
   */
  markFailed(outboxId: number, error: string, retryAtUs: number, dead: string | null = null): void {
    this.db
      .prepare(
        `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_us = ?,
           dead_at = ?, claim_until_us = 0, claimed_by = NULL WHERE id = ?`,
      )
      .run(capText(error, MAX_ERROR_CHARS), retryAtUs, dead, outboxId);
  }

  /** Gives a claimed alert back untried (the agent is stopping). */
  releaseClaim(outboxId: number, owner: string): void {
    this.db
      .prepare(
        'UPDATE outbox SET claim_until_us = 0, claimed_by = NULL WHERE id = ? AND claimed_by = ?',
      )
      .run(outboxId, owner);
  }

  /** Alerts still owed, per sink (including sinks no longer configured; dead letters not counted). */
  pendingBySink(): { sink: string; pending: number }[] {
    return this.db
      .prepare(
        `SELECT sink, count(*) AS pending FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL
         GROUP BY sink ORDER BY sink`,
      )
      .all() as { sink: string; pending: number }[];
  }

  /** Dead letters per sink. */
  deadBySink(): { sink: string; dead: number }[] {
    return this.db
      .prepare(
        `SELECT sink, count(*) AS dead FROM outbox WHERE dead_at IS NOT NULL AND delivered_at IS NULL
         GROUP BY sink ORDER BY sink`,
      )
      .all() as { sink: string; dead: number }[];
  }

  /** Counts of outbox rows by state (dead letters are in neither). */
  outboxCounts(): { pending: number; delivered: number } {
    const row = this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
                count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered FROM outbox`,
      )
      .get() as { pending: number; delivered: number };
    return row;
  }

  /** Every undelivered alert (owed or dead), for `memfail alerts list`. */
  undeliveredAlerts(sink?: string): AlertListing[] {
    return this.db
      .prepare(
        `SELECT o.id, o.failure_id AS failureId, f.vm, o.sink, o.attempts, o.last_error AS lastError,
           o.dead_at AS deadAt, o.next_attempt_us AS nextAttemptUs FROM outbox o
         JOIN memory_failure f ON f.id = o.failure_id
         WHERE o.delivered_at IS NULL ${sink === undefined ? '' : 'AND o.sink = @sink'}
         ORDER BY o.sink, o.id`,
      )
      .all(sink === undefined ? {} : { sink }) as AlertListing[];
  }

  /** Makes dead letters owed again, from attempt 0. Returns how many. */
  retryDeadAlerts(sink?: string): number {
    return this.db
      .prepare(
        `UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_us = 0, claim_until_us = 0,
           claimed_by = NULL
         WHERE dead_at IS NOT NULL AND delivered_at IS NULL ${sink === undefined ? '' : 'AND sink = @sink'}`,
      )
      .run(sink === undefined ? {} : { sink }).changes;
  }
}
