import { type Command, Option } from 'commander';
import { pgUrl } from './fleet-flags.js';
import type { CommandContext } from './io.js';
import type { HostsFlags } from './fleet-read.js';

// Kept in fleet-flags.ts, which the command modules import without loading this one.
export { pgUrl, positiveInt } from './fleet-flags.js';

/**
 * `memfail collect` and `memfail hosts`, and the NATS flags `watch --publish`
 * shares with `collect`. NATS and PostgreSQL clients load only when used.
 */
export function registerFleet(program: Command, ctx: CommandContext): void {
  natsOptions(
    program
      .command('collect')
      .description(
        'Move the fleet stream (NATS JetStream) into PostgreSQL: a durable pull consumer, ' +
          'one transaction per batch, acked after commit',
      )
      .requiredOption('--nats <url>', 'NATS server: nats://[user:pass@]HOST:PORT or tls://…')
      .option('--pg <url>', 'PostgreSQL URL (default: $MEMFAIL_PG_URL)')
      .option('--durable <name>', 'consumer name; collectors with the same name share the work')
      .option('--batch <n>', 'messages per transaction', '1000')
      .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics')
      .option('-q, --quiet', 'no news on stderr (rejected messages are still logged)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  memfail collect --nats nats://nats.local:4222 --pg postgres://memfail@db.local/memfail
  MEMFAIL_PG_URL=postgres://… memfail collect --nats tls://nats.local --nats-creds collector.creds

Run one or more anywhere: they share the durable consumer, and a message
redelivered (a collector died before its ack) inserts nothing twice. The
schema is created and migrated on start. Messages that are not memfail
records (another publisher, malformed JSON, a newer format, over 64 KiB) go to
the table rejected with one log line each and the metric
memfail_collector_rejected_total. SIGTERM/SIGINT: the batch in hand is
committed and acked, then the collector exits 0.
Metrics: memfail_collector_lag_messages, _batch_messages, _commit_seconds,
_redeliveries_total, _records_total{result=new|duplicate}, _rejected_total.`,
    )
    .action(async (opts: CollectFlags) => {
      const { collect } = await import('./fleet-collect.js');
      ctx.exitCode = await collect(opts, ctx.io);
    });

  program
    .command('hosts')
    .description('List the hosts of the fleet with their VM and failure counts and last failure')
    .option('--pg <url>', 'the fleet database (default: $MEMFAIL_PG_URL)')
    .option('--db <path>', 'or the local SQLite database (one host)')
    .option('--host <name>', 'only this host (with --db: the name to show, default this machine)')
    .option(
      '--policy <file>',
      'health policy judging each host (see memfail health; default: built-in)',
    )
    .option('--json', 'print a JSON array')
    .addHelpText(
      'after',
      `
Examples:
  memfail hosts --pg postgres://memfail@db.local/memfail
  memfail hosts --db events.db --json

HEALTH is the host's state under the policy with its worst reason (see
memfail health); each host's failures within the policy's longest window
are read in one query over the time index.
JSON: [{host, vms, failures (readable), invalid, lastFailure (ISO 8601),
health: {host, state, level, reasons, evaluatedAt, policy}}].`,
    )
    .action(async (opts: HostsFlags) => {
      const { hostsCommand } = await import('./fleet-read.js');
      ctx.exitCode = await hostsCommand(opts, pgUrl(opts), ctx.io);
    });
}

export interface NatsFlags {
  natsCreds?: string;
  stream: string;
  streamRetention: 'limits' | 'interest' | 'workqueue';
  streamStorage: 'file' | 'memory';
  streamReplicas: string;
}

export interface CollectFlags extends NatsFlags {
  nats: string;
  pg?: string;
  durable?: string;
  batch: string;
  metrics?: string;
  quiet?: boolean;
}

/** The NATS flags of `collect` and `watch --publish`. */
export function natsOptions(cmd: Command): Command {
  return cmd
    .option('--nats-creds <file>', 'NATS credentials file (JWT and NKey seed)')
    .option('--stream <name>', 'JetStream stream for memfail.> (created when absent)', 'MEMFAIL')
    .addOption(
      new Option('--stream-retention <policy>', 'retention of a stream this creates')
        .choices(['limits', 'interest', 'workqueue'])
        .default('limits'),
    )
    .addOption(
      new Option('--stream-storage <kind>', 'storage of a stream this creates')
        .choices(['file', 'memory'])
        .default('file'),
    )
    .option('--stream-replicas <n>', 'replicas of a stream this creates (1, 3 or 5)', '1');
}
