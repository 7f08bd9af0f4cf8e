/**
 * The agent's side of the fleet: follows the store's append-only
 * memory_failure and lifecycle tables by row id and publishes every row to
 * JetStream. The store stays the durable spool: a row is marked published
 * (the cursor in the side table `fleet_published`, one row per stream) only
 * once JetStream acknowledged it and every row before it. Up to `window`
 * rows are in flight at once, in chunks; a failed chunk leaves the cursor
 * where it was and the publisher starts again from there after a pause
 * (a row published twice is dropped by its Nats-Msg-Id, and after the
 * duplicate window by the collector's unique key).
 *
 * NATS down: nothing advances, the rows wait on disk, `backlog` says how
 * many; when NATS is back the backlog drains. Reads use their own SQLite
 * connection (WAL: readers never block the agent's writer).
 */
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LifecycleKind } from '../agent/records.js';
import type { Dialect } from '../event/model.js';
import {
  encode,
  FORMAT_VERSION,
  type FailureRecord,
  type FleetRecord,
  type LifecycleRecord,
  messageId,
  subjectOf,
} from './message.js';
import { AckedPublisher } from './js-acks.js';
import { connectPatiently, ensureStream, type NatsTarget, type StreamSettings } from './nats.js';

export interface PublisherOptions {
  readonly host?: string;
  readonly stream: StreamSettings;
  /** Rows in flight at most (default 4096). */
  readonly window?: number;
  readonly chunk?: number;
  readonly log?: (line: string) => void;
  /** Called with the backlog (rows not yet acknowledged) whenever it is counted. */
  readonly onBacklog?: (rows: number) => void;
}

export type PublisherState = 'connecting' | 'publishing' | 'idle' | 'unreachable' | 'stopped';

interface FailureRow {
  id: number;
  vm: string;
  content: number | null;
  ts_seconds: number;
  ts_micros: number;
  received_us: number;
  dialect: Dialect | null;
  raw: string;
  error: string | null;
  dedup: number | string;
}

interface LifecycleRow {
  id: number;
  vm: string;
  kind: LifecycleKind;
  ts_seconds: number | null;
  ts_micros: number | null;
  received_us: number;
  data: string | null;
  dedup: string | null;
}

interface Cursor {
  failure: number;
  lifecycle: number;
}

interface Chunk {
  readonly upTo: Cursor;
  readonly acked: Promise<void>;
}

const IDLE_POLL_MS = 200;
const RETRY_MS = 1000;

export class Publisher {
  readonly host: string;
  private readonly db: Database.Database;
  private readonly window: number;
  private readonly chunk: number;
  private readonly log: (line: string) => void;
  private nc: NatsConnection | null = null;
  private acks: AckedPublisher | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private runPromise: Promise<void> | null = null;
  private published = 0;
  /** Draining a backlog left by an outage (said when it is done). */
  private recovering = false;
  state: PublisherState = 'connecting';

