/**
 * QmpServer: a QMP endpoint that behaves like QEMU 7.2's monitor on the wire.
 *
 *   const server = new QmpServer({ version, oobCommands: ['x-ping'] });
 *   server.handle('query-status', async (args, session) => ({ running: true, status: 'running' }));
 *   server.handle('stop', () => { throw new QmpCommandError('GenericError', 'cannot stop'); });
 *   const bound = await server.listen('tcp:127.0.0.1:0');  // the real port in `bound`
 *   server.emit('MEMORY_FAILURE', { recipient: 'guest', ... }); // to every negotiated client
 *   await server.drained();   // all output written out (backpressure)
 *   await server.close();     // flushes every client, then closes
 *
 * Per session, as QEMU: greeting on connect; until qmp_capabilities only that
 * command runs (others get CommandNotFound "Expecting capabilities negotiation
 * with 'qmp_capabilities'") and no events are sent; the `id` is echoed;
 * in-band commands run one at a time in arrival order; `exec-oob` (once 'oob'
 * is negotiated) runs at once for commands listed in `oobCommands`.
 * Built in: qmp_capabilities, query-version, query-commands (a handler may
 * replace the last two).
 *
 * Backpressure: while a client's socket is not drained we stop reading its
 * requests; a client whose unsent output passes `maxOutputBytes` (it does not
 * read its events) is disconnected rather than buffered without bound.
 */

import { lstat, unlink } from 'node:fs/promises';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { formatAddress, parseAddress, type QmpAddress, tcpAddress } from './address.js';
import { QmpCommandError, QmpEventValidationError, type QmpProtocolError } from './errors.js';
import { type FramerLimits, QmpFramer } from './framing.js';
import {
  type CommandReturns,
  type CommandSpec,
  checkCommand,
  type LooseCommands,
  type JsonObject,
  type QmpCapability,
  type QmpCommand,
  type QmpEventMessage,
  type QmpTimestamp,
  type QmpVersion,
  qmpNow,
} from './message.js';

export type CommandHandler<Args = JsonObject, Returns = unknown> = (
  args: Args,
  session: QmpSession,
) => Returns | Promise<Returns>;

/**
 * What a handler receives: the command's arguments, always an object (QMP
 * sends {} for a command called without arguments). Not validated here: a
 * handler checks what it needs (e.g. with a generated validator).
 */
export type HandlerArgs<S> = S extends { readonly args: infer A }
  ? [Exclude<A, undefined>] extends [never]
    ? JsonObject
    : Exclude<A, undefined>
  : JsonObject;

export interface QmpServerOptions {
  /** The greeting's version (default: QEMU 7.2.0, package "memfail"). */
  readonly version?: QmpVersion;
  /** Offered in the greeting (default ['oob']). */
  readonly capabilities?: readonly QmpCapability[];
  /** Commands that may run with exec-oob. */
  readonly oobCommands?: readonly string[];
  /** Returns why an event is invalid, or null; emit() refuses invalid events. */
  readonly validateEvent?: (event: QmpEventMessage) => string | null;
  readonly limits?: FramerLimits;
  /** Unsent output per client beyond which that client is dropped (default 64 MiB). */
  readonly maxOutputBytes?: number;
  /** Event timestamps (default: the wall clock). */
  readonly clock?: () => QmpTimestamp;
  /** How long close() waits for clients to take their output (default 5 s). */
  readonly closeTimeoutMs?: number;
}

export const DEFAULT_VERSION: QmpVersion = {
  qemu: { major: 7, minor: 2, micro: 0 },
  package: 'memfail',
};

const KNOWN_CAPABILITIES: readonly string[] = ['oob'];

/** One connected client. */
export class QmpSession {
  negotiated = false;
  /** 'oob' was enabled by this client's qmp_capabilities. */
  oob = false;
  private readonly framer: QmpFramer;
  private readonly queue: QmpCommand[] = [];
  private running = false;
  private ended = false;
  readonly closed: Promise<void>;

