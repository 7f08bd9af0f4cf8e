/**
 * LibvirtClient: one connection to libvirtd's unix socket, speaking its RPC
 * protocol (the remote and QEMU programs, and keepalive).
 *
 *   const client = new LibvirtClient();
 *   await client.connect('/var/run/libvirt/libvirt-sock', { uri: 'qemu:///system' });
 *   const { domains } = await client.call(REMOTE.connectListAllDomains, { needResults: 1, flags: 0 });
 *   client.on('event', (ev) => { if (ev.name === 'memoryFailure') ... });
 *   const info = await client.closed;       // { reason: 'eof' | ..., error }
 *   await client.close();                   // CONNECT_CLOSE, then hang up
 *
 * Run state: idle → connecting → running → disconnecting → idle, as QmpClient.
 * connect() opens the socket, asks AUTH_LIST (only NONE is spoken; SASL and
 * polkit get an 'auth-unsupported' error saying what to configure) and sends
 * CONNECT_OPEN with the URI. Calls are matched to replies by serial; a reply
 * to no call in flight, a packet that does not decode, or a length out of
 * bounds is a protocol error: the client hangs up (the owner reconnects).
 *
 * Keepalive (libvirt's program 0x6b656570): the daemon's PINGs are answered
 * with PONG; when nothing arrived for an interval we PING, and after `count`
 * silent intervals the link is dead and we hang up ('keepalive-timeout').
 *
 * Every way a connection ends goes through teardown() on the socket's
 * 'close', after its last data: events received before EOF are delivered
 * before pending calls are rejected and 'disconnect' fires.
 *
 * The socket reads into one buffer of the connection's (net's `onread`), not
 * a new Buffer and a stream 'data' event per read: under a burst of events
 * that is most of the work per packet. Packets are views of that buffer
 * (see framing.ts), so every packet is decoded before the read returns.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  LibvirtConnectionError,
  LibvirtProtocolError,
  LibvirtRemoteError,
  type RemoteErrorBody,
} from './errors.js';
import { type LibvirtFramerLimits, LibvirtFramer } from './framing.js';
import {
  encodePacket,
  KEEPALIVE_PROGRAM,
  PACKET_STATUSES,
  PACKET_TYPES,
  type PacketStatus,
  PROTOCOL_VERSION,
  QEMU_PROGRAM,
  type RawHeader,
  REMOTE_PROGRAM,
} from './packet.js';
import {
  AUTH_TYPE,
  type CallSpec,
  EVENTS,
  type EventBody,
  type EventName,
  findEvent,
  REMOTE,
} from './procedures.js';
import { remoteError } from './types.js';
import { decode, encode } from './xdr.js';

export type LibvirtRunState = 'idle' | 'connecting' | 'running' | 'disconnecting';

export type LibvirtDisconnectReason =
  | 'eof'
  | 'closed'
  | 'socket-error'
  | 'protocol-error'
  | 'keepalive-timeout'
  | 'connect-timeout'
  | 'connect-failed';

export interface LibvirtDisconnectInfo {
  readonly reason: LibvirtDisconnectReason;
  readonly error: Error | null;
}

/** An event as delivered: its name in EVENTS and its decoded body. */
export type LibvirtEvent = {
  [K in EventName]: { readonly name: K; readonly body: EventBody<K> };
}[EventName];

export interface LibvirtClientOptions {
  /** Limit for socket connect + AUTH_LIST + CONNECT_OPEN (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Keepalive interval (default 5 s, as libvirt's) and silent intervals before giving up (default 5). */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCount?: number;
  readonly limits?: LibvirtFramerLimits;
  /**
   * Under a burst (reads a few `gatherMs` apart or closer), pause reading
   * for this long after each read, so that many packets come in one read:
   * a receiver of event floods spends most of its CPU on wake-ups. Delays a
   * packet by at most this much, and only while packets keep coming; a lone
   * packet is read at once. Default 0: read every packet as it comes.
   */
  readonly gatherMs?: number;
  /** Hears about MESSAGE packets of procedures memfail does not know (they are dropped). */
  readonly onUnknownMessage?: (program: number, procedure: number) => void;
}

export interface LibvirtConnectOptions {
  /** CONNECT_OPEN's URI (default qemu:///system); null lets the daemon choose. */
  readonly uri?: string | null;
}

const KEEPALIVE_PING = 1;
const KEEPALIVE_PONG = 2;

