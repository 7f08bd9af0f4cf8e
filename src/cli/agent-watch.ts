/** `memfail watch`: wires store, batch writer, watcher, metrics and alerts together. */
import type { AlertDispatcher, AlertSink } from '../agent/alerts.js';
import { BatchWriter } from '../agent/batch.js';
import type { AgentMetrics, MetricsServer } from '../agent/metrics.js';
import type { HealthActor } from '../evacuate/act.js';
import { defaultDbPath } from '../agent/paths.js';
import { Store, StoreError } from '../agent/store.js';
import { parseVmArguments, VmArgumentError, type VmTarget, Watcher } from '../agent/watcher.js';
import type { LibvirtTarget, LibvirtWatcher } from '../agent/libvirt-source.js';
import type { AcceptWatcher } from '../agent/accept-source.js';
import { parseAddress, type QmpAddress } from '../qmp/address.js';
import { type FailureObservation, microsToIso, nowMicros } from '../agent/records.js';
import { timestampToIso } from '../event/model.js';
import type { WatchFlags } from './agent.js';
import { type Io, UsageError } from './io.js';

// Metrics (prom-client, node:http) and alerts (node:child_process) load only
// when asked for: a plain watch starts some tens of ms sooner without them.
type MetricsModule = typeof import('../agent/metrics.js');
type AlertsModule = typeof import('../agent/alerts.js');
type LibvirtModule = typeof import('../agent/libvirt-source.js');

/** How often a watch marks itself alive in the database (see Store.startRun). */
const HEARTBEAT_MS = 5000;

/** With --once, how long pending alerts may hold up the exit. */
const ONCE_ALERT_DRAIN_MS = 10_000;

export async function watch(vmArgs: readonly string[], opts: WatchFlags, io: Io): Promise<number> {
  const plan = await planWatch(vmArgs, opts);
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

  const { metrics, dispatcher, actor, writer, publisher } = await startWorkers(
    plan,
    opts,
    store,
    path,
    log,
  );
  warnOwedElsewhere(store, dispatcher?.sinkIds ?? [], path, io);
  // The corrupt-database stop reaches the watcher, made further down.
  let stopWatching = () => {};
  const commits = followCommits(writer, path, log, {
    metrics,
    dispatcher,
    actor,
    publisher,
    stop: () => stopWatching(),
    quiet: opts.quiet === true,
  });
  const run = startRunRecord(store, plan.targets, metrics, log);

  let metricsServer: MetricsServer | null = null;
  if (plan.listen !== null && metrics !== undefined && plan.metricsModule !== null) {
    try {
      metricsServer = await plan.metricsModule.serveMetrics(metrics, plan.listen);
      log(`metrics at ${metricsServer.url}`);
    } catch (err) {
      io.stderr(`memfail: cannot serve metrics on ${opts.metrics}: ${(err as Error).message}\n`);
      await publisher?.stop();
      store.close();
      return 1;
    }
  }

  const sources = await makeSources(plan, opts, writer, metrics, log);
  stopWatching = () => void sources.watcher.stop();
  const started = await runSources(sources, { dispatcher, actor }, opts, path, log);
  if (started === 'cannot-listen') {
    io.stderr(`memfail: cannot listen on ${opts.accept}: ${sources.acceptError}\n`);
    writer.close();
    await metricsServer?.close();
    store.close();
    return 1;
  }

  const end = await shutDown(
    { store, writer, run, metricsServer, publisher, dispatcher, actor, commits },
    sources.watcher,
    opts,
    plan.sinks.length > 0,
    log,
  );
  return exitStatus(end, sources.watcher, opts, path, io, log);
}

/**
 * Everything stopped and closed, in order: the last batch committed, alerts
 * (and with --once the publisher) given a moment to drain, this run marked
 * ended unless the database turned corrupt.
 */
