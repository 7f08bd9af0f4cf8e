/**
 * `memfail collect`: JetStream → PostgreSQL. Pulls from the stream's durable
 * consumer in batches; each batch is written in one transaction (insert …
 * on conflict do nothing, so a redelivered record is a no-op) and acked
 * only once committed. Collectors with the same durable name share the
 * work. While a batch commits the next one is being fetched: at most two
 * batches are held, whatever the backlog (the consumer's max_ack_pending
 * bounds what the server hands out).
 *
 * A message that is not a record this collector can store (another
 * publisher's, malformed JSON, a newer format, oversized) is written to
 * `rejected` in the same transaction and acked: one log line, one metric,
 * never retried, never blocking the messages behind it. PostgreSQL down:
 * the batch in hand is kept (ack deadlines extended) and retried until it
 * commits. stop() finishes the batch in hand, and gives back (nak) the one
 * prefetched.
 */
import { type Consumer, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CollectorMetrics } from './collector-metrics.js';
import {
  type Decoded,
  decode,
  decodeContent,
  type FailureRecord,
  type FleetRecord,
  type LifecycleRecord,
  MAX_MESSAGE_BYTES,
  type RejectReason,
} from './message.js';
import {
  connectPatiently,
  DEFAULT_DURABLE,
  ensureConsumer,
  ensureStream,
  type NatsTarget,
  type StreamSettings,
} from './nats.js';
import type { Sql } from './pg.js';
import { migratePg } from './pg-schema.js';

export interface CollectorOptions {
  readonly stream: StreamSettings;
  readonly durable?: string;
  /** Messages per batch (one transaction), default 1000. */
  readonly batch?: number;
  /** How long a fetch waits to fill a batch, default (and at least) 1000 ms. */
  readonly fetchWaitMs?: number;
  /** Unacked messages the server hands this consumer at most (all collectors), default 20,000. */
  readonly maxAckPending?: number;
  readonly ackWaitMs?: number;
  readonly metrics?: CollectorMetrics;
  readonly log?: (line: string) => void;
}

export interface CollectorTotals {
  batches: number;
  inserted: number;
  duplicates: number;
  rejected: number;
}

const RETRY_MS = 1000;

export class Collector {
  private nc: NatsConnection | null = null;
  private stopping = false;
  private runPromise: Promise<void> | null = null;
  private readonly batch: number;
  private readonly log: (line: string) => void;
  readonly totals: CollectorTotals = { batches: 0, inserted: 0, duplicates: 0, rejected: 0 };

  constructor(
    private readonly target: NatsTarget,
    private readonly sql: Sql,
    private readonly options: CollectorOptions,
  ) {
    this.batch = options.batch ?? 1000;
    this.log = options.log ?? (() => {});
  }

  /** Connects, migrates PostgreSQL, creates stream and consumer when absent. */
  async start(): Promise<void> {
    await migratePg(this.sql);
    this.nc = await connectPatiently(
      this.target,
      'memfail-collector',
      () => this.stopping,
      this.log,
    );
    if (this.nc === null) return;
    await ensureStream(await jetstreamManager(this.nc), this.options.stream);
    await ensureConsumer(
      this.nc,
      this.options.stream.name,
      this.durable,
      this.options.maxAckPending ?? 20_000,
      this.options.ackWaitMs ?? 30_000,
    );
    const consumer = await jetstream(this.nc).consumers.get(this.options.stream.name, this.durable);
    this.runPromise = this.run(consumer);
  }

  get durable(): string {
    return this.options.durable ?? DEFAULT_DURABLE;
  }

  /** Resolves when the collector stopped (after stop(), or never otherwise). */
  get done(): Promise<void> {
    return this.runPromise ?? Promise.resolve();
  }