interface Pending {
  readonly name: string;
  /** Decodes the reply's body at once (it is a view of the read buffer) and settles the call. */
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

/** Bytes read from the socket at a time; a longer packet is gathered across reads. */
const READ_BUFFER_BYTES = 64 * 1024;
/**
 * With `gatherMs`: reads this many pauses apart (or closer) are one burst.
 * After a pause the next read comes `gatherMs` after the last, so a burst
 * is told by reads a few pauses apart, not by reads closer than one.
 */
const BURST_GAP_PAUSES = 4;

interface Connection {
  readonly socket: Socket;
  readonly framer: LibvirtFramer;
  readonly path: string;
  reason: LibvirtDisconnectInfo | null;
  /** Keepalive: whether anything arrived since the last tick, and silent ticks in a row. */
  sawData: boolean;
  silentIntervals: number;
  keepalive: NodeJS.Timeout | null;
  /** gatherMs: when the last read was (performance.now()), and the pause under way. */
  lastReadAt: number;
  gathering: NodeJS.Timeout | null;
  resolveClosed(info: LibvirtDisconnectInfo): void;
}

export class LibvirtClient {
  private runState: LibvirtRunState = 'idle';
  private conn: Connection | null = null;
  /** pause() holds: the connection reads nothing until resume(). */
  private readingPaused = false;
  private closedPromise: Promise<LibvirtDisconnectInfo> = new Promise(() => {});
  private nextSerial = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(ev: LibvirtEvent) => void>();
  private readonly disconnectListeners = new Set<(info: LibvirtDisconnectInfo) => void>();

  constructor(private readonly options: LibvirtClientOptions = {}) {}

  get state(): LibvirtRunState {
    return this.runState;
  }

  /** Resolves when the current connection ends (pending until the first connect). */
  get closed(): Promise<LibvirtDisconnectInfo> {
    return this.closedPromise;
  }

  /** Calls in flight (for tests and metrics). */
  get pendingCalls(): number {
    return this.pending.size;
  }

