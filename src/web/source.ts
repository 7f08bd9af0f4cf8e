/**
 * What the dashboard reads, as one interface: a SQLite store (one host, see
 * sqlite-source.ts), a fleet database (many hosts, pg-source.ts) the same. Every call is bounded: aggregates are computed by the
 * database, lists come in pages, nothing returns a whole table.
 */
import type { EventRecord } from '../agent/event-record.js';
import type { LifecycleKind } from '../agent/records.js';
import type { ObservedOutcome } from '../agent/report.js';
import type { Action, Recipient } from '../event/model.js';
import type { TimeRange } from './range.js';

/** Failures per bucket: `t` the bucket starts (seconds), one count array per key. */
export interface Series {
  readonly bucketSeconds: number;
  readonly t: readonly number[];
  readonly byAction: Record<Action, number[]>;
  readonly byRecipient: Record<Recipient, number[]>;
  readonly total: number;
}

export interface SeriesFilter {
  readonly host?: string;
  readonly vm?: string;
}

export interface HostCount {
  readonly host: string;
  readonly failures: number;
}

export interface VmCount {
  readonly host: string;
  readonly vm: string;
  readonly failures: number;
  /** Of those, how many were fatal or reset the guest. */
  readonly severe: number;
  readonly lastSeen: string | null;
}

/** What a health verdict is computed from (see health.ts). */
export interface HostFacts {
  readonly host: string;
  /** Readable failures over the last 24 hours, by action. */
  readonly lastDay: Record<Action, number>;
  readonly vms: number;
  readonly lastFailure: string | null;
}

/** A failure with everything the VM page shows of it. */
export interface FailureDetail extends EventRecord {
  readonly host: string;
  readonly explanation: string;
  /** What became of the VM, as the report reads it from the lifecycle events after it. */
  readonly outcome: ObservedOutcome | null;
  /** The QMP message as received, as text (untrusted: shown as text). */
  readonly raw: string;
  /** Lifecycle events of the VM in the minute before and after it. */
  readonly around: readonly LifecycleEntry[];
}

/** Lifecycle events this long before or after a failure are shown beside it (the report's horizon). */
export const AROUND_US = 60_000_000;
/** At most this many lifecycle events are read for one page of failures. */
export const MAX_AROUND = 2_000;

export interface LifecycleEntry {
  readonly id: number;
  readonly event: LifecycleKind;
  readonly receivedAt: string;
  readonly timestamp: string | null;
  readonly data: unknown;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  readonly next: number | null;
}

/** The largest ids so far: when one grows, something new was recorded. */
export interface Marks {
  readonly failure: number;
  readonly lifecycle: number;
}

export interface EventQuery {
  readonly host?: string;
  readonly vm?: string;
  readonly range: TimeRange;
  readonly limit: number;
  /** Only ids below this one (paging backwards from the newest). */
  readonly before?: number;
}

/** SQLite answers at once; PostgreSQL answers later: callers await either. */
export type Awaitable<T> = T | Promise<T>;

export interface DataSource {
  /** Names of the hosts, sorted. */
  hosts(): Awaitable<readonly string[]>;
  hostFacts(host: string, nowUs: number): Awaitable<HostFacts | null>;
  /**
   * Every host's facts (or those of `hosts`) at once, sorted by host, when the
   * source can do better than one hostFacts() per host.
   */
  hostsFacts?(nowUs: number, hosts?: readonly string[]): Awaitable<readonly HostFacts[]>;
  series(range: TimeRange, filter: SeriesFilter): Awaitable<Series>;
  topHosts(range: TimeRange, limit: number): Awaitable<readonly HostCount[]>;
  topVms(range: TimeRange, limit: number, host?: string): Awaitable<readonly VmCount[]>;
  /** A host's VMs with their failures in the range, most first, paged by offset. */
  hostVms(
    host: string,
    range: TimeRange,
    limit: number,
    offset: number,
  ): Awaitable<readonly VmCount[]>;
  /** Newest first: the same records as `memfail events --json`. */
  events(query: EventQuery): Awaitable<Page<EventRecord & { readonly host: string }>>;
  /** Newest first, with explanation, outcome, raw message and lifecycle around each. */
  failures(
    host: string,
    vm: string,
    limit: number,
    before?: number,
  ): Awaitable<Page<FailureDetail>>;
  hasVm(host: string, vm: string): Awaitable<boolean>;
  marks(): Awaitable<Marks>;
  close(): Awaitable<void>;
}