async function shutDown(
  parts: {
    readonly store: Store;
    readonly writer: BatchWriter;
    readonly run: { readonly runId: number; readonly heartbeat: NodeJS.Timeout };
    readonly metricsServer: MetricsServer | null;
    readonly publisher: {
      flush(ms: number): Promise<boolean>;
      backlog(): number;
      stop(): Promise<void>;
    } | null;
    readonly dispatcher: AlertDispatcher | null;
    readonly actor: HealthActor | null;
    readonly commits: { newFailures(): number; corrupt(): Error | null };
  },
  watcher: Watcher,
  opts: WatchFlags,
  hasSinks: boolean,
  log: (line: string) => void,
): Promise<{ corrupt: Error | null; committed: boolean; owed: number; newFailures: number }> {
  const { store, writer, run, metricsServer, publisher, dispatcher, actor, commits } = parts;
  clearInterval(run.heartbeat);
  const committed = writer.close();
  await actor?.stop();
  await dispatcher?.stop(opts.once && !watcher.isStopping ? ONCE_ALERT_DRAIN_MS : 0);
  if (publisher !== null) {
    // --once: give the last events a moment to reach JetStream; the rest wait on disk.
    if (opts.once && !watcher.isStopping && !(await publisher.flush(ONCE_ALERT_DRAIN_MS))) {
      log(`${publisher.backlog()} events not yet published; the next watch --publish sends them`);
    }
    await publisher.stop();
  }
  const owed = hasSinks ? store.outboxCounts().pending : 0;
  await metricsServer?.close();
  const corrupt = commits.corrupt();
  if (corrupt === null) {
    try {
      store.endRun(run.runId, nowMicros());
    } catch {
      // The next start records a gap from the last heartbeat: the safe side.
    }
  }
  store.close();
  return { corrupt, committed, owed, newFailures: commits.newFailures() };
}

/**
 * What the store feeds: metrics (when something can scrape them), the alert
 * dispatcher, the health actor, the batch writer and the fleet publisher.
 */
async function startWorkers(
  plan: WatchPlan,
  opts: WatchFlags,
  store: Store,
  path: string,
  log: (line: string) => void,
) {
  // Metrics cost a little per event: collect them only when something can scrape them.
  const metrics: AgentMetrics | undefined =
    plan.listen === null || plan.metricsModule === null
      ? undefined
      : new plan.metricsModule.AgentMetrics();
  const dispatcher = makeDispatcher(plan, store, metrics, path, log);
  let actor: HealthActor | null;
  try {
    // Health loads only when asked for, like metrics and alerts.
    actor =
      opts.policy === undefined && !opts.act
        ? null
        : (await import('./health-watch.js')).healthActor(opts, store, metrics, log);
  } catch (err) {
    store.close();
    throw err;
  }
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
  return { metrics, dispatcher, actor, writer, publisher };
}

/** What the flags ask for, checked, with the optional modules they need loaded. */
interface WatchPlan {
  readonly metricsModule: MetricsModule | null;
  readonly alertsModule: AlertsModule | null;
  readonly libvirtModule: LibvirtModule | null;
  readonly targets: readonly VmTarget[];
  readonly sinks: readonly AlertSink[];
  readonly listen: ReturnType<MetricsModule['parseMetricsListen']> | null;
  readonly onceWaitMs: number;
  readonly libvirtTarget: LibvirtTarget | null;
  readonly acceptAddress: QmpAddress | null;
}

async function planWatch(vmArgs: readonly string[], opts: WatchFlags): Promise<WatchPlan> {
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
  // The libvirt client loads only for --libvirt.
  const libvirtModule =
    opts.libvirt === undefined && opts.libvirtSocket === undefined
      ? null
      : await import('../agent/libvirt-source.js');
  const libvirtTarget = libvirtModule === null ? null : parseLibvirt(opts, libvirtModule);
  let acceptAddress: QmpAddress | null = null;
  if (opts.accept !== undefined) {
    try {
      acceptAddress = parseAddress(opts.accept);
    } catch (err) {
      throw new UsageError(`--accept '${opts.accept}': ${(err as Error).message}`);
    }
  }
  if (targets.length === 0 && libvirtTarget === null && acceptAddress === null) {
    throw new UsageError('nothing to watch: give NAME=ADDRESS arguments, --libvirt or --accept');
  }
  return {
    metricsModule,
    alertsModule,
    libvirtModule,
    targets,
    sinks,
    listen,
    onceWaitMs,
    libvirtTarget,
    acceptAddress,
  };
}

function makeDispatcher(
  plan: WatchPlan,
  store: Store,
  metrics: AgentMetrics | undefined,
  path: string,
  log: (line: string) => void,
): AlertDispatcher | null {
  // Without sinks a dispatcher has nothing to do (no sink ids, start() and stop() return at once).
  if (plan.alertsModule === null) return null;
  return new plan.alertsModule.AlertDispatcher(store, [...plan.sinks], {
    ...(metrics ? { metrics } : {}),
    onFailure: (sink, error, retryInMs) =>
      log(`alert to ${sinkName(sink)} failed (${error}); retry in ${retryInMs} ms`),
    onDead: (sink, entry, error) =>
      log(
        `alert ${entry.id} (${entry.failure.vm}) to ${sinkName(sink)} given up: ${error}; ` +
          `\`memfail alerts retry --db ${path}\` sends it again`,
      ),
  });
}

