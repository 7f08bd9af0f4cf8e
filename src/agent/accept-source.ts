/**
 * `memfail watch --accept ADDRESS`: the agent listens and each QEMU dials in
 * (`-chardev socket,id=mf,path=ADDRESS,reconnect=5 -mon chardev=mf,mode=control`),
 * so the agent needs no list of VMs.
 *
 * Per connection: greeting and qmp_capabilities as with any QMP server (our
 * QmpClient over the accepted socket); the VM is named from `query-name`,
 * else `query-uuid` (a non-zero UUID), else the peer (`tcp:HOST:PORT`, or
 * `unix-peer-N` for a unix socket, whose peers have no address); its dialect
 * is probed as the watcher does. Events that arrive before the name is known
 * wait for it. Then it is recorded as any watched VM (CONNECTED with how it
 * came, failures, lifecycle, DISCONNECTED) until it hangs up; QEMU's
 * `reconnect=5` brings it back as a new connection.
 *
 * A dialer that does not speak QMP (garbage, no greeting within the connect
 * timeout, oversized messages) is logged and hung up on; it costs nothing
 * else. At most `maxConnections` dialers at once (default 4096).
 *
 * While the writer's backlog is full every dialer is paused, as the
 * watcher's VMs are (see watcher.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { readMemoryFailure } from '../event/dialect.js';
import type { Dialect } from '../event/model.js';
import { formatAddress, parseAddress, type QmpAddress, tcpAddress } from '../qmp/address.js';
import { type DisconnectInfo, QmpClient, type QmpEvent } from '../qmp/client.js';
import type { LooseEvents } from '../qmp/message.js';
import { removeStaleSocket } from '../qmp/server.js';
import type { BatchWriter } from './batch.js';
import type { AgentMetrics } from './metrics.js';
import { dialectFromSchema } from './dialect-probe.js';
import { isQmpLifecycleEvent, nowMicros } from './records.js';

export interface AcceptOptions {
  /** Greeting + negotiation limit per dialer (default 10 s). */
  readonly connectTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly log?: (line: string) => void;
  /** memfail_vm_connected per named VM, while it is dialled in. */
  readonly metrics?: AgentMetrics;
}

const NULL_UUID = '00000000-0000-0000-0000-000000000000';