  on(type: 'event', listener: (ev: LibvirtEvent) => void): () => void;
  on(type: 'disconnect', listener: (info: LibvirtDisconnectInfo) => void): () => void;
  on(
    type: 'event' | 'disconnect',
    listener: ((ev: LibvirtEvent) => void) | ((info: LibvirtDisconnectInfo) => void),
  ): () => void {
    const set = (type === 'event' ? this.eventListeners : this.disconnectListeners) as Set<unknown>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Connects to the daemon's socket, checks authentication and opens the URI. */
  async connect(path: string, options: LibvirtConnectOptions = {}): Promise<void> {
    if (this.runState !== 'idle') {
      throw new LibvirtConnectionError('busy', `connect() while ${this.runState}`);
    }
    this.runState = 'connecting';
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const socket = netConnect({
      path,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number) => {
          conn.sawData = true;
          conn.framer.push(readBuffer.subarray(0, bytes));
          return !this.readingPaused && this.gather(conn);
        },
      },
    });
    let resolveClosed!: (info: LibvirtDisconnectInfo) => void;
    this.closedPromise = new Promise((r) => {
      resolveClosed = r;
    });
    const conn: Connection = {
      socket,
      path,
      framer: new LibvirtFramer(
        {
          packet: (header, body) => this.onPacket(conn, header, body),
          error: (err) => this.hangUp(conn, 'protocol-error', err),
        },
        this.options.limits,
      ),
      reason: null,
      sawData: false,
      silentIntervals: 0,
      keepalive: null,
      lastReadAt: Number.NEGATIVE_INFINITY,
      gathering: null,
      resolveClosed,
    };
    this.conn = conn;
    socket.on('error', (err) => {
      conn.reason ??= { reason: 'socket-error', error: err };
    });
    socket.on('close', () => this.teardown(conn));

    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(
      () =>
        this.hangUp(
          conn,
          'connect-timeout',
          new LibvirtConnectionError(
            'connect-timeout',
            `libvirtd at ${path} did not answer within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        this.closedPromise.then((info) => reject(info.error ?? new Error('connection closed')));
      });
      const { types } = await this.call(REMOTE.authList, undefined);
      checkAuth(types, path);
      const uri = options.uri === undefined ? 'qemu:///system' : options.uri;
      await this.call(REMOTE.connectOpen, { name: uri, flags: 0 });
    } catch (err) {
      const error =
        err instanceof LibvirtConnectionError && err.code !== 'disconnected'
          ? err
          : new LibvirtConnectionError(
              conn.reason?.reason === 'connect-timeout' ? 'connect-timeout' : 'connect-failed',
              `cannot connect to libvirtd at ${path}: ${(conn.reason?.error ?? (err as Error)).message}`,
              { cause: err },
            );
      this.hangUp(conn, 'connect-failed', error);
      await this.closedPromise;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.conn !== conn) {
      throw new LibvirtConnectionError(
        'connect-failed',
        `libvirtd at ${path} closed the connection after CONNECT_OPEN`,
      );
    }
    this.startKeepalive(conn);
    this.runState = 'running';
  }

  /** Runs one procedure; resolves its decoded reply, rejects with LibvirtRemoteError or a connection error. */
  call<A, R>(spec: CallSpec<A, R>, args: A): Promise<R> {
    const conn = this.conn;
    if (conn === null || conn.reason !== null || this.runState === 'disconnecting') {
      return Promise.reject(
        new LibvirtConnectionError(
          'not-connected',
          `cannot call ${spec.name}: the client is ${this.runState}`,
        ),
      );
    }
    const serial = this.nextSerial;
    this.nextSerial = (this.nextSerial + 1) >>> 0 || 1;
    const body = encode(spec.args, args);
    return new Promise<R>((resolve, reject) => {
      this.pending.set(serial, {
        name: spec.name,
        resolve: (reply) => {
          try {
            resolve(decode(spec.ret, reply));
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
      });
      conn.socket.write(
        encodePacket(
          {
            program: spec.program,
            version: PROTOCOL_VERSION,
            procedure: spec.procedure,
            type: 'call',
            serial,
            status: 'ok',
          },
          body,
        ),
      );
    });
  }

  /** Sends CONNECT_CLOSE (waiting at most `timeoutMs`), then hangs up; resolves once torn down. */
  async close(timeoutMs = 2000): Promise<void> {
    const conn = this.conn;
    if (conn === null) return;
    if (this.runState === 'running' && conn.reason === null) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.call(REMOTE.connectClose, undefined).catch(() => {}),
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.hangUp(conn, 'closed', null);
    await this.closedPromise;
  }

  private onPacket(conn: Connection, raw: RawHeader, body: Buffer): void {
    if (this.conn !== conn || conn.reason !== null) return;
    const type = PACKET_TYPES[raw.type];
    const status = PACKET_STATUSES[raw.status];
    if (type === undefined || status === undefined) {
      this.protocolError(
        conn,
        'unexpected-packet',
        `packet with unknown type ${raw.type} or status ${raw.status}`,
      );
      return;
    }
    if (raw.program === KEEPALIVE_PROGRAM) {
      if (type === 'message' && raw.procedure === KEEPALIVE_PING) {
        this.sendKeepalive(conn, KEEPALIVE_PONG);
      }
      // A PONG only proves the link is alive, which any packet does.
      return;
    }
    if (raw.program !== REMOTE_PROGRAM && raw.program !== QEMU_PROGRAM) {
      this.protocolError(
        conn,
        'unexpected-packet',
        `packet of unknown program 0x${raw.program.toString(16)}`,
      );
      return;
    }
    if (type === 'reply') {
      this.onReply(conn, raw, status, body);
      return;
    }
    if (type === 'message') {
      this.onMessage(conn, raw, body);
      return;
    }
    this.protocolError(conn, 'unexpected-packet', `the daemon sent a ${type} packet`);
  }

  private onReply(conn: Connection, raw: RawHeader, status: PacketStatus, body: Buffer): void {
    const pending = this.pending.get(raw.serial);
    if (pending === undefined) {
      this.protocolError(
        conn,
        'unknown-serial',
        `reply with serial ${raw.serial} (procedure ${raw.procedure}) matches no call in flight`,
      );
      return;
    }
    this.pending.delete(raw.serial);
    if (status === 'ok') {
      pending.resolve(body);
      return;
    }
    if (status === 'continue') {
      pending.reject(
        new LibvirtProtocolError('unexpected-packet', `${pending.name}: a stream reply`),
      );
      this.protocolError(conn, 'unexpected-packet', `${pending.name}: a stream reply (CONTINUE)`);
      return;
    }
    let error: RemoteErrorBody;
    try {
      error = decode(remoteError, body);
    } catch (err) {
      pending.reject(err as Error);
      this.hangUp(conn, 'protocol-error', err as Error);
      return;
    }
    pending.reject(new LibvirtRemoteError(error, pending.name));
  }

  private onMessage(conn: Connection, raw: RawHeader, body: Buffer): void {
    const name = findEvent(raw.program, raw.procedure);
    if (name === undefined) {
      this.options.onUnknownMessage?.(raw.program, raw.procedure);
      return;
    }
    let event: LibvirtEvent;
    try {
      event = { name, body: decode(EVENTS[name].body as never, body) } as LibvirtEvent;
    } catch (err) {
      const e = err as LibvirtProtocolError;
      this.protocolError(conn, e.code ?? 'xdr-invalid', `${EVENTS[name].name}: ${e.message}`);
      return;
    }
    for (const l of [...this.eventListeners]) l(event);
  }

  /**
   * Whether to read on at once (net's onread: false pauses the socket). With
   * `gatherMs`, a read that follows the last within a burst's gap pauses
   * reading for `gatherMs`, so that the packets sent meanwhile come in one
   * read: a wake-up per packet is most of what a packet costs.
   */
  private gather(conn: Connection): boolean {
    const pause = this.options.gatherMs ?? 0;
    if (pause <= 0) return true;
    const now = performance.now();
    const burst = now - conn.lastReadAt < pause * BURST_GAP_PAUSES;
    conn.lastReadAt = now;
    if (!burst || conn.reason !== null || conn.gathering !== null) return true;
    conn.gathering = setTimeout(() => {
      conn.gathering = null;
      if (conn.reason === null && !this.readingPaused) conn.socket.resume();
    }, pause);
    return false;
  }

  /**
   * Stops reading from the daemon (what it sends waits in the kernel, then in
   * libvirtd) until resume(); on this connection only. Replies wait too, and
   * so do libvirtd's keepalive pings: a daemon that sees no answer for its
   * keepalive interval × count closes the connection.
   */
  pause(): void {
    this.readingPaused = true;
    this.conn?.socket.pause();
  }

  /** Reads again after pause(). */
  resume(): void {
    this.readingPaused = false;
    const conn = this.conn;
    if (conn !== null && conn.gathering === null && conn.reason === null) conn.socket.resume();
  }

  private protocolError(
    conn: Connection,
    code: LibvirtProtocolError['code'],
    message: string,
  ): void {
    this.hangUp(conn, 'protocol-error', new LibvirtProtocolError(code, message));
  }

  private startKeepalive(conn: Connection): void {
    const interval = this.options.keepaliveIntervalMs ?? 5000;
    const count = this.options.keepaliveCount ?? 5;
    if (interval <= 0) return;
    conn.keepalive = setInterval(() => {
      if (conn.sawData) {
        conn.sawData = false;
        conn.silentIntervals = 0;
        return;
      }
      conn.silentIntervals++;
      if (conn.silentIntervals > count) {
        this.hangUp(
          conn,
          'keepalive-timeout',
          new LibvirtConnectionError(
            'keepalive-timeout',
            `libvirtd at ${conn.path} sent nothing for ${count} keepalive intervals of ${interval} ms`,
          ),
        );
        return;
      }
      this.sendKeepalive(conn, KEEPALIVE_PING);
    }, interval);
    conn.keepalive.unref();
  }

  private sendKeepalive(conn: Connection, procedure: number): void {
    conn.socket.write(
      encodePacket({
        program: KEEPALIVE_PROGRAM,
        version: PROTOCOL_VERSION,
        procedure,
        type: 'message',
        serial: 0,
        status: 'ok',
      }),
    );
  }

  private hangUp(conn: Connection, reason: LibvirtDisconnectReason, error: Error | null): void {
    if (this.conn !== conn) return;
    conn.reason ??= { reason, error };
    this.runState = 'disconnecting';
    conn.socket.destroy();
  }

  /** The one place a connection ends; runs on the socket's 'close', after its last data. */
  private teardown(conn: Connection): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (conn.keepalive !== null) clearInterval(conn.keepalive);
    if (conn.gathering !== null) clearTimeout(conn.gathering);
    const truncated = conn.reason === null ? conn.framer.end() : null;
    const info: LibvirtDisconnectInfo =
      conn.reason ??
      (truncated === null
        ? { reason: 'eof', error: null }
        : { reason: 'protocol-error', error: truncated });
    const why = info.error ? `${info.reason}: ${info.error.message}` : info.reason;
    for (const [serial, p] of this.pending) {
      this.pending.delete(serial);
      p.reject(
        new LibvirtConnectionError(
          'disconnected',
          `${p.name}: disconnected from libvirtd at ${conn.path} (${why})`,
          { cause: info.error ?? undefined },
        ),
      );
    }
    this.runState = 'idle';
    for (const l of [...this.disconnectListeners]) l(info);
    conn.resolveClosed(info);
  }
}

/** AUTH_LIST's answer: NONE (or an empty list) is fine; anything else needs setup memfail cannot do. */
function checkAuth(types: readonly number[], path: string): void {
  if (types.length === 0 || types.includes(AUTH_TYPE.none)) return;
  const wanted = types.map((t) =>
    t === AUTH_TYPE.sasl ? 'SASL' : t === AUTH_TYPE.polkit ? 'polkit' : `type ${t}`,
  );
  throw new LibvirtConnectionError(
    'auth-unsupported',
    `libvirtd at ${path} requires ${wanted.join(' or ')} authentication, which memfail does not speak: ` +
      'run memfail as root on the local socket, or set auth_unix_rw = "none" in libvirtd.conf ' +
      '(and limit who may open the socket with unix_sock_group / unix_sock_rw_perms)',
  );
}
