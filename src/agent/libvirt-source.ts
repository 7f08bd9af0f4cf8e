/**
 * Watches every domain of one libvirtd through one connection: the domains
 * running now and any started later, recording each MEMORY_FAILURE and the
 * domains' lifecycle through the same BatchWriter as the QMP watcher.
 *
 * One stream carries the failures, whichever libvirtd grants. The QEMU
 * program's monitor events give QEMU's own message (event name, QEMU's
 * timestamp, data as JSON): recorded exactly as the QMP path records it, and
 * asked for first. Only when that stream is refused (a read-only socket, an
 * ACL) is libvirt's MEMORY_FAILURE event (id 25) registered instead: integers
 * only (recipient, action, flags), no timestamp, recorded from those. Never
 * both: every MEMORY_FAILURE QEMU emits is on the monitor stream, so event 25
 * would only double the packets and the work per failure, and a failure is
 * one row without any matching of twins.
 *
 * Lifecycle: QEMU's run-state events (SHUTDOWN, RESET, STOP, RESUME,
 * GUEST_PANICKED) come raw from the monitor stream, as on the QMP path;
 * libvirt's started/stopped events (with their detail: booted, migrated,
 * crashed, destroyed, ...) are recorded as CONNECTED/DISCONNECTED, which is
 * what they mean for a watcher: the domain's QEMU came or went. The domain's
 * UUID is in their data.
 *
 * When libvirtd goes away, every domain gets DISCONNECTED (reason
 * libvirtd-lost); on reconnect, each running domain gets CONNECTED again
 * (reconnected: true). Between the two is the recorded gap: events libvirt
 * had no client to deliver to.
 */
import { readMemoryFailure } from '../event/dialect.js';
import { ACTIONS, type MemoryFailure, RECIPIENTS } from '../event/model.js';
import {
  DOMAIN_EVENT_ID,
  type DomainRef,
  domainState,
  formatUuid,
  LibvirtClient,
  type LibvirtEvent,
  MONITOR_EVENT_REGEX,
  QEMU,
  REMOTE,
} from '../libvirt/index.js';
import { backoffDelay } from '../qmp/reconnect.js';
import type { BatchWriter } from './batch.js';
import type { AgentMetrics } from './metrics.js';
import {
  isQmpLifecycleEvent,
  type LifecycleKind,
  nowMicros,
  QMP_LIFECYCLE_EVENTS,
} from './records.js';

/** The QEMU events asked of libvirt's monitor stream, as its regular expression. */
const MONITORED_EVENTS = `^(MEMORY_FAILURE|${QMP_LIFECYCLE_EVENTS.join('|')})$`;

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/**
 * While events pour in, the connection reads every READ_GATHER_MS (see
 * LibvirtClient's gatherMs): a burst of failures costs a wake-up per read
 * rather than per event. Under a burst the batch commits at most every
 * 100 ms anyway (BatchWriter's minCommitIntervalMs), so this adds little to
 * when an event is acknowledged; a lone event is read at once.
 */
export const READ_GATHER_MS = 50;

export interface LibvirtTarget {
  readonly uri: string;
  readonly socket: string;
}

export class LibvirtUriError extends Error {
  override name = 'LibvirtUriError';
}

/**
 * The local socket for a URI: `?socket=PATH` when given, else libvirtd's
 * default for qemu:///system or qemu:///session. Remote transports (qemu+ssh,
 * qemu+tcp, ...) are not spoken: run memfail on the host.
 */