/**
 * What each commit sets going (metrics, alerts, health, the publisher, a log
 * line per new failure); errors and quarantined observations reported. A
 * corrupt database calls `stop`: it will not heal by retrying.
 */
function followCommits(
  writer: BatchWriter,
  path: string,
  log: (line: string) => void,
  to: {
    readonly metrics: AgentMetrics | undefined;
    readonly dispatcher: AlertDispatcher | null;
    readonly actor: HealthActor | null;
    readonly publisher: { wake(): void } | null;
    readonly stop: () => void;
    /** -q: no line per failure (nor the cost of making one). */
    readonly quiet: boolean;
  },
): { newFailures(): number; corrupt(): Error | null } {
  const { metrics, dispatcher, actor, publisher } = to;
  let newFailures = 0;
  writer.onCommitted((batch) => {
    newFailures += batch.result.newFailureIds.length;
    metrics?.observeCommitted(batch);
    if (batch.result.newFailureIds.length > 0) dispatcher?.wake();
    if (batch.result.newFailureIds.length > 0) actor?.update();
    // One plain line per recorded failure (journald keeps each as one entry).
    if (!to.quiet) {
      batch.observations.forEach((obs, i) => {
        if (obs.kind === 'failure' && batch.result.fresh[i]) log(failureLine(obs));
      });
    }
    publisher?.wake();
  });
  let corrupt: Error | null = null;
  writer.onError((error, batch) => {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      corrupt ??= error;
      to.stop();
      return;
    }
    log(`cannot commit ${batch.length} events to ${path} (${error.message}); retrying`);
  });
  writer.onQuarantine(({ observation, reason }) => {
    metrics?.countQuarantined();
    const vm = (observation as { vm?: unknown }).vm;
    log(`set aside one ${observation.kind} of ${String(vm)} in the quarantine table: ${reason}`);
  });
  return { newFailures: () => newFailures, corrupt: () => corrupt };
}

/** This run's record and sign of life; a gap logged for each earlier run that was killed. */
function startRunRecord(
  store: Store,
  targets: readonly VmTarget[],
  metrics: AgentMetrics | undefined,
  log: (line: string) => void,
): { readonly runId: number; readonly heartbeat: NodeJS.Timeout } {
  const run = store.startRun(
    targets.map((t) => t.name),
    nowMicros(),
    HEARTBEAT_MS * 1000 * 6,
  );
  for (const gap of run.gaps) {
    metrics?.countGap(gap);
    log(`${gap.vm ?? 'every VM'}: ${gap.detail}; events from then to now may be missing`);
  }
  const heartbeat = setInterval(() => {
    try {
      store.heartbeat(run.runId, nowMicros());
    } catch {
      // Reported by the next commit, if the database is really gone.
    }
  }, HEARTBEAT_MS);
  return { runId: run.runId, heartbeat };
}

interface Sources {
  readonly watcher: Watcher;
  readonly libvirt: LibvirtWatcher | null;
  readonly accept: AcceptWatcher | null;
  /** Sources with no fixed set of VMs: they run until stopped. */
  readonly standing: readonly { stop(): Promise<void>; readonly done: Promise<void> }[];
  /** Why --accept could not listen, once runSources said so. */
  acceptError: string | null;
}

async function makeSources(
  plan: WatchPlan,
  opts: WatchFlags,
  writer: BatchWriter,
  metrics: AgentMetrics | undefined,
  log: (line: string) => void,
): Promise<Sources> {
  const watcher = new Watcher(plan.targets, writer, {
    once: opts.once === true,
    onceWaitMs: plan.onceWaitMs,
    ...(metrics ? { metrics } : {}),
    log,
  });
  const libvirt: LibvirtWatcher | null =
    plan.libvirtModule === null || plan.libvirtTarget === null
      ? null
      : new plan.libvirtModule.LibvirtWatcher(plan.libvirtTarget, writer, {
          log,
          ...(metrics ? { metrics } : {}),
        });
  const accept: AcceptWatcher | null =
    plan.acceptAddress === null
      ? null
      : new (await import('../agent/accept-source.js')).AcceptWatcher(plan.acceptAddress, writer, {
          log,
          ...(metrics ? { metrics } : {}),
        });
  const standing = [...(libvirt ? [libvirt] : []), ...(accept ? [accept] : [])];
  return { watcher, libvirt, accept, standing, acceptError: null };
}

