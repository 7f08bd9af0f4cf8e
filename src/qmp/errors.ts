/**
 * The wire's errors, one type per way things go wrong; each carries a `code`
 * (a literal union) so callers branch on data, not on message text.
 *
 *   try { await client.execute('cont'); }
 *   catch (e) { if (e instanceof QmpCommandError && e.errorClass === 'CommandNotFound') ... }
 */

/** The error classes QEMU 7.2 sends in `{"error": {"class": ...}}` (qapi/error.json). */
export type QmpErrorClass =
  | 'GenericError'
  | 'CommandNotFound'
  | 'DeviceNotActive'
  | 'DeviceNotFound'
  | 'KVMMissingCap';

export const QMP_ERROR_CLASSES: readonly QmpErrorClass[] = [
  'GenericError',
  'CommandNotFound',
  'DeviceNotActive',
  'DeviceNotFound',
  'KVMMissingCap',
];

export function isQmpErrorClass(value: unknown): value is QmpErrorClass {
  return typeof value === 'string' && (QMP_ERROR_CLASSES as readonly string[]).includes(value);
}

/**
 * A command answered with `{"error": ...}`. Thrown by QmpClient.execute, and
 * thrown by QmpServer command handlers to send exactly this error back.
 */
export class QmpCommandError extends Error {
  override readonly name = 'QmpCommandError';
  /**
   * The class as a known literal. A class outside QEMU 7.2's list (a newer or
   * downstream server) reads as GenericError here; `rawClass` keeps what was sent.
   */
  readonly errorClass: QmpErrorClass;
  readonly rawClass: string;
  constructor(
    errorClass: QmpErrorClass | string,
    readonly desc: string,
    /** The command that failed ('' when unknown, e.g. a server-side handler error). */
    readonly command = '',
  ) {
    super(command ? `${command}: ${desc} (${errorClass})` : `${desc} (${errorClass})`);
    this.rawClass = errorClass;
    this.errorClass = isQmpErrorClass(errorClass) ? errorClass : 'GenericError';
  }
}

/** Ways a byte stream or a message can break the protocol. */
export type QmpProtocolErrorCode =
  /** One message is larger than the framer's limit (default 64 MiB). */
  | 'message-too-large'
  /** Objects/arrays nested deeper than the framer's limit (default 1024). */
  | 'too-deeply-nested'
  /** The bytes do not form JSON (or contain a control character: a resync). */
  | 'invalid-json'
  /** Valid JSON, but the top-level value is not an object. */
  | 'not-an-object'
  /** The stream ended inside a message. */
  | 'truncated'
  /** The first message from a server was not `{"QMP": {...}}`. */
  | 'bad-greeting'
  /** A JSON object that is no QMP message, or one that makes no sense now. */
  | 'unexpected-message';

export class QmpProtocolError extends Error {
  override readonly name = 'QmpProtocolError';
  constructor(
    readonly code: QmpProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Connection-level failures: could not connect, or the connection went away. */
export type QmpConnectionErrorCode =
  | 'connect-failed'
  | 'connect-timeout'
  | 'negotiation-failed'
  | 'not-connected'
  | 'disconnected'
  | 'aborted'
  | 'busy';

export class QmpConnectionError extends Error {
  override readonly name = 'QmpConnectionError';
  constructor(
    readonly code: QmpConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** QmpServer.emit() refused an event its validator rejected (a bug in the emitting code). */
export class QmpEventValidationError extends Error {
  override readonly name = 'QmpEventValidationError';
  constructor(
    readonly event: string,
    readonly reason: string,
  ) {
    super(`refusing to emit invalid ${event} event: ${reason}`);
  }
}