  constructor(
    readonly id: number,
    readonly remote: string,
    private readonly socket: Socket,
    private readonly server: QmpServer<never>,
    limits: FramerLimits | undefined,
  ) {
    this.framer = new QmpFramer(
      { message: (obj) => this.onRequest(obj), error: (err) => this.onFramingError(err) },
      limits,
    );
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.framer.push(chunk));
    socket.on('drain', () => {
      if (!this.ended) socket.resume();
      this.server.sessionDrained();
    });
    socket.on('error', () => {}); // a reset client just goes away ('close' follows)
  }

  /** Bytes written but not yet taken by the client. */
  get unsentBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes one line; pauses reading requests while the client is not draining. */
  writeLine(line: string): void {
    if (this.ended || this.socket.destroyed) return;
    if (!this.socket.write(line)) this.socket.pause();
  }

  send(message: JsonObject): void {
    this.writeLine(`${JSON.stringify(message)}\r\n`);
  }

  /** Ends the session after everything written so far has been flushed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end();
  }

  /** Drops the session at once. */
  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }

  private reply(cmd: { hasId: boolean; id: unknown } | null, body: JsonObject): void {
    this.send(cmd?.hasId ? { ...body, id: cmd.id } : body);
  }

  private replyError(cmd: { hasId: boolean; id: unknown } | null, cls: string, desc: string): void {
    this.send(
      cmd?.hasId ? { id: cmd.id, error: { class: cls, desc } } : { error: { class: cls, desc } },
    );
  }

  private onFramingError(err: QmpProtocolError): void {
    const desc =
      err.code === 'not-an-object'
        ? 'QMP input must be a JSON object'
        : `JSON parse error, ${err.message}`;
    this.replyError(null, 'GenericError', desc);
  }

  private onRequest(obj: JsonObject): void {
    const checked = checkCommand(obj, this.oob);
    if ('desc' in checked) {
      const hasId = 'id' in obj;
      this.replyError({ hasId, id: obj.id }, 'GenericError', checked.desc);
      return;
    }
    if (checked.oob) {
      void this.dispatch(checked);
      return;
    }
    this.queue.push(checked);
    if (!this.running) void this.pump();
  }

  private async pump(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.ended) await this.dispatch(this.queue.shift()!);
    this.running = false;
  }

  private async dispatch(cmd: QmpCommand): Promise<void> {
    const name = cmd.name;
    if (name === 'qmp_capabilities') {
      this.negotiate(cmd);
      return;
    }
    if (!this.negotiated) {
      this.replyError(
        cmd,
        'CommandNotFound',
        "Expecting capabilities negotiation with 'qmp_capabilities'",
      );
      return;
    }
    const handler = this.server.handlerFor(name);
    if (handler === undefined) {
      this.replyError(cmd, 'CommandNotFound', `The command ${name} has not been found`);
      return;
    }
    if (cmd.oob && !this.server.allowsOob(name)) {
      this.replyError(cmd, 'GenericError', `The command ${name} does not support OOB`);
      return;
    }
    try {
      const result = await handler(cmd.args, this);
      this.reply(cmd, { return: result === undefined ? {} : result });
    } catch (err) {
      if (err instanceof QmpCommandError) this.replyError(cmd, err.rawClass, err.desc);
      else this.replyError(cmd, 'GenericError', err instanceof Error ? err.message : String(err));
    }
  }

  private negotiate(cmd: QmpCommand): void {
    if (this.negotiated) {
      this.replyError(
        cmd,
        'CommandNotFound',
        'Capabilities negotiation is already complete, command ignored',
      );
      return;
    }
    for (const key of Object.keys(cmd.args)) {
      if (key !== 'enable') {
        this.replyError(cmd, 'GenericError', `Parameter '${key}' is unexpected`);
        return;
      }
    }
    const enable = cmd.args.enable ?? [];
    if (!Array.isArray(enable)) {
      this.replyError(cmd, 'GenericError', "Invalid parameter type for 'enable', expected: array");
      return;
    }
    for (const cap of enable) {
      // QEMU's own wording for a value outside its QMPCapability enum.
      if (typeof cap !== 'string' || !KNOWN_CAPABILITIES.includes(cap)) {
        this.replyError(
          cmd,
          'GenericError',
          `Parameter 'null' does not accept value '${String(cap)}'`,
        );
        return;
      }
      if (!this.server.offers(cap)) {
        this.replyError(cmd, 'GenericError', `Capability '${cap}' not available`);
        return;
      }
    }
    this.oob = enable.includes('oob');
    this.negotiated = true;
    this.reply(cmd, { return: {} });
  }
}

export type SessionListener = (session: QmpSession) => void;

export class QmpServer<C extends { [K in keyof C]: CommandSpec } = LooseCommands> {
  private readonly handlers = new Map<string, CommandHandler<never, unknown>>();
  private readonly liveSessions = new Set<QmpSession>();
  private readonly sessionListeners = new Set<SessionListener>();
  private drainWaiters: (() => void)[] = [];
  private server: Server | null = null;
  private bound: QmpAddress | null = null;
  private nextSessionId = 1;
  private readonly greetingLine: string;

  constructor(private readonly options: QmpServerOptions = {}) {
    const greeting = {
      QMP: {
        version: options.version ?? DEFAULT_VERSION,
        capabilities: options.capabilities ?? ['oob'],
      },
    };
    this.greetingLine = `${JSON.stringify(greeting)}\r\n`;
    this.handlers.set('query-version', () => options.version ?? DEFAULT_VERSION);
    this.handlers.set('query-commands', () =>
      ['qmp_capabilities', ...this.handlers.keys()].map((name) => ({ name })),
    );
  }

