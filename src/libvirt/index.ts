/**
 * The other wire: libvirt's RPC protocol (XDR over the daemon's unix socket).
 *
 *   import { LibvirtClient, REMOTE, QEMU } from '../libvirt/index.js';
 */
export {
  type LibvirtClientOptions,
  type LibvirtConnectOptions,
  LibvirtClient,
  type LibvirtDisconnectInfo,
  type LibvirtDisconnectReason,
  type LibvirtEvent,
  type LibvirtRunState,
} from './client.js';
export {
  LibvirtConnectionError,
  type LibvirtConnectionErrorCode,
  LibvirtProtocolError,
  type LibvirtProtocolErrorCode,
  LibvirtRemoteError,
  type RemoteErrorBody,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_OPERATION_INVALID,
} from './errors.js';
export { LibvirtFramer, type LibvirtFramerLimits, type LibvirtFramerSink } from './framing.js';
export * from './packet.js';
export * from './procedures.js';
export {
  type DomainRef,
  formatUuid,
  parseUuid,
  type TypedParam,
  type TypedParamValue,
} from './types.js';
