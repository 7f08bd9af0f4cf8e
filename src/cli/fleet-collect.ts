/** `memfail collect`: wires NATS, PostgreSQL, the collector and its metrics. */
import { parseMetricsListen, serveMetrics } from '../agent/metrics.js';
import { Collector } from '../fleet/collector.js';
import { CollectorMetrics } from '../fleet/collector-metrics.js';
import {
  DEFAULT_STREAM,
  type NatsTarget,
  NatsUrlError,
  parseNatsUrl,
  type StreamSettings,
} from '../fleet/nats.js';
import { openPg, redactPgUrl } from '../fleet/pg.js';
import { PgSchemaError } from '../fleet/pg-schema.js';
import type { CollectFlags, NatsFlags } from './fleet.js';
import { pgUrl, positiveInt } from './fleet-flags.js';
import { type Io, UsageError } from './io.js';

export function natsTarget(url: string, flags: NatsFlags): NatsTarget {
  try {
    return parseNatsUrl(url, flags.natsCreds);
  } catch (err) {
    if (err instanceof NatsUrlError) throw new UsageError(err.message);
    throw err;
  }
}

export function streamSettings(flags: NatsFlags): StreamSettings {
  return {
    ...DEFAULT_STREAM,
    name: flags.stream,
    retention: flags.streamRetention,
    storage: flags.streamStorage,
    replicas: positiveInt(flags.streamReplicas, '--stream-replicas'),
  };
}

export async function collect(opts: CollectFlags, io: Io): Promise<number> {
  const target = natsTarget(opts.nats, opts);
  const url = pgUrl(opts);
  if (url === undefined) throw new UsageError('collect needs --pg URL (or MEMFAIL_PG_URL)');
  const batch = positiveInt(opts.batch, '--batch');
  let listen = null;
  if (opts.metrics !== undefined) {
    try {
      listen = parseMetricsListen(opts.metrics);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const say = opts.quiet ? () => {} : (line: string) => io.stderr(`memfail collect: ${line}\n`);
  const metrics = new CollectorMetrics();
  const sql = openPg(url, 2);
  const collector = new Collector(target, sql, {
    stream: streamSettings(opts),
    batch,
    metrics,
    ...(opts.durable === undefined ? {} : { durable: opts.durable }),
    // Rejections are worth a line even with --quiet: someone is writing odd things to the stream.
    log: (line) =>
      line.startsWith('rejected') ? io.stderr(`memfail collect: ${line}\n`) : say(line),
  });
  try {
    await collector.start();
  } catch (err) {
    await sql.end({ timeout: 1 });
    const what = err instanceof PgSchemaError ? err.message : (err as Error).message;
    io.stderr(
      `memfail: cannot start collecting (${target.display} → ${redactPgUrl(url)}): ${what}\n`,
    );
    return 1;
  }
  const server = listen === null ? null : await serveMetrics(metrics, listen);
  if (server) say(`metrics at ${server.url}`);
  say(`collecting ${target.display} (durable ${collector.durable}) into ${redactPgUrl(url)}`);
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: finishing the batch in hand`);
    void collector.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await collector.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  await collector.stop();
  await server?.close();
  await sql.end({ timeout: 5 });
  const t = collector.totals;
  say(
    `stored ${t.inserted} new records (${t.duplicates} duplicates, ${t.rejected} rejected) in ${t.batches} batches`,
  );
  return 0;
}
