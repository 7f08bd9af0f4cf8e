/**
 * QmpClient: one QMP connection at a time (unix or tcp), greeting, capability
 * negotiation, commands, events.
 *
 *   const client = new QmpClient({ oob: true, validateEvent: (ev) => null });
 *   const greeting = await client.connect('unix:/run/vm1.qmp'); // greeting + qmp_capabilities
 *   const status = await client.execute('query-status');        // rejects with QmpCommandError
 *   const off = client.on('event', (ev) => ..., { names: ['MEMORY_FAILURE'] });
 *   for await (const ev of client.events({ names: ['STOP'] })) ...  // ends at disconnect
 *   const info = await client.closed;   // { reason: 'eof' | ..., error }
 *   await client.close();
 *
 * Run state: idle → connecting → running → disconnecting → idle; a client can
 * connect again once idle. Every way a connection ends (EOF, socket error,
 * protocol error, close(), connect failure or timeout) goes through teardown(),
 * which runs after the socket has delivered its last byte: every message
 * received before EOF is dispatched before pending commands are rejected,
 * streams end and 'disconnect' fires.
 *
 * A write the peer can no longer take (EPIPE, ECONNRESET: a VM exiting as we
 * send it a command) does not end the connection: Node would destroy the
 * socket and drop what the peer sent just before, such as the fatal
 * MEMORY_FAILURE a dying VM reports. The client reads on to EOF instead
 * and delivers everything; commands sent after the failure fail at once,
 * those still pending fail when the connection ends, and the close (reason
 * 'eof') carries the write error.
 *
 * pause() stops reading once connected (the peer's output waits in the
 * kernel, then in the peer: QEMU buffers its monitor output), until resume();
 * it holds across reconnects. Greeting and negotiation are always read.
 *
 * Invalid events (validateEvent returns a reason) are still delivered, on the
 * same channel, as `{ ...event, invalid: reason }`.
 *
 * Every delivered event carries `raw`, the exact text the server sent for it
 * (see QmpEvent): the parsed object is the event itself, with `raw` added.
 *
 * Typed use: QmpClient<Commands, Events> where Commands maps a command name to
 * `{ args, returns }` and Events maps an event name to its data type.
 */

import { connect as netConnect, type Socket } from 'node:net';
import { formatAddress, parseAddress, type QmpAddress } from './address.js';
import { QmpCommandError, QmpConnectionError, QmpProtocolError } from './errors.js';
import { EventHub, type EventFilter, type StreamOptions } from './events.js';
import { type FramerLimits, QmpFramer } from './framing.js';
import {
  type CommandArgs,
  type CommandReturns,
  type CommandSpec,
  asEvent,
  classifyServerMessage,
  type JsonObject,
  type LooseCommands,
  type LooseEvents,
  type QmpEventMessage,
  type QmpGreeting,
  type QmpTimestamp,
  type ServerMessage,
} from './message.js';

export type RunState = 'idle' | 'connecting' | 'running' | 'disconnecting';

/** An event as delivered: typed by name; `invalid` set when the validator objected. */
export type QmpEvent<E, K extends keyof E & string = keyof E & string> = K extends unknown
  ? {
      readonly event: K;
      readonly data: E[K];
      readonly timestamp: QmpTimestamp;
      readonly invalid?: string;
      /**
       * The exact JSON text of the message as received (the server's spacing
       * and member order), without the line terminator or surrounding
       * whitespace. Absent only for events not built from received bytes.
       */
      readonly raw?: string;
    }
  : never;

export type DisconnectReason =
  /** The server closed the connection. */
  | 'eof'
  /** close() was called. */
  | 'closed'
  | 'socket-error'
  /** The server broke the protocol (bad JSON, bad greeting, ...); we hung up. */
  | 'protocol-error'
  | 'connect-timeout'
  | 'aborted';

export interface DisconnectInfo {
  readonly reason: DisconnectReason;
  readonly error: Error | null;
  /** The stream ended in the middle of a message. */
  readonly truncated: boolean;
}

