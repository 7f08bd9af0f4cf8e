/**
 * Watches many VMs at once: one QMP connection each, kept by a QmpReconnector
 * (src/qmp/reconnect.ts: backoff with jitter) while a VM restarts or is not
 * up yet, recording every MEMORY_FAILURE (canonical fields via the VM's
 * dialect) and its lifecycle events through a BatchWriter.
 *
 * Dialect: asked of the VM itself with `query-qmp-schema` right after each
 * connect (see dialect-probe.ts); until the answer arrives, or when the VM
 * cannot say, each event's own shape decides.
 *
 * Backpressure: while the writer's backlog is full (the database cannot take
 * events: locked, disk full) every VM's socket is paused; QEMU keeps what
 * it sends meanwhile, and reading resumes once the backlog has drained.
 *
 * `once` mode: a VM is done when its first connection closes (the VM exited),
 * or when it never could be reached within `onceWaitMs`; the watcher is done
 * when every VM is. VMs that were never reached are reported by `unreached`.
 */
import { type Reading, readMemoryFailure } from '../event/dialect.js';
import type { Dialect } from '../event/model.js';
import { formatAddress, parseAddress, type QmpAddress } from '../qmp/address.js';
import type { DisconnectInfo, QmpEvent } from '../qmp/client.js';
import type { JsonObject, LooseEvents } from '../qmp/message.js';
import { QmpReconnector, type ReconnectState } from '../qmp/reconnect.js';
import type { BatchWriter } from './batch.js';
import { dialectFromSchema } from './dialect-probe.js';
import type { AgentMetrics } from './metrics.js';
import { checkTimestamp, isQmpLifecycleEvent, nowMicros } from './records.js';

/** The largest QMP message the watcher takes from a VM (see VmWatch's client options). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** One VM to watch: `NAME=ADDRESS` on the command line. */
export interface VmTarget {
  readonly name: string;
  readonly address: QmpAddress;
}

export class VmArgumentError extends Error {
  override name = 'VmArgumentError';
}

