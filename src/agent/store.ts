/**
 * The durable record of every memory failure and lifecycle event: one SQLite
 * file in WAL mode, in rooms: opening and migrating it (store-connection.ts),
 * writing batches (store-writes.ts), reading rows and report counts
 * (store-queries.ts) and the alert outbox (alert-outbox.ts). Store is the one
 * handle the rest of memfail holds; each method is its room's.
 */
import type Database from 'better-sqlite3';
import { AlertOutbox, type AlertListing, type OutboxEntry } from './alert-outbox.js';
import type { Observation, StoredFailure, StoredGap, StoredLifecycle } from './records.js';
import type { ReportFailure, ReportSource, VmCounts } from './report.js';
import { endRun, heartbeat, type StartedRun, startRun } from './runs.js';
import { type OpenOptions, openDatabase, openDatabaseReadOnly } from './store-connection.js';
import {
  type FailureFact,
  type FailureFilter,
  type LifecycleFilter,
  type QuarantinedRecord,
  StoreQueries,
} from './store-queries.js';
import { type InsertResult, StoreWrites } from './store-writes.js';

export type { AlertListing, OutboxEntry } from './alert-outbox.js';
export {
  type Durability,
  migrate,
  type OpenOptions,
  StoreError,
  type StoreErrorCode,
} from './store-connection.js';
export type {
  FailureFact,
  FailureFilter,
  LifecycleFilter,
  QuarantinedRecord,
} from './store-queries.js';
export type { InsertResult } from './store-writes.js';

export class Store {
  private readonly writes: StoreWrites;
  private readonly queries: StoreQueries;
  private readonly outbox: AlertOutbox;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    this.writes = new StoreWrites(db);
    this.queries = new StoreQueries(db);
    this.outbox = new AlertOutbox(db);
  }

  /**
   * Opens (creating unless `mustExist`) and migrates the database at `path`.
   * Throws StoreError when the file is missing, not a database, or newer.
   */
  static open(path: string, options: OpenOptions = {}): Store {
    return new Store(path, openDatabase(path, options));
  }

  /**
   * Opens an existing memfail database for reading only: nothing is written
   * to the file (no migration, no pragma that changes it). Refuses a file
   * that is not memfail's, or not at this memfail's schema version.
   */
  static openReadOnly(path: string): Store {
    return new Store(path, openDatabaseReadOnly(path));
  }

  /** The schema version the file is at (SQLite `user_version`). */
  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // Writing (store-writes.ts).

  /** One batch in one transaction, durable once this returns; outbox rows for new failures. */
  insert(batch: readonly Observation[], sinks: readonly string[] = []): InsertResult {
    return this.writes.insert(batch, sinks);
  }

  /** Sets aside an observation the database refused, with the reason. */
  quarantine(obs: Observation, reason: string): void {
    this.writes.quarantine(obs, reason);
  }

  /** Records this watch process; gaps for earlier runs that were killed (see runs.ts). */
  startRun(vms: readonly string[], nowUs: number, staleAfterUs: number): StartedRun {
    return startRun(this.db, vms, nowUs, staleAfterUs);
  }

  /** This run's sign of life. */
  heartbeat(runId: number, nowUs: number): void {
    heartbeat(this.db, runId, nowUs);
  }

  /** This run ended cleanly: no gap for it at the next start. */
  endRun(runId: number, nowUs: number): void {
    endRun(this.db, runId, nowUs);
  }

  // Reading (store-queries.ts).

  failures(filter: FailureFilter = {}): StoredFailure[] {
    return this.queries.failures(filter);
  }

  iterateFailures(filter: FailureFilter = {}): Generator<StoredFailure> {
    return this.queries.iterateFailures(filter);
  }

  failureFacts(since: Date): Generator<FailureFact> {
    return this.queries.failureFacts(since);
  }

  countFailures(filter: FailureFilter = {}): number {
    return this.queries.countFailures(filter);
  }

  lifecycle(filter: LifecycleFilter = {}): StoredLifecycle[] {
    return this.queries.lifecycle(filter);
  }

  iterateLifecycle(filter: LifecycleFilter = {}): Generator<StoredLifecycle> {
    return this.queries.iterateLifecycle(filter);
  }

  failureCounts(): VmCounts[] {
    return this.queries.failureCounts();
  }

  iterateReportFailures(vm: string): Generator<ReportFailure> {
    return this.queries.iterateReportFailures(vm);
  }

  reportSource(): ReportSource {
    return this.queries.reportSource();
  }

  vms(): string[] {
    return this.queries.vms();
  }

  quarantined(): QuarantinedRecord[] {
    return this.queries.quarantined();
  }

  gaps(filter: { readonly vm?: string } = {}): StoredGap[] {
    return this.queries.gaps(filter);
  }

  // The alert outbox (alert-outbox.ts).

  pendingAlerts(sinks: readonly string[], limit: number): OutboxEntry[] {
    return this.outbox.pendingAlerts(sinks, limit);
  }

  claimAlert(
    sink: string,
    owner: string,
    nowUs: number,
    leaseUs: number,
    eager = false,
  ): OutboxEntry | { readonly waitUntilUs: number } | null {
    return this.outbox.claimAlert(sink, owner, nowUs, leaseUs, eager);
  }

  owedAlerts(sinks: readonly string[]): number {
    return this.outbox.owedAlerts(sinks);
  }

  markDelivered(outboxId: number, atUs: number): void {
    this.outbox.markDelivered(outboxId, atUs);
  }

  markFailed(outboxId: number, error: string, retryAtUs: number, dead: string | null = null): void {
    this.outbox.markFailed(outboxId, error, retryAtUs, dead);
  }

  releaseClaim(outboxId: number, owner: string): void {
    this.outbox.releaseClaim(outboxId, owner);
  }

  pendingBySink(): { sink: string; pending: number }[] {
    return this.outbox.pendingBySink();
  }

  deadBySink(): { sink: string; dead: number }[] {
    return this.outbox.deadBySink();
  }

  outboxCounts(): { pending: number; delivered: number } {
    return this.outbox.outboxCounts();
  }

  undeliveredAlerts(sink?: string): AlertListing[] {
    return this.outbox.undeliveredAlerts(sink);
  }

  retryDeadAlerts(sink?: string): number {
    return this.outbox.retryDeadAlerts(sink);
  }
}
