/** Prometheus metrics of `memfail collect`. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RejectReason } from './message.js';

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly lag = new Gauge({
    name: 'memfail_collector_lag_messages',
    help: 'Messages on the stream not yet delivered to a collector (JetStream pending count)',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'memfail_collector_batch_messages',
    help: 'Messages per committed batch',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'memfail_collector_commit_seconds',
    help: 'Time to write and commit one batch to PostgreSQL',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly redeliveries = new Counter({
    name: 'memfail_collector_redeliveries_total',
    help: 'Messages JetStream delivered more than once (a collector died or was slow to ack)',
    registers: [this.registry],
  });
  readonly stored = new Counter({
    name: 'memfail_collector_records_total',
    help: 'Records received, by result: new (a row written) or duplicate (already stored)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'memfail_collector_rejected_total',
    help: 'Messages that were not records this collector can store, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly commitErrors = new Counter({
    name: 'memfail_collector_commit_errors_total',
    help: 'Batches whose commit failed and was retried',
    registers: [this.registry],
  });

  countRejected(reason: RejectReason): void {
    this.rejected.inc({ reason });
  }
}