  /** Registers (or replaces) a command. Throw QmpCommandError to send a QMP error. */
  handle<K extends keyof C & string>(
    name: K,
    handler: CommandHandler<HandlerArgs<C[K]>, CommandReturns<C[K]>>,
  ): this {
    this.handlers.set(name, handler as CommandHandler<never, unknown>);
    return this;
  }

  /** The address actually bound (tcp port 0 resolved), once listening. */
  get address(): QmpAddress | null {
    return this.bound;
  }

  get sessions(): readonly QmpSession[] {
    return [...this.liveSessions];
  }

  /** Called for every new client, after its greeting was written. Returns the unsubscribe function. */
  onSession(listener: SessionListener): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  /** Serves a connection made elsewhere: a QEMU-like peer that dialled out (client-mode chardev). */
  serve(socket: Socket): void {
    this.accept(socket);
  }

  async listen(target: QmpAddress | string): Promise<QmpAddress> {
    if (this.server !== null) throw new Error(`already listening on ${formatAddress(this.bound!)}`);
    const address = typeof target === 'string' ? parseAddress(target) : target;
    if (address.kind === 'unix') await removeStaleSocket(address.path);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = () => {
        server.off('error', reject);
        resolve();
      };
      if (address.kind === 'unix') server.listen(address.path, ready);
      else server.listen(address.port, address.host, ready);
    });
    this.server = server;
    const info = server.address();
    this.bound =
      address.kind === 'tcp' && info !== null && typeof info === 'object'
        ? tcpAddress(address.host, info.port)
        : address;
    return this.bound;
  }

  /**
   * Sends an event to every negotiated client, stamped with the clock.
   * Returns how many clients it was written to. Throws QmpEventValidationError
   * when the validator rejects it.
   */
  emit(name: string, data?: JsonObject): number {
    const timestamp = (this.options.clock ?? qmpNow)();
    const validate = this.options.validateEvent;
    if (validate !== undefined) {
      const reason = validate({ event: name, data: data ?? {}, timestamp });
      if (reason !== null) throw new QmpEventValidationError(name, reason);
    }
    const message: JsonObject = { timestamp, event: name };
    if (data !== undefined) message.data = data;
    const line = `${JSON.stringify(message)}\r\n`;
    const max = this.options.maxOutputBytes ?? 64 * 1024 * 1024;
    let sent = 0;
    for (const session of this.liveSessions) {
      if (!session.negotiated) continue;
      if (session.unsentBytes > max) {
        session.destroy(); // it stopped reading; buffering more would grow without bound
        continue;
      }
      session.writeLine(line);
      sent++;
    }
    return sent;
  }

  /** Resolves when no client has output waiting (use between bursts of emit()). */
  drained(): Promise<void> {
    if (this.allDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops listening, flushes every client's output, then closes them. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closing = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    const sessions = [...this.liveSessions];
    for (const s of sessions) s.end();
    const timeoutMs = this.options.closeTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([Promise.all(sessions.map((s) => s.closed)), timeout]);
    clearTimeout(timer);
    await closing;
    if (this.bound?.kind === 'unix') await unlink(this.bound.path).catch(() => {});
    this.sessionDrained();
  }

  /** @internal */
  handlerFor(name: string): CommandHandler<JsonObject, unknown> | undefined {
    return this.handlers.get(name) as CommandHandler<JsonObject, unknown> | undefined;
  }

  /** @internal */
  allowsOob(name: string): boolean {
    return this.options.oobCommands?.includes(name) ?? false;
  }

  /** @internal */
  offers(capability: string): boolean {
    return (this.options.capabilities ?? ['oob']).includes(capability as QmpCapability);
  }

  /** @internal A session's socket drained (or closed): wake drained() waiters. */
  sessionDrained(): void {
    if (this.drainWaiters.length === 0 || !this.allDrained()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private allDrained(): boolean {
    for (const s of this.liveSessions) if (s.unsentBytes > 0) return false;
    return true;
  }

  private accept(socket: Socket): void {
    const remote =
      socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
    const session = new QmpSession(
      this.nextSessionId++,
      remote,
      socket,
      this as QmpServer<never>,
      this.options.limits,
    );
    this.liveSessions.add(session);
    void session.closed.then(() => {
      this.liveSessions.delete(session);
      this.sessionDrained();
    });
    session.writeLine(this.greetingLine);
    for (const l of [...this.sessionListeners]) l(session);
  }
}

/**
 * A unix socket file left by a process that died blocks listen(). Remove it
 * only when it is a socket nobody answers on; anything else is an error.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => null);
  if (stat === null) return;
  if (!stat.isSocket()) throw new Error(`cannot listen on ${path}: it exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = netConnect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`cannot listen on ${path}: another server is listening there`);
  await unlink(path);
}