export interface QmpClientOptions {
  /** Limit for connect + greeting + negotiation (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Send qmp_capabilities after the greeting (default true). */
  readonly negotiate?: boolean;
  /** Enable out-of-band execution when the server offers it (default false). */
  readonly oob?: boolean;
  /** Returns why an event is invalid, or null; invalid events are flagged, not dropped. */
  readonly validateEvent?: (event: QmpEventMessage) => string | null;
  readonly limits?: FramerLimits;
  /**
   * Hears an event that is not a well-formed QMP event (an `event` member,
   * but no {seconds, microseconds} timestamp, or data that is not an
   * object). Without it such a message is a protocol error that ends the
   * connection; with it the message is handed over and the connection kept.
   */
  readonly onMalformedEvent?: (message: JsonObject, text: string, error: QmpProtocolError) => void;
}

export interface ConnectOptions {
  readonly signal?: AbortSignal;
  /**
   * A connection made elsewhere to speak over instead of dialling `target`
   * (which then only names the peer): a QEMU that dialled us, as with a
   * client-mode `-chardev socket`.
   */
  readonly socket?: Socket;
}

interface Pending {
  readonly command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** One connection's private state; replaced on every connect(). */
interface Connection {
  readonly socket: Socket;
  readonly framer: QmpFramer;
  readonly address: QmpAddress;
  greeting: QmpGreeting | null;
  onGreeting: ((g: QmpGreeting) => void) | null;
  /** Why we are hanging up, set before the socket is destroyed. */
  reason: { reason: DisconnectReason; error: Error | null } | null;
  /** The first write the peer could not take; reading goes on to EOF. */
  writeError: Error | null;
  resolveClosed(info: DisconnectInfo): void;
}

type Listeners = {
  event: (ev: never) => void;
  disconnect: (info: DisconnectInfo) => void;
  state: (state: RunState) => void;
};

export class QmpClient<C extends { [K in keyof C]: CommandSpec } = LooseCommands, E = LooseEvents> {
  private runState: RunState = 'idle';
  private conn: Connection | null = null;
  private closedPromise: Promise<DisconnectInfo>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly hub = new EventHub<QmpEvent<E>>();
  private readonly disconnectListeners = new Set<(info: DisconnectInfo) => void>();
  private readonly stateListeners = new Set<(state: RunState) => void>();
  private currentGreeting: QmpGreeting | null = null;
  private enabled: readonly string[] = [];
  private readingPaused = false;

  constructor(private readonly options: QmpClientOptions = {}) {
    this.closedPromise = new Promise(() => {});
  }

  get state(): RunState {
    return this.runState;
  }

  /** The greeting of the current (or last) connection. */
  get greeting(): QmpGreeting | null {
    return this.currentGreeting;
  }

  /** Whether pause() holds (see resume()). */
  get paused(): boolean {
    return this.readingPaused;
  }

  /**
   * Stops reading from the server once connected (now, or when the next
   * connection is made), until resume(): what it sends meanwhile waits on
   * its side. Replies wait too, so pending commands wait; so does EOF.
   */
  pause(): void {
    this.readingPaused = true;
    if (this.conn !== null && this.runState === 'running') this.conn.socket.pause();
  }

  /** Reads again after pause(). */
  resume(): void {
    this.readingPaused = false;
    if (this.conn !== null) this.conn.socket.resume();
  }

  /** Capabilities enabled by negotiation on the current connection. */
  get capabilities(): readonly string[] {
    return this.enabled;
  }

  /** Resolves when the current connection ends (pending until the first connect). */
  get closed(): Promise<DisconnectInfo> {
    return this.closedPromise;
  }