/** Parses `NAME=ADDRESS` (address: unix:PATH, tcp:HOST:PORT or a bare path). */
export function parseVmArgument(text: string): VmTarget {
  const eq = text.indexOf('=');
  if (eq < 0) {
    throw new VmArgumentError(`'${text}' is not NAME=ADDRESS (e.g. vm1=unix:/run/vm1.qmp)`);
  }
  const name = text.slice(0, eq);
  if (!/^[^\s=]{1,200}$/.test(name)) {
    throw new VmArgumentError(`'${text}': the VM name must be 1-200 characters without spaces`);
  }
  try {
    return { name, address: parseAddress(text.slice(eq + 1)) };
  } catch (err) {
    throw new VmArgumentError(`'${text}': ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Parses every argument and rejects a name given twice. */
export function parseVmArguments(texts: readonly string[]): VmTarget[] {
  const targets = texts.map(parseVmArgument);
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.name)) throw new VmArgumentError(`VM name '${t.name}' is given twice`);
    seen.add(t.name);
  }
  return targets;
}

export interface WatcherOptions {
  readonly once?: boolean;
  /** In once mode, how long to keep trying a VM that was never reached (default 30 s). */
  readonly onceWaitMs?: number;
  /** Reconnect backoff: first delay, doubling per failed attempt up to the max (defaults 50 ms, 2 s). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly connectTimeoutMs?: number;
  readonly metrics?: AgentMetrics;
  /** Connection news for people (connected, disconnected, retrying). */
  readonly log?: (line: string) => void;
}

export type VmState = 'connecting' | 'connected' | 'waiting' | 'done';

export interface VmStatus {
  readonly name: string;
  readonly state: VmState;
  readonly connections: number;
  readonly dialect: Dialect | null;
  readonly events: number;
}

export class Watcher {
  private readonly vms: VmWatch[];
  private stopping = false;
  /** Resolves when every VM is done (once mode) or after stop(). */
  readonly done: Promise<void>;

  constructor(targets: readonly VmTarget[], writer: BatchWriter, options: WatcherOptions = {}) {
    this.vms = targets.map((t) => new VmWatch(t, writer, options));
    writer.onBacklog((full) => {
      options.log?.(
        full
          ? `${writer.pendingCount} events wait for the database: pausing reading from every VM`
          : 'the database takes events again: reading from every VM',
      );
      for (const vm of this.vms) vm.setPaused(full);
    });
    if (writer.full) for (const vm of this.vms) vm.setPaused(true);
    // Every VM has a connection-state series from the start, not from its first connect.
    for (const t of targets) options.metrics?.setConnected(t.name, false);
    this.done = Promise.all(this.vms.map((v) => v.finished)).then(() => undefined);
  }

  start(): void {
    for (const vm of this.vms) vm.start();
  }

  /** Closes every connection (recorded as DISCONNECTED, reason agent-stopped) and waits. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const vm of this.vms) vm.stop();
    }
    await this.done;
  }

  status(): VmStatus[] {
    return this.vms.map((v) => v.status());
  }

  /** VMs that were never reached (once mode gave up on them). */
  get unreached(): string[] {
    return this.vms.filter((v) => v.status().connections === 0).map((v) => v.target.name);
  }

  get isStopping(): boolean {
    return this.stopping;
  }
}

class VmWatch {
  private state: VmState = 'connecting';
  private connections = 0;
  private dialect: Dialect | null = null;
  private events = 0;
  private readonly link: QmpReconnector;
  /** Counts connection attempts; the one whose connection was last recorded as CONNECTED. */
  private attempt = 0;
  private announced = 0;
  /** Whether the current attempt connected (a wait after it is not a failure to connect). */
  private reached = false;
  private stopped = false;
  private lastReceivedUs = 0;
  /** When and why the last connection was lost, until the next one is made. */
  private lost: { atUs: number; reason: string } | null = null;
  /** Once mode: when to give up on a VM never reached (set by start()). */
  private giveUpAt = 0;
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(
    readonly target: VmTarget,
    private readonly writer: BatchWriter,
    private readonly options: WatcherOptions,
  ) {
    this.link = new QmpReconnector(target.address, {
      // Jittered, so that many VMs restarted together do not reconnect in lockstep.
      initialDelayMs: options.backoffInitialMs ?? 50,
      maxDelayMs: options.backoffMaxMs ?? 2000,
      clientOptions: {
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        // QEMU's events are a few hundred bytes and its largest reply (the
        // schema) well under 1 MiB; a message is parsed, validated and hashed
        // whole, so the watcher's memory is several times this limit (QEMU's
        // own 64 MiB allowed ~470 MB). Larger: a protocol error, a gap.
        limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
        // A MEMORY_FAILURE with a broken envelope is still a failure to record.
        onMalformedEvent: (message, text, error) => this.onMalformed(message, text, error),
      },
      onState: (s) => this.onState(s),
    });
    this.link.client.on('event', (ev) => this.onEvent(ev));
  }

  status(): VmStatus {
    return {
      name: this.target.name,
      state: this.state,
      connections: this.connections,
      dialect: this.dialect,
      events: this.events,
    };
  }

  start(): void {
    this.giveUpAt = Date.now() + (this.options.onceWaitMs ?? 30_000);
    this.link.run().then(
      () => this.finish(),
      (err: unknown) => {
        this.log(`stopped watching: ${err instanceof Error ? err.message : String(err)}`);
        this.finish();
      },
    );
  }

  stop(): void {
    this.stopped = true;
    void this.link.stop();
  }

  /** Stops or restarts reading from the VM (the writer's backlog; see Watcher). */
  setPaused(paused: boolean): void {
    if (paused) this.link.client.pause();
    else this.link.client.resume();
  }

  private finish(): void {
    this.state = 'done';
    this.resolveFinished();
  }

  /** The reconnect loop's news: what to record, log and decide (once mode) at each step. */
  private onState(s: ReconnectState): void {
    switch (s.kind) {
      case 'connecting':
        this.attempt++;
        this.reached = false;
        this.state = 'connecting';
        // A restarted VM may run another QEMU: learn its dialect afresh.
        this.dialect = null;
        return;
      case 'connected':
        this.reached = true;
        this.announce();
        this.log(`connected to ${formatAddress(this.target.address)}`);
        void this.probeDialect(this.attempt);
        return;
      case 'disconnected':
        this.onDisconnected(s.info);
        return;
      case 'waiting':
        if (!this.reached) this.onCannotConnect(s.attempt, s.delayMs, s.error);
        if (!this.stopped) this.state = 'waiting';
        return;
      case 'stopped':
        return;
    }
  }

  private onDisconnected(info: DisconnectInfo): void {
    this.options.metrics?.setConnected(this.target.name, false);
    const reason = this.stopped && info.reason === 'closed' ? 'agent-stopped' : info.reason;
    if (!this.stopped) this.lost = { atUs: nowMicros(), reason };
    this.push({
      kind: 'lifecycle',
      event: 'DISCONNECTED',
      data: { reason, ...(info.error ? { error: info.error.message } : {}) },
    });
    if (!this.stopped)
      this.log(`disconnected (${reason}${info.error ? `: ${info.error.message}` : ''})`);
    // Once mode: the VM exited. Otherwise it may be restarting: the loop tries again at once.
    if (this.options.once === true) this.stop();
  }

  /** The `failures`-th attempt in a row failed; once mode gives up on a VM never reached in time. */
  private onCannotConnect(failures: number, delayMs: number, error: Error | null): void {
    if (this.stopped) return;
    const why = error === null ? 'no reason given' : error.message;
    if (this.options.once === true && (this.connections > 0 || Date.now() >= this.giveUpAt)) {
      if (this.connections === 0) this.log(`never reached: ${why}`);
      this.stop();
      return;
    }
    if (failures === 1 || failures % 20 === 0) {
      this.log(`cannot connect (${why}); retrying every ≤${delayMs} ms`);
    }
  }

  /**
   * Records the connection (once per attempt). Called when the connect
   * succeeded, or earlier by the first event: events that arrive together
   * with the negotiation reply are dispatched before connect() resumes, and
   * CONNECTED must come first.
   */
  private announce(): void {
    if (this.announced === this.attempt) return;
    this.announced = this.attempt;
    this.connections++;
    this.state = 'connected';
    if (this.connections > 1) this.options.metrics?.countReconnect(this.target.name);
    this.options.metrics?.setConnected(this.target.name, true);
    if (this.lost !== null) {
      // QMP does not replay what was sent meanwhile: the record may miss it.
      this.writer.push({
        kind: 'gap',
        vm: this.target.name,
        fromUs: this.lost.atUs,
        toUs: nowMicros(),
        reason: 'connection-lost',
        detail: `connection lost (${this.lost.reason}) and regained`,
      });
      this.lost = null;
    }
    const version = this.link.client.greeting?.version.qemu;
    const data = {
      address: formatAddress(this.target.address),
      ...(version ? { qemu: `${version.major}.${version.minor}.${version.micro}` } : {}),
    };
    this.push({ kind: 'lifecycle', event: 'CONNECTED', data });
  }

  /** Asks the VM for its schema; the answer fixes the dialect for this connection. */
  private async probeDialect(attempt: number): Promise<void> {
    try {
      const schema = await this.link.client.execute('query-qmp-schema');
      if (this.attempt === attempt) this.dialect = dialectFromSchema(schema) ?? this.dialect;
    } catch {
      // Not offered, or the VM went away: each event's shape decides.
    }
  }

  /**
   * The agent's clock for a new observation of this VM, strictly increasing:
   * an event without a clock reading is told from another by its receipt time.
   */
  private receipt(): number {
    const now = nowMicros();
    this.lastReceivedUs = now > this.lastReceivedUs ? now : this.lastReceivedUs + 1;
    return this.lastReceivedUs;
  }

  private onEvent(ev: QmpEvent<LooseEvents>): void {
    this.announce();
    const receivedUs = this.receipt();
    // A timestamp that is no clock reading is kept only in the raw message.
    const checked = checkTimestamp(ev.timestamp);
    const timestamp = checked.timestamp;
    if (ev.event === 'MEMORY_FAILURE') {
      this.events++;
      const read = this.readFailure(ev.data);
      const error =
        read.error === null
          ? checked.error
          : checked.error === null
            ? read.error
            : `${read.error}; ${checked.error}`;
      this.writer.push({
        kind: 'failure',
        vm: this.target.name,
        ...read,
        error,
        timestamp,
        receivedUs,
        // The parsed message itself: its members in the order they came.
        message: ev as unknown as Readonly<Record<string, unknown>>,
        raw: ev.raw,
      });
      return;
    }
    if (isQmpLifecycleEvent(ev.event)) {
      this.events++;
      this.writer.push({
        kind: 'lifecycle',
        vm: this.target.name,
        event: ev.event,
        timestamp,
        receivedUs,
        data: ev.data,
      });
    }
  }

  /**
   * A message with an `event` member that is not a well-formed QMP event. A
   * MEMORY_FAILURE is stored flagged, with its text (never dropped, and the
   * connection kept); any other is ignored, as unknown events are.
   */
  private onMalformed(message: JsonObject, text: string, error: Error): void {
    if (message.event !== 'MEMORY_FAILURE') return;
    this.announce();
    this.events++;
    const ts = message.timestamp;
    const checked =
      typeof ts === 'object' && ts !== null && !Array.isArray(ts)
        ? checkTimestamp(ts as { seconds: unknown; microseconds: unknown })
        : { timestamp: null, error: null };
    const data = message.data;
    const read =
      typeof data === 'object' && data !== null && !Array.isArray(data)
        ? this.readFailure(data)
        : { failure: null, error: null, dialect: null };
    this.writer.push({
      kind: 'failure',
      vm: this.target.name,
      ...read,
      error: [error.message, read.error].filter((e) => e !== null).join('; '),
      timestamp: checked.timestamp,
      receivedUs: this.receipt(),
      message,
      raw: text,
    });
  }

  /** Read in the VM's dialect, or until known, the one the event's shape says. */
  private readFailure(data: unknown): Reading {
    return readMemoryFailure(data, this.dialect);
  }

  private push(obs: {
    kind: 'lifecycle';
    event: 'CONNECTED' | 'DISCONNECTED';
    data: unknown;
  }): void {
    this.writer.push({ ...obs, vm: this.target.name, timestamp: null, receivedUs: this.receipt() });
  }

  private log(line: string): void {
    this.options.log?.(`${this.target.name}: ${line}`);
  }
}