/**
 * Starts every source and waits for the watch's end: the NAME=ADDRESS VMs'
 * (--once), else a signal. SIGINT/SIGTERM stop every source; the handlers
 * come first, so a signal during start-up (e.g. while binding --accept)
 * still ends cleanly.
 */
async function runSources(
  sources: Sources,
  workers: { readonly dispatcher: AlertDispatcher | null; readonly actor: HealthActor | null },
  opts: WatchFlags,
  path: string,
  log: (line: string) => void,
): Promise<'ended' | 'cannot-listen'> {
  const { watcher, libvirt, accept, standing } = sources;
  let started = false;
  let signalled = false;
  const stopAll = () => {
    void watcher.stop();
    for (const source of standing) void source.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: committing what is pending and stopping`);
    signalled = true;
    if (started) stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (accept !== null) {
      try {
        await accept.start();
      } catch (err) {
        sources.acceptError = (err as Error).message;
        return 'cannot-listen';
      }
    }
    workers.dispatcher?.start();
    watcher.start();
    workers.actor?.start();
    libvirt?.start();
    started = true;
    if (signalled) stopAll();
    const vms = watcher.status().length;
    log(
      `watching ${vms} VM${vms === 1 ? '' : 's'}${libvirt ? ` and libvirt ${libvirt.target.uri}` : ''}${accept ? ` and QEMUs dialling ${opts.accept}` : ''}, recording to ${path}`,
    );
    // With NAME=ADDRESS targets their end (--once) ends the watch; without, a signal does.
    await Promise.all([watcher.done, ...(vms === 0 ? standing.map((s) => s.done) : [])]);
    for (const source of standing) await source.stop();
    return 'ended';
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The watch's last words and exit status, once everything is closed. */
function exitStatus(
  end: {
    readonly corrupt: Error | null;
    readonly committed: boolean;
    readonly owed: number;
    readonly newFailures: number;
  },
  watcher: Watcher,
  opts: WatchFlags,
  path: string,
  io: Io,
  log: (line: string) => void,
): number {
  if (end.corrupt !== null) {
    io.stderr(
      `memfail: ${path} is corrupt (${end.corrupt.message}); stopped recording. ` +
        'Move it aside and start again; `sqlite3 FILE .recover` may save its rows\n',
    );
    return 1;
  }
  const { owed, newFailures } = end;
  log(`recorded ${newFailures} new memory failure${newFailures === 1 ? '' : 's'} in ${path}`);
  if (owed > 0)
    log(`${owed} alert${owed === 1 ? '' : 's'} still owed; the next watch delivers them`);
  if (!end.committed) {
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

function sinkName(sink: AlertSink): string {
  return sink.kind === 'webhook' ? sink.url : (sink.argv[0] ?? '');
}

/** `vm1: MEMORY_FAILURE guest inject action-required at 2026-…Z` (no colour, one line). */
export function failureLine(obs: FailureObservation): string {
  const when = obs.timestamp === null ? microsToIso(obs.receivedUs) : timestampToIso(obs.timestamp);
  const f = obs.failure;
  if (f === null)
    return `${obs.vm}: MEMORY_FAILURE (invalid: ${obs.error ?? 'unreadable'}) at ${when}`;
  const flags = [
    f.actionRequired ? 'action-required' : 'action-optional',
    ...(f.recursive ? ['recursive'] : []),
  ];
  return `${obs.vm}: MEMORY_FAILURE ${f.recipient} ${f.action} ${flags.join(' ')} at ${when}${obs.error === null ? '' : ` (flagged: ${obs.error})`}`;
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
  for (const { sink, dead } of store.deadBySink()) {
    io.stderr(
      `memfail watch: ${dead} alert${dead === 1 ? '' : 's'} to ${sink} given up (dead letters); ` +
        `\`memfail alerts list --db ${path}\` shows why, \`memfail alerts retry --db ${path}\` sends them again\n`,
    );
  }
}

function parseLibvirt(
  opts: WatchFlags,
  module: typeof import('../agent/libvirt-source.js'),
): LibvirtTarget {
  const uri =
    opts.libvirt === true || opts.libvirt === undefined ? module.DEFAULT_LIBVIRT_URI : opts.libvirt;
  try {
    return module.libvirtTarget(uri, opts.libvirtSocket);
  } catch (err) {
    if (err instanceof module.LibvirtUriError) {
      // `--libvirt vm1=...` takes the VM argument as the URI: say how to write it.
      const hint =
        uri.includes('=') && !uri.includes('://')
          ? ' (put --libvirt after the VM arguments, or give its URI)'
          : '';
      throw new UsageError(`--libvirt: ${err.message}${hint}`);
    }
    throw err;
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