export class AcceptWatcher {
  private server: Server | null = null;
  private bound: QmpAddress | null = null;
  private readonly live = new Set<QmpClient>();
  private unixPeers = 0;
  private sessionCount = 0;
  private stopping = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => {
    this.resolveDone = r;
  });

  constructor(
    readonly address: QmpAddress,
    private readonly writer: BatchWriter,
    private readonly options: AcceptOptions = {},
  ) {
    writer.onBacklog((full) => {
      for (const client of this.live) {
        if (full) client.pause();
        else client.resume();
      }
    });
  }

  /** Parses ADDRESS as for NAME=ADDRESS (unix:PATH, tcp:HOST:PORT, a path). */
  static parse(text: string): QmpAddress {
    return parseAddress(text);
  }

  /** Dialers negotiated and named since start. */
  get sessions(): number {
    return this.sessionCount;
  }

  /** Dialers connected now. */
  get connected(): number {
    return this.live.size;
  }

  /** Starts listening; resolves with the bound address (the real port for tcp port 0). */
  async start(): Promise<QmpAddress> {
    const address = this.address;
    if (address.kind === 'unix') await removeStaleSocket(address.path);
    const server = createServer((socket) => this.onSocket(socket));
    server.maxConnections = this.options.maxConnections ?? 4096;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = () => {
        server.off('error', reject);
        resolve();
      };
      if (address.kind === 'unix') server.listen(address.path, ready);
      else server.listen(address.port, address.host, ready);
    });
    server.on('error', (err) => this.log(`listener: ${err.message}`));
    this.server = server;
    const info = server.address();
    this.bound =
      address.kind === 'tcp' && info !== null && typeof info === 'object'
        ? tcpAddress(address.host, info.port)
        : address;
    this.log(`listening on ${formatAddress(this.bound)} for QEMUs that dial in`);
    return this.bound;
  }

  /** Stops listening, hangs up on every dialer (recorded as agent-stopped) and waits. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      const closed = new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
      await Promise.all([...this.live].map((c) => c.close()));
      await closed;
      this.resolveDone();
    }
    await this.done;
  }

  private onSocket(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const peer =
      socket.remoteAddress !== undefined && socket.remotePort !== undefined
        ? formatAddress(tcpAddress(socket.remoteAddress, socket.remotePort))
        : `unix-peer-${++this.unixPeers}`;
    void this.watch(socket, peer).catch((err: unknown) =>
      this.log(`dialer ${peer}: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  private async watch(socket: Socket, peer: string): Promise<void> {
    const client = new QmpClient({ connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000 });
    this.live.add(client);
    if (this.writer.full) client.pause();
    let vm: string | null = null;
    let dialect: Dialect | null = null;
    const early: QmpEvent<LooseEvents>[] = [];
    client.on('event', (ev) => {
      if (vm === null) early.push(ev);
      else this.onEvent(vm, dialect, ev);
    });
    try {
      try {
        await client.connect(this.bound ?? this.address, { socket });
      } catch (err) {
        this.log(`dialer ${peer} does not speak QMP (${describe(err)}); hung up`);
        return;
      }
      const [name, schema] = await Promise.all([
        vmName(client),
        client.execute('query-qmp-schema').catch(() => null),
      ]);
      // Hung up already: nothing to record unless it sent events meanwhile
      // (a QEMU that failed and exited at once); those are kept under its name.
      if (client.state !== 'running' && early.length === 0) {
        this.log(`dialer ${peer} hung up during negotiation`);
        return;
      }
      vm = name ?? peer;
      dialect = schema === null ? null : dialectFromSchema(schema);
      this.sessionCount++;
      this.recordConnected(client, vm, peer, name !== null);
      this.options.metrics?.setConnected(vm, true);
      this.log(`${vm}: dialled in (${peer})`);
      for (const ev of early.splice(0)) this.onEvent(vm, dialect, ev);
      const info = await client.closed;
      this.recordDisconnected(vm, info);
    } finally {
      this.live.delete(client);
      socket.destroy();
    }
  }

  /** CONNECTED for a dialled-in VM: where it dialled, from which peer, and how it was named. */
  private recordConnected(client: QmpClient, vm: string, peer: string, named: boolean): void {
    const version = client.greeting?.version.qemu;
    this.writer.push({
      kind: 'lifecycle',
      vm,
      event: 'CONNECTED',
      timestamp: null,
      receivedUs: nowMicros(),
      data: {
        via: 'accept',
        address: formatAddress(this.bound ?? this.address),
        peer,
        ...(named ? {} : { named: 'peer' }),
        ...(version ? { qemu: `${version.major}.${version.minor}.${version.micro}` } : {}),
      },
    });
  }

  private recordDisconnected(vm: string, info: DisconnectInfo): void {
    const reason = this.stopping && info.reason === 'closed' ? 'agent-stopped' : info.reason;
    this.options.metrics?.setConnected(vm, false);
    this.writer.push({
      kind: 'lifecycle',
      vm,
      event: 'DISCONNECTED',
      timestamp: null,
      receivedUs: nowMicros(),
      data: { reason, ...(info.error ? { error: info.error.message } : {}) },
    });
    if (!this.stopping) {
      this.log(`${vm}: hung up (${reason}${info.error ? `: ${info.error.message}` : ''})`);
    }
  }

  private onEvent(vm: string, dialect: Dialect | null, ev: QmpEvent<LooseEvents>): void {
    const receivedUs = nowMicros();
    const timestamp =
      ev.timestamp.seconds >= 0 && ev.timestamp.microseconds >= 0 ? ev.timestamp : null;
    if (ev.event === 'MEMORY_FAILURE') {
      this.writer.push({
        kind: 'failure',
        vm,
        ...readMemoryFailure(ev.data, dialect),
        timestamp,
        receivedUs,
        message: ev as unknown as Readonly<Record<string, unknown>>,
        raw: ev.raw,
      });
      return;
    }
    if (isQmpLifecycleEvent(ev.event)) {
      this.writer.push({
        kind: 'lifecycle',
        vm,
        event: ev.event,
        timestamp,
        receivedUs,
        data: ev.data,
      });
    }
  }

  private log(line: string): void {
    this.options.log?.(`accept: ${line}`);
  }
}

/** query-name's name, else a non-zero query-uuid, else null (the caller names it by peer). */
async function vmName(client: QmpClient): Promise<string | null> {
  const named = await client.execute('query-name').catch(() => null);
  const name = isRecord(named) && typeof named.name === 'string' ? named.name : '';
  if (/^[^\s=]{1,200}$/.test(name)) return name;
  const uuid = await client.execute('query-uuid').catch(() => null);
  const text = isRecord(uuid) && typeof uuid.UUID === 'string' ? uuid.UUID : '';
  return /^[0-9a-f-]{36}$/i.test(text) && text !== NULL_UUID ? text : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