export function libvirtTarget(uri: string, socketOverride?: string): LibvirtTarget {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new LibvirtUriError(`'${uri}' is not a libvirt URI (e.g. qemu:///system)`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  const [driver, transport] = scheme.split('+');
  if (transport !== undefined && transport !== 'unix') {
    throw new LibvirtUriError(
      `'${uri}': memfail speaks to libvirtd over its local unix socket only; run it on the host (qemu:///system)`,
    );
  }
  if (parsed.host !== '') {
    throw new LibvirtUriError(`'${uri}': a remote host; run memfail on that host instead`);
  }
  const socket =
    socketOverride ?? parsed.searchParams.get('socket') ?? defaultSocket(driver, parsed.pathname);
  if (socket === null) {
    throw new LibvirtUriError(
      `'${uri}': no default socket for this URI; give --libvirt-socket PATH`,
    );
  }
  return { uri, socket };
}

function defaultSocket(driver: string | undefined, path: string): string | null {
  if (path === '/system') return '/var/run/libvirt/libvirt-sock';
  if (driver === 'qemu' && path === '/session') {
    const runtime = process.env.XDG_RUNTIME_DIR;
    return runtime ? `${runtime}/libvirt/libvirt-sock` : null;
  }
  return null;
}

export interface LibvirtWatcherOptions {
  /** Reconnect backoff (defaults 100 ms doubling to 5 s). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCount?: number;
  readonly log?: (line: string) => void;
  /** memfail_vm_connected per domain: up while its QEMU runs and libvirtd is reachable. */
  readonly metrics?: AgentMetrics;
}

export type LibvirtWatchState = 'connecting' | 'connected' | 'waiting' | 'done';

export interface LibvirtWatchStatus {
  readonly uri: string;
  readonly state: LibvirtWatchState;
  readonly connections: number;
  /** Running domains, by name. */
  readonly domains: readonly string[];
  readonly failures: number;
}

const LIBVIRT_LIFECYCLE = [
  'defined',
  'undefined',
  'started',
  'suspended',
  'resumed',
  'stopped',
  'shutdown',
  'pmsuspended',
  'crashed',
] as const;
/** libvirt's lifecycle events that QEMU's monitor stream also reports, when that stream is refused. */
const QMP_EQUIVALENT: Partial<Record<(typeof LIBVIRT_LIFECYCLE)[number], LifecycleKind>> = {
  suspended: 'STOP',
  resumed: 'RESUME',
  shutdown: 'SHUTDOWN',
  crashed: 'GUEST_PANICKED',
};
const STARTED_DETAIL = ['booted', 'migrated', 'restored', 'from-snapshot', 'wakeup'] as const;
const STOPPED_DETAIL = [
  'shutdown',
  'destroyed',
  'crashed',
  'migrated',
  'saved',
  'failed',
  'from-snapshot',
] as const;

export class LibvirtWatcher {
  private state: LibvirtWatchState = 'connecting';
  private connections = 0;
  private failures = 0;
  private client: LibvirtClient | null = null;
  private stopped = false;
  private wakeSleep: (() => void) | null = null;
  /** Running domains by UUID (text): their names, for gaps and status. */
  private readonly running = new Map<string, string>();
  /**
   * Whether this connection has raw monitor events; else libvirt's own events
   * stand in: MEMORY_FAILURE (event 25) for QEMU's, REBOOT for RESET.
   */
  private monitorEvents = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => {
    this.resolveDone = r;
  });

  constructor(
    readonly target: LibvirtTarget,
    private readonly writer: BatchWriter,
    private readonly options: LibvirtWatcherOptions = {},
  ) {
    // Backpressure, as the QMP watcher's: while the database is unavailable
    // and the backlog full, stop reading. libvirt holds what it sends only
    // while its keepalive allows (~30 s by default), then drops the
    // connection: the watch reconnects and records the gap.
    writer.onBacklog((full) => {
      if (this.state !== 'connected') return;
      this.log(
        full
          ? `${writer.pendingCount} events wait for the database: pausing reading from libvirtd`
          : 'the database takes events again: reading from libvirtd',
      );
      if (full) this.client?.pause();
      else this.client?.resume();
    });
  }

  start(): void {
    this.run().then(
      () => this.finish(),
      (err: unknown) => {
        this.log(`stopped watching: ${err instanceof Error ? err.message : String(err)}`);
        this.finish();
      },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeSleep?.();
    await this.client?.close();
    await this.done;
  }

  status(): LibvirtWatchStatus {
    return {
      uri: this.target.uri,
      state: this.state,
      connections: this.connections,
      domains: [...this.running.values()].sort(),
      failures: this.failures,
    };
  }

  private finish(): void {
    this.state = 'done';
    this.resolveDone();
  }

  private async run(): Promise<void> {
    let attempts = 0;
    let lostAt: number | null = null;
    while (!this.stopped) {
      this.state = 'connecting';
      const client = new LibvirtClient({
        connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
        gatherMs: READ_GATHER_MS,
        ...(this.options.keepaliveIntervalMs === undefined
          ? {}
          : { keepaliveIntervalMs: this.options.keepaliveIntervalMs }),
        ...(this.options.keepaliveCount === undefined
          ? {}
          : { keepaliveCount: this.options.keepaliveCount }),
      });
      this.client = client;
      client.on('event', (ev) => this.onEvent(ev));
      try {
        await client.connect(this.target.socket, { uri: this.target.uri });
        await this.subscribe(client);
      } catch (err) {
        await client.close(100);
        if (this.stopped) return;
        attempts++;
        const delay = backoffDelay(Math.min(attempts - 1, 30), {
          initialDelayMs: this.options.backoffInitialMs ?? 100,
          maxDelayMs: this.options.backoffMaxMs ?? 5000,
        });
        if (attempts === 1 || attempts % 20 === 0) {
          this.log(`cannot reach libvirtd (${describe(err)}); retrying every ≤${delay} ms`);
        }
        this.state = 'waiting';
        await this.sleep(delay);
        continue;
      }
      attempts = 0;
      this.connections++;
      this.state = 'connected';
      if (this.writer.full) client.pause();
      const reconnected = this.connections > 1;
      const domains = [...this.running.values()];
      this.log(
        reconnected
          ? `reconnected to libvirtd at ${this.target.socket} after ${((Date.now() - (lostAt ?? Date.now())) / 1000).toFixed(1)} s; watching ${domains.length} running domain${domains.length === 1 ? '' : 's'}`
          : `connected to libvirtd at ${this.target.socket} (${this.target.uri}); watching ${domains.length} running domain${domains.length === 1 ? '' : 's'} and any started later`,
      );
      const info = await client.closed;
      if (this.stopped) {
        this.recordGap('agent-stopped', null);
        return;
      }
      lostAt = Date.now();
      this.log(
        `lost libvirtd (${info.reason}${info.error ? `: ${info.error.message}` : ''}); reconnecting — events libvirt cannot deliver meanwhile are lost, the gap is recorded`,
      );
      this.recordGap('libvirtd-lost', info.error?.message ?? info.reason);
      this.state = 'waiting';
      await this.sleep(this.options.backoffInitialMs ?? 100);
    }
  }

  /**
   * Registers for events first (so nothing between listing and registering is
   * missed), then lists. The monitor stream first: whether it is granted
   * decides which of libvirt's own events are needed.
   */
  private async subscribe(client: LibvirtClient): Promise<void> {
    try {
      // Only the events recorded: a busy host's other QEMU events never cross the socket.
      await client.call(QEMU.connectDomainMonitorEventRegister, {
        dom: null,
        event: MONITORED_EVENTS,
        flags: MONITOR_EVENT_REGEX,
      });
      this.monitorEvents = true;
    } catch (err) {
      // A read-only socket or an ACL may refuse the QEMU program: libvirt's own events remain.
      this.monitorEvents = false;
      this.log(`no raw QEMU monitor events (${describe(err)}); recording libvirt's events alone`);
    }
    const ids = this.monitorEvents
      ? [DOMAIN_EVENT_ID.lifecycle]
      : [DOMAIN_EVENT_ID.memoryFailure, DOMAIN_EVENT_ID.lifecycle, DOMAIN_EVENT_ID.reboot];
    for (const id of ids) {
      await client.call(REMOTE.connectDomainEventCallbackRegisterAny, { eventID: id, dom: null });
    }
    const { domains } = await client.call(REMOTE.connectListAllDomains, {
      needResults: 1,
      flags: 0,
    });
    const reconnected = this.connections > 0;
    this.running.clear();
    for (const dom of domains) {
      if (dom.id < 0) continue; // defined, not running
      let state = 'running';
      try {
        state = domainState((await client.call(REMOTE.domainGetState, { dom, flags: 0 })).state);
      } catch {
        // Gone meanwhile: its stopped event follows.
        continue;
      }
      this.running.set(formatUuid(dom.uuid), dom.name);
      this.lifecycle(dom, 'CONNECTED', {
        via: 'libvirt',
        uri: this.target.uri,
        uuid: formatUuid(dom.uuid),
        state,
        ...(reconnected ? { reconnected: true } : {}),
      });
    }
  }

  private onEvent(ev: LibvirtEvent): void {
    switch (ev.name) {
      case 'monitorEvent':
        this.onMonitorEvent(ev.body);
        return;
      case 'memoryFailure':
        this.onLibvirtFailure(ev.body);
        return;
      case 'lifecycle':
        this.onLifecycle(ev.body.msg.dom, ev.body.msg.event, ev.body.msg.detail);
        return;
      case 'reboot':
        // Only registered without the monitor stream, whose raw RESET it stands in for.
        if (!this.monitorEvents) {
          this.lifecycle(ev.body.msg.dom, 'RESET', { via: 'libvirt', event: 'reboot' });
        }
        return;
    }
  }

  private onMonitorEvent(body: Extract<LibvirtEvent, { name: 'monitorEvent' }>['body']): void {
    const { dom, event } = body;
    if (event !== 'MEMORY_FAILURE' && !isQmpLifecycleEvent(event)) return;
    let data: unknown;
    try {
      data = body.details === null ? undefined : JSON.parse(body.details);
    } catch {
      data = body.details;
    }
    const timestamp =
      body.seconds >= 0 ? { seconds: body.seconds, microseconds: body.micros } : null;
    const receivedUs = nowMicros();
    if (event !== 'MEMORY_FAILURE') {
      this.writer.push({
        kind: 'lifecycle',
        vm: dom.name,
        event,
        timestamp,
        receivedUs,
        data: data ?? {},
      });
      return;
    }
    // QEMU's message as QMP carries it; libvirt hands the data on as compact JSON.
    const raw = `{"timestamp":{"seconds":${body.seconds},"microseconds":${body.micros}},"event":"MEMORY_FAILURE"${body.details === null ? '' : `,"data":${body.details}`}}`;
    const message: Record<string, unknown> = {
      timestamp: timestamp ?? { seconds: body.seconds, microseconds: body.micros },
      event,
    };
    if (data !== undefined) message.data = data;
    const read = readMemoryFailure(data);
    this.failures++;
    this.writer.push({
      kind: 'failure',
      vm: dom.name,
      dialect: read.dialect,
      failure: read.failure,
      error: read.error,
      timestamp,
      receivedUs,
      message,
      raw,
    });
  }

  /** libvirt's own event: only registered when the monitor stream is refused. */
  private onLibvirtFailure(body: Extract<LibvirtEvent, { name: 'memoryFailure' }>['body']): void {
    const failure = libvirtFailure(body.recipient, body.action, body.flags);
    const message = {
      libvirt: 'MEMORY_FAILURE',
      domain: { name: body.dom.name, uuid: formatUuid(body.dom.uuid), id: body.dom.id },
      recipient: body.recipient,
      action: body.action,
      flags: body.flags,
    };
    this.failures++;
    this.writer.push({
      kind: 'failure',
      vm: body.dom.name,
      failure: failure.ok ? failure.value : null,
      error: failure.ok ? null : failure.error,
      timestamp: null,
      receivedUs: nowMicros(),
      dialect: null,
      message,
      raw: JSON.stringify(message),
    });
  }

  private onLifecycle(dom: DomainRef, event: number, detail: number): void {
    const uuid = formatUuid(dom.uuid);
    const what = LIBVIRT_LIFECYCLE[event];
    if (what === 'started') {
      this.running.set(uuid, dom.name);
      this.lifecycle(dom, 'CONNECTED', {
        via: 'libvirt',
        uri: this.target.uri,
        uuid,
        event: 'started',
        detail: STARTED_DETAIL[detail] ?? detail,
      });
      return;
    }
    if (what === 'stopped') {
      this.running.delete(uuid);
      this.lifecycle(dom, 'DISCONNECTED', {
        via: 'libvirt',
        uuid,
        event: 'stopped',
        reason: STOPPED_DETAIL[detail] ?? detail,
      });
      return;
    }
    // suspended, resumed, shutdown, crashed ...: QEMU's own STOP/RESUME/SHUTDOWN/
    // GUEST_PANICKED come raw on the monitor stream; without it, record libvirt's.
    if (!this.monitorEvents && what !== undefined) {
      const kind = QMP_EQUIVALENT[what];
      if (kind !== undefined) this.lifecycle(dom, kind, { via: 'libvirt', event: what, detail });
    }
  }

  private lifecycle(
    dom: DomainRef,
    event: LifecycleKind,
    data: Readonly<Record<string, unknown>>,
  ): void {
    if (event === 'CONNECTED' || event === 'DISCONNECTED') {
      this.options.metrics?.setConnected(dom.name, event === 'CONNECTED');
    }
    // libvirt's own events carry no timestamp: the receipt time orders them.
    this.writer.push({
      kind: 'lifecycle',
      vm: dom.name,
      event,
      timestamp: null,
      receivedUs: nowMicros(),
      data,
    });
  }

  /** Every running domain: DISCONNECTED now, because the agent no longer hears it. */
  private recordGap(reason: 'libvirtd-lost' | 'agent-stopped', error: string | null): void {
    for (const [uuid, name] of this.running) {
      this.options.metrics?.setConnected(name, false);
      this.writer.push({
        kind: 'lifecycle',
        vm: name,
        event: 'DISCONNECTED',
        timestamp: null,
        receivedUs: nowMicros(),
        data: { via: 'libvirt', uuid, reason, ...(error === null ? {} : { error }) },
      });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeSleep = null;
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  private log(line: string): void {
    this.options.log?.(`libvirt ${this.target.uri}: ${line}`);
  }
}

type LibvirtRead = { ok: true; value: MemoryFailure } | { ok: false; error: string };

/**
 * libvirt's integers (virDomainMemoryFailureRecipientType, ...ActionType,
 * ...Flags) to the canonical model: the same order as QEMU's enums.
 */
export function libvirtFailure(recipient: number, action: number, flags: number): LibvirtRead {
  const r = RECIPIENTS[recipient];
  const a = ACTIONS[action];
  if (r === undefined) return { ok: false, error: `libvirt: unknown recipient ${recipient}` };
  if (a === undefined) return { ok: false, error: `libvirt: unknown action ${action}` };
  if ((flags & ~3) !== 0)
    return { ok: false, error: `libvirt: unknown flags 0x${flags.toString(16)}` };
  return {
    ok: true,
    value: {
      recipient: r,
      action: a,
      actionRequired: (flags & 1) !== 0,
      recursive: (flags & 2) !== 0,
    },
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