  constructor(
    readonly dbPath: string,
    private readonly target: NatsTarget,
    private readonly options: PublisherOptions,
  ) {
    this.host = options.host ?? hostname();
    this.window = options.window ?? 4096;
    this.chunk = options.chunk ?? 512;
    this.log = options.log ?? (() => {});
    this.db = new Database(dbPath, { fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    // A cursor lost to a power cut only means rows published again, which are dropped downstream.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS fleet_published (
      stream       TEXT PRIMARY KEY,
      failure_id   INTEGER NOT NULL,
      lifecycle_id INTEGER NOT NULL
    ) STRICT`);
  }

  /** Rows acknowledged by JetStream in this run. */
  get publishedCount(): number {
    return this.published;
  }

  /** Rows recorded but not yet acknowledged by JetStream. */
  backlog(): number {
    const c = this.cursor();
    const row = this.db
      .prepare(
        `SELECT (SELECT count(*) FROM memory_failure WHERE id > ?) +
                (SELECT count(*) FROM lifecycle WHERE id > ?) AS n`,
      )
      .get(c.failure, c.lifecycle) as { n: number };
    this.options.onBacklog?.(row.n);
    return row.n;
  }

  start(): void {
    this.runPromise ??= this.run();
  }

  /** New rows were committed: publish now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Waits until everything recorded so far is acknowledged, or `limitMs` passed. */
  async flush(limitMs: number): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      if (this.backlog() === 0) return true;
      if (Date.now() > deadline || this.runPromise === null) return false;
      this.wake();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Stops after the chunks in flight settle (waiting at most `graceMs` for
   * them); what is not acknowledged stays in the backlog for the next run.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    this.wake();
    const done = this.runPromise ?? Promise.resolve();
    await Promise.race([done, new Promise((r) => setTimeout(r, graceMs).unref())]);
    this.acks?.close();
    await this.nc?.close().catch(() => {});
    this.state = 'stopped';
    if (this.db.open) this.db.close();
  }

  private cursor(): Cursor {
    const row = this.db
      .prepare('SELECT failure_id, lifecycle_id FROM fleet_published WHERE stream = ?')
      .get(this.options.stream.name) as { failure_id: number; lifecycle_id: number } | undefined;
    return { failure: row?.failure_id ?? 0, lifecycle: row?.lifecycle_id ?? 0 };
  }

  private saveCursor(c: Cursor): void {
    this.db
      .prepare(
        `INSERT INTO fleet_published (stream, failure_id, lifecycle_id) VALUES (?, ?, ?)
         ON CONFLICT (stream) DO UPDATE SET failure_id = excluded.failure_id,
           lifecycle_id = excluded.lifecycle_id`,
      )
      .run(this.options.stream.name, c.failure, c.lifecycle);
  }

  private async run(): Promise<void> {
    try {
      this.nc = await connectPatiently(
        this.target,
        `memfail-agent ${this.host}`,
        () => this.stopping,
        (line) => this.log(`${line}; ${this.backlog()} events kept on disk meanwhile`),
      );
    } catch (err) {
      this.log(`cannot connect to NATS ${this.target.display}: ${message(err)}; not publishing`);
      return;
    }
    if (this.nc === null) return;
    void this.watchStatus(this.nc);
    this.acks = new AckedPublisher(this.nc, 10_000);
    let streamReady = false;
    while (!this.stopping) {
      let progressed = false;
      try {
        // Again after any failure: someone may have deleted the stream.
        if (!streamReady) await ensureStream(await jetstreamManager(this.nc), this.options.stream);
        streamReady = true;
        progressed = await this.drainOnce();
      } catch (err) {
        streamReady = false;
        this.becomeUnreachable(err);
        await this.pause(RETRY_MS);
        continue;
      }
      if (progressed) {
        if (this.state === 'unreachable') {
          this.log(`NATS ${this.target.display} is back; draining the backlog`);
          this.recovering = true;
        }
        this.state = 'publishing';
      } else {
        if (this.recovering) this.log('fleet backlog drained');
        this.recovering = false;
        this.state = 'idle';
        this.backlog();
        await this.pause(IDLE_POLL_MS);
      }
    }
  }

  private becomeUnreachable(err: unknown): void {
    if (this.state === 'unreachable') return;
    this.state = 'unreachable';
    const waiting = this.backlog();
    this.log(
      `cannot publish to NATS ${this.target.display} (${message(err)}); ` +
        `${waiting} event${waiting === 1 ? '' : 's'} kept on disk until it is back`,
    );
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' && !this.stopping) {
        this.log(`lost NATS ${this.target.display}; reconnecting (events are kept on disk)`);
      }
    }
  }

  /**
   * Publishes from the cursor on, up to `window` rows in flight, advancing
   * the cursor chunk by chunk in order. False when there was nothing to send.
   */
  private async drainOnce(): Promise<boolean> {
    const start = this.cursor();
    let next = { ...start };
    const inFlight: Chunk[] = [];
    let sentAny = false;
    let failure: unknown = null;
    const settleHead = async () => {
      const head = inFlight.shift()!;
      await head.acked;
      this.saveCursor(head.upTo);
    };
    try {
      while (!this.stopping) {
        const records = this.readChunk(next);
        if (records.length === 0) break;
        sentAny = true;
        next = records.upTo;
        const acked = this.publishAll(records);
        acked.catch(() => {}); // awaited in order below; not an unhandled rejection meanwhile
        inFlight.push({ upTo: records.upTo, acked });
        if (inFlight.length * this.chunk >= this.window) await settleHead();
      }
      while (inFlight.length > 0) await settleHead();
    } catch (err) {
      failure = err;
    }
    // Let every publish settle before the next round starts from the cursor.
    await Promise.allSettled(inFlight.map((c) => c.acked));
    if (failure !== null) throw failure;
    if (sentAny) this.backlog();
    return sentAny;
  }

  private async publishAll(records: readonly FleetRecord[]): Promise<void> {
    await this.acks!.publishAll(
      records.map((r) => ({ subject: subjectOf(r), data: encode(r), msgId: messageId(r) })),
    );
    this.published += records.length;
  }

  private readChunk(from: Cursor): FleetRecord[] & { upTo: Cursor } {
    const failures = this.db
      .prepare(
        `SELECT id, vm, content, ts_seconds, ts_micros, received_us, dialect, raw, error, dedup
         FROM memory_failure WHERE id > ? ORDER BY id LIMIT ?`,
      )
      .all(from.failure, this.chunk) as FailureRow[];
    const lifecycle = this.db
      .prepare(
        `SELECT id, vm, kind, ts_seconds, ts_micros, received_us, data, dedup
         FROM lifecycle WHERE id > ? ORDER BY id LIMIT ?`,
      )
      .all(from.lifecycle, Math.max(1, this.chunk - failures.length)) as LifecycleRow[];
    const records: FleetRecord[] = [];
    for (const r of failures) records.push(this.failureRecord(r));
    for (const r of lifecycle) records.push(this.lifecycleRecord(r));
    const upTo = {
      failure: failures.at(-1)?.id ?? from.failure,
      lifecycle: lifecycle.at(-1)?.id ?? from.lifecycle,
    };
    return Object.assign(records, { upTo });
  }

  private failureRecord(r: FailureRow): FailureRecord {
    return {
      memfail: FORMAT_VERSION,
      kind: 'failure',
      host: this.host,
      vm: r.vm,
      content: r.content,
      tsSeconds: r.ts_seconds,
      tsMicros: r.ts_micros,
      receivedUs: r.received_us,
      dialect: r.dialect,
      raw: r.raw,
      error: r.error,
      dedup: String(r.dedup),
    };
  }

  private lifecycleRecord(r: LifecycleRow): LifecycleRecord {
    return {
      memfail: FORMAT_VERSION,
      kind: 'lifecycle',
      host: this.host,
      vm: r.vm,
      event: r.kind,
      tsSeconds: r.ts_seconds,
      tsMicros: r.ts_micros,
      receivedUs: r.received_us,
      data: r.data,
      // The agent's own connection events have no dedup: each is new, known by its receipt time.
      dedup: r.dedup ?? `received:${r.received_us}`,
    };
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