  /** Finishes the batch in hand (committed and acked), then closes NATS. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
    await this.nc?.drain().catch(() => {});
  }

  private async run(consumer: Consumer): Promise<void> {
    let next = this.pull(consumer);
    for (;;) {
      const batch = await next;
      // Fetched but not yet in hand when the stop came: give it back at once.
      if (this.stopping) return giveBack(batch);
      next = this.pull(consumer);
      if (batch.length > 0) await this.commit(batch);
      if (this.stopping) return giveBack(await next);
    }
  }

  /** One batch, or [] when none came in time or NATS is away (after a pause). */
  private async pull(consumer: Consumer): Promise<JsMsg[]> {
    const batch: JsMsg[] = [];
    try {
      const messages = await consumer.fetch({
        max_messages: this.batch,
        expires: Math.max(1000, this.options.fetchWaitMs ?? 1000),
      });
      // Read to the end even when stopping (it ends within `expires`): what
      // the server sent is then given back at once, not after the ack wait.
      for await (const m of messages) batch.push(m);
    } catch (err) {
      if (!this.stopping) {
        this.log(`cannot fetch from NATS ${this.target.display}: ${message(err)}; retrying`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    return batch;
  }

  /** Writes the batch until it commits (PostgreSQL may be restarting), then acks it. */
  private async commit(batch: readonly JsMsg[]): Promise<void> {
    const rows = sortBatch(batch, this.options.stream.name);
    for (const r of rows.rejects) {
      this.log(
        `rejected message ${r.stream_seq} on ${r.subject}: ${r.reason} (${r.detail}); kept in table rejected`,
      );
    }
    for (;;) {
      const started = performance.now();
      try {
        const inserted = await this.write(rows);
        this.options.metrics?.commitSeconds.observe((performance.now() - started) / 1000);
        this.record(batch, rows, inserted);
        break;
      } catch (err) {
        this.options.metrics?.commitErrors.inc();
        if (this.stopping) {
          // Stopping while PostgreSQL is away: the batch goes back to the stream.
          this.log(
            `cannot commit a batch of ${batch.length} (${message(err)}); left on the stream`,
          );
          return giveBack(batch);
        }
        this.log(
          `cannot commit a batch of ${batch.length} to PostgreSQL (${message(err)}); retrying`,
        );
        for (const m of batch) m.working();
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    for (const m of batch) m.ack();
  }

  private async write(rows: SortedBatch): Promise<number> {
    return await writeRows(this.sql, rows);
  }

  private record(batch: readonly JsMsg[], rows: SortedBatch, inserted: number): void {
    const records = rows.failures.length + rows.lifecycle.length;
    this.totals.batches++;
    this.totals.inserted += inserted;
    this.totals.duplicates += records - inserted;
    this.totals.rejected += rows.rejects.length;
    const m = this.options.metrics;
    if (m === undefined) return;
    m.batchSize.observe(batch.length);
    m.stored.inc({ result: 'new' }, inserted);
    m.stored.inc({ result: 'duplicate' }, records - inserted);
    for (const r of rows.rejects) m.countRejected(r.reason);
    let redelivered = 0;
    for (const msg of batch) if (msg.redelivered) redelivered++;
    if (redelivered > 0) m.redeliveries.inc(redelivered);
    m.lag.set(batch[batch.length - 1]!.info.pending);
  }
}

/** One transaction: the rows, vm_summary with them; how many records were new. */
async function writeRows(sql: Sql, rows: SortedBatch): Promise<number> {
  return await sql.begin(async (tx) => {
    let inserted = 0;
    if (rows.failures.length > 0) {
      const [r] = await tx.unsafe(INSERT_FAILURES, [JSON.stringify(rows.failures)]);
      inserted += Number(r?.inserted ?? 0);
    }
    if (rows.lifecycle.length > 0) {
      const [r] = await tx.unsafe(INSERT_LIFECYCLE, [JSON.stringify(rows.lifecycle)]);
      inserted += Number(r?.inserted ?? 0);
    }
    if (rows.rejects.length > 0) {
      await tx.unsafe(INSERT_REJECTED, [JSON.stringify(rows.rejects)]);
    }
    return inserted;
  });
}

/**
 * Stores records the way a collector stores a batch (same statements, same
 * unique keys: a record stored twice is inserted once). For loading a fleet
 * database without NATS: tests, benchmarks, imports.
 */
export async function storeRecords(sql: Sql, records: readonly FleetRecord[]): Promise<number> {
  const failures: Record<string, unknown>[] = [];
  const lifecycle: Record<string, unknown>[] = [];
  for (const r of records) {
    if (r.kind === 'failure') failures.push(failureRow(r));
    else lifecycle.push(lifecycleRow(r));
  }
  return await writeRows(sql, { failures, lifecycle, rejects: [] });
}

interface SortedBatch {
  readonly failures: Record<string, unknown>[];
  readonly lifecycle: Record<string, unknown>[];
  readonly rejects: RejectRow[];
}

interface RejectRow {
  stream: string;
  stream_seq: number;
  subject: string;
  reason: RejectReason;
  detail: string;
  version: number | null;
  size: number;
  payload: string | null;
}

/** Decodes a batch into rows for each table. */
export function sortBatch(batch: readonly JsMsg[], stream: string): SortedBatch {
  const failures: Record<string, unknown>[] = [];
  const lifecycle: Record<string, unknown>[] = [];
  const rejects: RejectRow[] = [];
  for (const m of batch) {
    const d: Decoded = decode(m.subject, m.data);
    if (!d.ok) {
      rejects.push({
        stream,
        stream_seq: m.seq,
        subject: m.subject,
        reason: d.reason,
        detail: d.detail,
        version: d.version ?? null,
        size: m.data.byteLength,
        payload:
          m.data.byteLength > MAX_MESSAGE_BYTES ? null : Buffer.from(m.data).toString('base64'),
      });
    } else if (d.record.kind === 'failure') failures.push(failureRow(d.record));
    else lifecycle.push(lifecycleRow(d.record));
  }
  return { failures, lifecycle, rejects };
}

function failureRow(r: FailureRecord): Record<string, unknown> {
  const c = r.content === null ? null : decodeContent(r.content);
  return {
    host: r.host,
    vm: r.vm,
    recipient: c?.recipient ?? null,
    action: c?.action ?? null,
    action_required: c?.actionRequired ?? null,
    recursive: c?.recursive ?? null,
    ts_seconds: r.tsSeconds,
    ts_micros: r.tsMicros,
    seen_us: r.tsSeconds >= 0 ? r.tsSeconds * 1_000_000 + r.tsMicros : r.receivedUs,
    received_us: r.receivedUs,
    dialect: r.dialect,
    raw: r.raw,
    error: r.error,
    valid: r.content !== null && r.error === null,
    dedup: r.dedup,
  };
}

function lifecycleRow(r: LifecycleRecord): Record<string, unknown> {
  return {
    host: r.host,
    vm: r.vm,
    kind: r.event,
    ts_seconds: r.tsSeconds,
    ts_micros: r.tsMicros,
    received_us: r.receivedUs,
    data: r.data,
    dedup: r.dedup,
  };
}

// Rows go in as one JSON parameter (json_to_recordset): one statement per
// table per batch, whatever its size. vm_summary and host_summary are
// updated from the rows actually inserted, in (host, vm) and host order so
// that two collectors lock summary rows in the same order.
const INSERT_FAILURES = `
  WITH ins AS (
    INSERT INTO memory_failure (host, vm, recipient, action, action_required, recursive,
      ts_seconds, ts_micros, seen_us, received_us, dialect, raw, error, valid, dedup)
    SELECT host, vm, recipient, action, action_required, recursive,
      ts_seconds, ts_micros, seen_us, received_us, dialect, raw, error, valid, dedup
    FROM json_to_recordset($1::text::json) AS r(host text, vm text, recipient text, action text,
      action_required boolean, recursive boolean, ts_seconds bigint, ts_micros integer,
      seen_us bigint, received_us bigint, dialect text, raw text, error text, valid boolean,
      dedup text)
    ON CONFLICT DO NOTHING
    RETURNING host, vm, recipient, action, action_required, recursive, valid, seen_us
  ), summary AS (
    INSERT INTO vm_summary AS s (host, vm, failures, hypervisor, guest, ignore, inject, fatal,
      reset, action_required, recursive, invalid, first_us, last_us)
    SELECT host, vm, count(recipient),
      count(*) FILTER (WHERE recipient = 'hypervisor'), count(*) FILTER (WHERE recipient = 'guest'),
      count(*) FILTER (WHERE action = 'ignore'), count(*) FILTER (WHERE action = 'inject'),
      count(*) FILTER (WHERE action = 'fatal'), count(*) FILTER (WHERE action = 'reset'),
      count(*) FILTER (WHERE recipient IS NOT NULL AND action_required),
      count(*) FILTER (WHERE recipient IS NOT NULL AND recursive),
      count(*) FILTER (WHERE NOT valid), min(seen_us), max(seen_us)
    FROM ins GROUP BY host, vm ORDER BY host, vm
    ON CONFLICT (host, vm) DO UPDATE SET
      failures = s.failures + excluded.failures,
      hypervisor = s.hypervisor + excluded.hypervisor, guest = s.guest + excluded.guest,
      ignore = s.ignore + excluded.ignore, inject = s.inject + excluded.inject,
      fatal = s.fatal + excluded.fatal, reset = s.reset + excluded.reset,
      action_required = s.action_required + excluded.action_required,
      recursive = s.recursive + excluded.recursive, invalid = s.invalid + excluded.invalid,
      first_us = least(s.first_us, excluded.first_us), last_us = greatest(s.last_us, excluded.last_us)
    RETURNING 1
  ), hosts AS (
    INSERT INTO host_summary AS h (host, failures, last_us)
    SELECT host, count(recipient), max(seen_us) FROM ins GROUP BY host ORDER BY host
    ON CONFLICT (host) DO UPDATE SET
      failures = h.failures + excluded.failures, last_us = greatest(h.last_us, excluded.last_us)
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins) AS inserted`;

const INSERT_LIFECYCLE = `
  WITH ins AS (
    INSERT INTO lifecycle (host, vm, kind, ts_seconds, ts_micros, received_us, data, dedup)
    SELECT host, vm, kind, ts_seconds, ts_micros, received_us, data, dedup
    FROM json_to_recordset($1::text::json) AS r(host text, vm text, kind text, ts_seconds bigint,
      ts_micros integer, received_us bigint, data text, dedup text)
    ON CONFLICT DO NOTHING
    RETURNING 1
  )
  SELECT count(*) AS inserted FROM ins`;

const INSERT_REJECTED = `
  INSERT INTO rejected (stream, stream_seq, subject, reason, detail, version, size, payload)
  SELECT stream, stream_seq, subject, reason, detail, version, size, decode(payload, 'base64')
  FROM json_to_recordset($1::text::json) AS r(stream text, stream_seq bigint, subject text,
    reason text, detail text, version integer, size integer, payload text)
  ON CONFLICT DO NOTHING`;

function giveBack(batch: readonly JsMsg[]): void {
  for (const m of batch) m.nak();
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
