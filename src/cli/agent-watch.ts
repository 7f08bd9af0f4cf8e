/** `memfail watch`: wires store, batch writer, watcher, metrics and alerts together. */
import type { AlertDispatcher, AlertSink } from '../agent/alerts.js';
import { BatchWriter } from '../agent/batch.js';
import type { AgentMetrics, MetricsServer } from '../agent/metrics.js';
import { defaultDbPath } from '../agent/paths.js';
import { Store, StoreError } from '../agent/store.js';
import { parseVmArguments, VmArgumentError, Watcher } from '../agent/watcher.js';
import type { WatchFlags } from './agent.js';
import { type Io, UsageError } from './io.js';

// Metrics (prom-client, node:http) and alerts (node:child_process) load only
// when asked for: a plain watch starts some tens of ms sooner without them.
type MetricsModule = typeof import('../agent/metrics.js');
type AlertsModule = typeof import('../agent/alerts.js');

/** With --once, how long pending alerts may hold up the exit. */
const ONCE_ALERT_DRAIN_MS = 10_000;

export async function watch(vmArgs: readonly string[], opts: WatchFlags, io: Io): Promise<number> {
  const metricsModule = opts.metrics === undefined ? null : await import('../agent/metrics.js');
  const alertsModule =
    opts.webhook.length === 0 && opts.onEvent === undefined
      ? null
      : await import('../agent/alerts.js');
  const { targets, sinks, listen, onceWaitMs } = parseFlags(
    vmArgs,
    opts,
    metricsModule,
    alertsModule,
  );
  const log = opts.quiet ? () => {} : (line: string) => io.stderr(`memfail watch: ${line}\n`);
  const path = opts.db ?? defaultDbPath();

  let store: Store;
  try {
    store = Store.open(path, { durability: opts.durability });
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return 1;
  }

  // Metrics cost a little per event: collect them only when something can scrape them.
  const metrics: AgentMetrics | undefined =
    listen === null || metricsModule === null ? undefined : new metricsModule.AgentMetrics();
  // Without sinks a dispatcher has nothing to do (no sink ids, start() and stop() return at once).
  const dispatcher: AlertDispatcher | null =
    alertsModule === null
      ? null
      : new alertsModule.AlertDispatcher(store, sinks, {
          ...(metrics ? { metrics } : {}),
          onFailure: (sink, error, retryInMs) =>
            log(
              `alert to ${sink.kind === 'webhook' ? sink.url : sink.argv[0]} failed (${error}); retry in ${retryInMs} ms`,
            ),
        });
  const writer = new BatchWriter(store, { sinks: dispatcher?.sinkIds ?? [] });
  // --publish: the fleet publisher follows the store (src/fleet), woken on every commit.
  const publisher =
    opts.publish === undefined
      ? null
      : (await import('./fleet-publish.js')).startPublisher(
          path,
          { ...opts, publish: opts.publish },
          log,
          metrics?.registry,
        );
  warnOwedElsewhere(store, dispatcher?.sinkIds ?? [], path, io);
  let newFailures = 0;
  writer.onCommitted((batch) => {
    newFailures += batch.result.newFailureIds.length;
    metrics?.observeCommitted(batch);
    if (batch.result.newFailureIds.length > 0) dispatcher?.wake();
    publisher?.wake();
  });
  writer.onError((error, batch) =>
    log(`cannot commit ${batch.length} events to ${path} (${error.message}); retrying`),
  );

  let metricsServer: MetricsServer | null = null;
  if (listen !== null && metrics !== undefined && metricsModule !== null) {
    try {
      metricsServer = await metricsModule.serveMetrics(metrics, listen);
      log(`metrics at ${metricsServer.url}`);
    } catch (err) {
      io.stderr(`memfail: cannot serve metrics on ${opts.metrics}: ${(err as Error).message}\n`);
      await publisher?.stop();
      store.close();
      return 1;
    }
  }

  const watcher = new Watcher(targets, writer, {
    once: opts.once === true,
    onceWaitMs,
    ...(metrics ? { metrics } : {}),
    log,
  });
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: committing what is pending and stopping`);
    void watcher.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    dispatcher?.start();
    watcher.start();
    log(`watching ${targets.length} VM${targets.length === 1 ? '' : 's'}, recording to ${path}`);
    await watcher.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const committed = writer.close();
  await dispatcher?.stop(opts.once && !watcher.isStopping ? ONCE_ALERT_DRAIN_MS : 0);
  if (publisher !== null) {
    // --once: give the last events a moment to reach JetStream; the rest wait on disk.
    if (opts.once && !watcher.isStopping && !(await publisher.flush(ONCE_ALERT_DRAIN_MS))) {
      log(`${publisher.backlog()} events not yet published; the next watch --publish sends them`);
    }
    await publisher.stop();
  }
  const owed = sinks.length > 0 ? store.outboxCounts().pending : 0;
  await metricsServer?.close();
  store.close();
  log(`recorded ${newFailures} new memory failure${newFailures === 1 ? '' : 's'} in ${path}`);
  if (owed > 0)
    log(`${owed} alert${owed === 1 ? '' : 's'} still owed; the next watch delivers them`);
  if (!committed) {
    io.stderr(`memfail: could not commit the last events to ${path}\n`);
    return 1;
  }
  // Stopped by a signal, the watch ends normally whoever it had reached.
  const unreached = opts.once && !watcher.isStopping ? watcher.unreached : [];
  if (unreached.length > 0) {
    io.stderr(`memfail: never reached: ${unreached.join(', ')}\n`);
    return 1;
  }
  return 0;
}

/**
 * Alerts an earlier run owes to sinks this run does not deliver to stay in
 * the outbox, nothing lost; say so, or they would wait unseen.
 */
function warnOwedElsewhere(store: Store, sinkIds: readonly string[], path: string, io: Io): void {
  for (const { sink, pending } of store.pendingBySink()) {
    if (sinkIds.includes(sink)) continue;
    const webhook = sink.startsWith('webhook:') ? sink.slice('webhook:'.length) : null;
    const flag =
      webhook === null ? `--on-event for ${sink.slice('command:'.length)}` : `--webhook ${webhook}`;
    io.stderr(
      `memfail watch: ${pending} alert${pending === 1 ? '' : 's'} still owed to ${sink} from an earlier run; ` +
        `kept in ${path} until a watch with ${flag} delivers them\n`,
    );
  }
}

function parseFlags(
  vmArgs: readonly string[],
  opts: WatchFlags,
  metricsModule: MetricsModule | null,
  alertsModule: AlertsModule | null,
) {
  let targets: ReturnType<typeof parseVmArguments>;
  try {
    targets = parseVmArguments(vmArgs);
  } catch (err) {
    if (err instanceof VmArgumentError) throw new UsageError(err.message);
    throw err;
  }
  const sinks: AlertSink[] = [];
  for (const url of opts.webhook) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--webhook '${url}' is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`--webhook '${url}': only http: and https: URLs`);
    }
    sinks.push({ kind: 'webhook', url });
  }
  if (opts.onEvent !== undefined && alertsModule !== null) {
    try {
      sinks.push({ kind: 'command', argv: alertsModule.splitCommand(opts.onEvent) });
    } catch (err) {
      if (err instanceof alertsModule.CommandLineError)
        throw new UsageError(`--on-event: ${err.message}`);
      throw err;
    }
  }
  let listen = null;
  if (opts.metrics !== undefined && metricsModule !== null) {
    try {
      listen = metricsModule.parseMetricsListen(opts.metrics);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const onceWait = Number(opts.onceWait);
  if (!Number.isFinite(onceWait) || onceWait < 0) {
    throw new UsageError(`--once-wait '${opts.onceWait}' is not a number of seconds`);
  }
  return { targets, sinks, listen, onceWaitMs: onceWait * 1000 };
}
