/**
 * The wire: QMP framing, messages, client, server and addresses.
 *
 *   import { QmpClient, QmpServer, parseAddress } from 'memfail/qmp';
 *
 * Typed use against QEMU 7.2: `new QmpClient<QemuCommands, QemuEvents>()`
 * (see qemu-api.ts); untyped: `new QmpClient()`; against memfail's own
 * schemas: the Commands/Events maps of src/generated/{qemu,seed}.
 */

export {
  AddressError,
  type AddressErrorCode,
  formatAddress,
  MAX_UNIX_PATH_BYTES,
  parseAddress,
  type QmpAddress,
  type TcpAddress,
  tcpAddress,
  type UnixAddress,
  unixAddress,
} from './address.js';
export {
  type ConnectOptions,
  type DisconnectInfo,
  type DisconnectReason,
  QmpClient,
  type QmpClientOptions,
  type QmpEvent,
  type RunState,
} from './client.js';
export {
  isQmpErrorClass,
  QMP_ERROR_CLASSES,
  QmpCommandError,
  QmpConnectionError,
  type QmpConnectionErrorCode,
  type QmpErrorClass,
  QmpEventValidationError,
  QmpProtocolError,
  type QmpProtocolErrorCode,
} from './errors.js';
export { EventHub, type EventFilter, type StreamOptions } from './events.js';
export {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_MESSAGE_BYTES,
  type FramerLimits,
  type FramerSink,
  QmpFramer,
} from './framing.js';
export type { QemuCommands, QemuEvents } from './qemu-api.js';
export {
  type CommandArgs,
  type CommandReturns,
  type CommandSpec,
  asEvent,
  checkCommand,
  classifyServerMessage,
  type JsonObject,
  type LooseCommands,
  type LooseEvents,
  parseGreeting,
  type QmpCapability,
  type QmpCommand,
  type QmpEventMessage,
  type QmpGreeting,
  type QmpId,
  type QmpTimestamp,
  type QmpVersion,
  qmpNow,
  type ServerMessage,
} from './message.js';
export {
  type BackoffOptions,
  backoffDelay,
  type ReconnectOptions,
  type ReconnectState,
  QmpReconnector,
} from './reconnect.js';
export {
  type CommandHandler,
  DEFAULT_VERSION,
  type HandlerArgs,
  QmpServer,
  type QmpServerOptions,
  QmpSession,
  type SessionListener,
} from './server.js';