  /** Connects, reads the greeting and (unless disabled) negotiates capabilities. */
  async connect(target: QmpAddress | string, options: ConnectOptions = {}): Promise<QmpGreeting> {
    if (this.runState !== 'idle') {
      throw new QmpConnectionError('busy', `connect() while ${this.runState}`);
    }
    const address = typeof target === 'string' ? parseAddress(target) : target;
    const where = formatAddress(address);
    if (options.signal?.aborted)
      throw new QmpConnectionError('aborted', `connect to ${where} aborted`);
    this.setState('connecting');
    const conn = this.open(address, options.socket);
    const onAbort = () =>
      this.hangUp(
        conn,
        'aborted',
        new QmpConnectionError('aborted', `connect to ${where} aborted`),
      );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // One limit for the greeting and the negotiation together.
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(
      () =>
        this.hangUp(
          conn,
          'connect-timeout',
          new QmpConnectionError(
            'connect-timeout',
            `no QMP greeting from ${where} within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    try {
      const greeting = await this.greetingOf(conn, where);
      if (this.options.negotiate !== false) await this.negotiate(conn, greeting, where);
      if (this.conn !== conn) {
        // Torn down between the last reply and now (the server hung up at once).
        throw new QmpConnectionError(
          'connect-failed',
          `${where} closed the connection during negotiation`,
        );
      }
      this.setState('running');
      if (this.readingPaused) conn.socket.pause();
      return greeting;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A new socket to `address` and the connection state around it (the current one from now). */
  private open(address: QmpAddress, accepted?: Socket): Connection {
    const socket =
      accepted ??
      (address.kind === 'unix'
        ? netConnect({ path: address.path })
        : netConnect({ host: address.host, port: address.port }));
    let resolveClosed!: (info: DisconnectInfo) => void;
    this.closedPromise = new Promise((r) => {
      resolveClosed = r;
    });
    const conn: Connection = {
      socket,
      address,
      framer: new QmpFramer(
        {
          message: (obj, text) => this.onMessage(conn, obj, text),
          error: (err) => this.hangUp(conn, 'protocol-error', err),
        },
        this.options.limits,
      ),
      greeting: null,
      onGreeting: null,
      reason: null,
      writeError: null,
      resolveClosed,
    };
    this.conn = conn;
    this.currentGreeting = null;
    this.enabled = [];
    keepReadingWhenPeerGone(socket, (err) => {
      conn.writeError ??= err;
    });
    socket.on('data', (chunk: Buffer) => conn.framer.push(chunk));
    socket.on('error', (err) => {
      conn.reason ??= { reason: 'socket-error', error: err };
    });
    socket.on('close', () => this.teardown(conn));
    return conn;
  }

  /** The server's greeting; rejects with why when the connection ends first. */
  private greetingOf(conn: Connection, where: string): Promise<QmpGreeting> {
    return new Promise<QmpGreeting>((resolve, reject) => {
      conn.onGreeting = resolve;
      this.closedPromise.then((info) =>
        reject(
          new QmpConnectionError(
            info.reason === 'connect-timeout'
              ? 'connect-timeout'
              : info.reason === 'aborted' || info.reason === 'closed'
                ? 'aborted'
                : 'connect-failed',
            `cannot connect to ${where}: ${info.error?.message ?? 'connection closed before the greeting'}`,
            { cause: info.error ?? undefined },
          ),
        ),
      );
    });
  }

  /** qmp_capabilities, with oob when asked for and offered; hangs up when it fails. */
  private async negotiate(conn: Connection, greeting: QmpGreeting, where: string): Promise<void> {
    const enable = this.options.oob && greeting.capabilities.includes('oob') ? ['oob'] : [];
    try {
      await this.send(conn, 'qmp_capabilities', false, enable.length > 0 ? { enable } : undefined);
    } catch (err) {
      const cause = err instanceof Error ? err : new Error(String(err));
      const failure = new QmpConnectionError(
        err instanceof QmpCommandError
          ? 'negotiation-failed'
          : conn.reason?.reason === 'connect-timeout'
            ? 'connect-timeout'
            : 'connect-failed',
        `capability negotiation with ${where} failed: ${cause.message}`,
        { cause },
      );
      this.hangUp(conn, 'protocol-error', failure);
      throw failure;
    }
    this.enabled = enable;
  }

  /** Runs a command; resolves its `return`, rejects with QmpCommandError or QmpConnectionError. */
  execute<K extends keyof C & string>(
    name: K,
    ...args: CommandArgs<C[K]>
  ): Promise<CommandReturns<C[K]>> {
    return this.run(name, false, args[0]);
  }

  /** Runs a command out of band (needs the 'oob' capability: QmpClientOptions.oob). */
  executeOob<K extends keyof C & string>(
    name: K,
    ...args: CommandArgs<C[K]>
  ): Promise<CommandReturns<C[K]>> {
    return this.run(name, true, args[0]);
  }

  /** Listens for events (optionally by name). Returns the unsubscribe function. */
  on(
    type: 'event',
    listener: (ev: QmpEvent<E>) => void,
    filter?: EventFilter<keyof E & string>,
  ): () => void;
  on(type: 'disconnect', listener: (info: DisconnectInfo) => void): () => void;
  on(type: 'state', listener: (state: RunState) => void): () => void;
  on<T extends keyof Listeners>(
    type: T,
    listener: ((ev: QmpEvent<E>) => void) | Listeners[T],
    filter?: EventFilter<keyof E & string>,
  ): () => void {
    if (type === 'event')
      return this.hub.subscribe(listener as (ev: QmpEvent<E>) => void, filter?.names);
    const set = (
      type === 'disconnect' ? this.disconnectListeners : this.stateListeners
    ) as Set<unknown>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Events as an async iterator, from this call on, ending (after what was
   * received) when the connection ends, on `signal`, or on `break`.
   */
  events(
    options: StreamOptions<keyof E & string> = {},
  ): AsyncIterableIterator<QmpEvent<E>, undefined> {
    return this.hub.stream(options);
  }

  /** Hangs up; resolves once the connection is torn down. No-op when idle. */
  async close(): Promise<void> {
    const conn = this.conn;
    if (conn === null) return;
    this.hangUp(conn, 'closed', null);
    await this.closedPromise;
  }

  private async run(name: string, oob: boolean, args: unknown): Promise<never> {
    const conn = this.conn;
    if (conn === null || this.runState !== 'running') {
      throw new QmpConnectionError(
        'not-connected',
        `cannot run ${name}: the client is ${this.runState}`,
      );
    }
    if (oob && !this.enabled.includes('oob')) {
      throw new QmpConnectionError(
        'not-connected',
        `cannot run ${name} out of band: 'oob' was not negotiated`,
      );
    }
    return this.send(conn, name, oob, args) as Promise<never>;
  }

  private send(conn: Connection, name: string, oob: boolean, args: unknown): Promise<unknown> {
    if (conn.writeError !== null) {
      return Promise.reject(
        new QmpConnectionError(
          'disconnected',
          `${name}: cannot write to ${formatAddress(conn.address)} (${conn.writeError.message}); the peer has gone`,
          { cause: conn.writeError },
        ),
      );
    }
    const id = this.nextId++;
    const request: JsonObject = oob ? { 'exec-oob': name } : { execute: name };
    if (args !== undefined) request.arguments = args;
    request.id = id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { command: name, resolve, reject });
      conn.socket.write(`${JSON.stringify(request)}\n`);
    });
  }

  private onMessage(conn: Connection, obj: JsonObject, text: string): void {
    // Once we decided to hang up, the rest of the read is not trusted.
    if (this.conn !== conn || conn.reason !== null) return;
    if (conn.greeting !== null) {
      // Hot path: events skip the general classification.
      const event = asEvent(obj);
      if (event instanceof QmpProtocolError) {
        const onMalformed = this.options.onMalformedEvent;
        if (onMalformed !== undefined) onMalformed(obj, text, event);
        else this.hangUp(conn, 'protocol-error', event);
        return;
      }
      if (event !== null) {
        this.deliver(event, text);
        return;
      }
    }
    const msg = classifyServerMessage(obj);
    if (msg instanceof QmpProtocolError) {
      this.hangUp(conn, 'protocol-error', msg);
      return;
    }
    if (conn.greeting === null && msg.kind !== 'greeting') {
      this.hangUp(
        conn,
        'protocol-error',
        new QmpProtocolError(
          'bad-greeting',
          `expected the QMP greeting first, got a ${msg.kind} message`,
        ),
      );
      return;
    }
    switch (msg.kind) {
      case 'event': {
        this.deliver(msg.event, text);
        return;
      }
      case 'greeting':
        this.onGreetingMessage(conn, msg.greeting);
        return;
      case 'return':
      case 'error':
        this.onReply(conn, msg);
        return;
    }
  }

  private onGreetingMessage(conn: Connection, greeting: QmpGreeting): void {
    if (conn.greeting !== null) {
      this.hangUp(
        conn,
        'protocol-error',
        new QmpProtocolError('unexpected-message', 'a second greeting'),
      );
      return;
    }
    conn.greeting = greeting;
    this.currentGreeting = greeting;
    conn.onGreeting?.(greeting);
  }

  /** A command's reply settles its pending execute(). */
  private onReply(
    conn: Connection,
    msg: Extract<ServerMessage, { kind: 'return' | 'error' }>,
  ): void {
    if (msg.id === undefined) {
      // We always send ids: an id-less reply means the server could not read our request.
      const desc = msg.kind === 'error' ? msg.desc : 'a return without id';
      this.hangUp(
        conn,
        'protocol-error',
        new QmpProtocolError('unexpected-message', `server reply without id: ${desc}`),
      );
      return;
    }
    const pending = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (pending === undefined) return; // QEMU's qmp-spec.txt: drop replies with unknown ids
    this.pending.delete(msg.id as number);
    if (msg.kind === 'return') pending.resolve(msg.value);
    else pending.reject(new QmpCommandError(msg.errorClass, msg.desc, pending.command));
  }

  private deliver(event: QmpEventMessage, text: string): void {
    const validate = this.options.validateEvent;
    let ev = event as unknown as QmpEvent<E>;
    if (validate !== undefined) {
      let invalid: string | null;
      try {
        invalid = validate(event);
      } catch (err) {
        invalid = `validator failed: ${(err as Error).message}`;
      }
      if (invalid !== null) ev = { ...ev, invalid };
    }
    // Added after validation, so that a validator sees only what the server sent.
    (ev as { raw?: string }).raw = text;
    this.hub.dispatch(ev);
  }

  /** Starts hanging up: records why and destroys the socket; teardown() follows on 'close'. */
  private hangUp(conn: Connection, reason: DisconnectReason, error: Error | null): void {
    if (this.conn !== conn) return;
    conn.reason ??= { reason, error };
    if (this.runState !== 'disconnecting') this.setState('disconnecting');
    // Nothing more from this peer is wanted after a protocol error or close().
    conn.socket.destroy();
  }

  /** The one place a connection ends; runs on the socket's 'close', after its last 'data'. */
  private teardown(conn: Connection): void {
    if (this.conn !== conn) return;
    this.conn = null; // first, so that nothing below can re-enter hangUp() for this connection
    const truncated = conn.reason === null && conn.framer.end() !== null;
    if (this.runState !== 'disconnecting') this.setState('disconnecting');
    // After a failed write the peer hung up first; its EOF was read to the end.
    const { reason, error } = conn.reason ?? { reason: 'eof' as const, error: conn.writeError };
    const info: DisconnectInfo = { reason, error, truncated };
    const why = error ? `${reason}: ${error.message}` : reason;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(
        new QmpConnectionError(
          'disconnected',
          `${p.command}: disconnected from ${formatAddress(conn.address)} (${why})`,
          {
            cause: error ?? undefined,
          },
        ),
      );
    }
    this.hub.endStreams();
    this.setState('idle');
    for (const l of [...this.disconnectListeners]) l(info);
    conn.resolveClosed(info);
  }

  private setState(state: RunState): void {
    this.runState = state;
    for (const l of [...this.stateListeners]) l(state);
  }
}

/** Write errors that say the peer closed its end, not that this socket is broken. */
const PEER_GONE: ReadonlySet<string> = new Set(['EPIPE', 'ECONNRESET']);

/**
 * Keeps `socket` readable after a write the peer could not take. Node marks
 * a duplex stream errored on any write error, which stops its reading and
 * closes the handle with the peer's last bytes unread; this hands such an
 * error to `onPeerGone` instead and reports the write as done, so that the
 * socket reads on to the peer's EOF. (The bytes are lost either way: the
 * peer closed its end.)
 */
function keepReadingWhenPeerGone(socket: Socket, onPeerGone: (err: Error) => void): void {
  type Done = (error?: Error | null) => void;
  const filter =
    (done: Done): Done =>
    (error) => {
      const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
      if (error && code !== undefined && PEER_GONE.has(code)) {
        onPeerGone(error);
        done(null);
      } else done(error);
    };
  const write = socket._write.bind(socket);
  socket._write = (chunk, encoding, done) => write(chunk, encoding, filter(done));
  const writev = socket._writev?.bind(socket);
  if (writev !== undefined) socket._writev = (chunks, done) => writev(chunks, filter(done));
}
