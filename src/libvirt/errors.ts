/**
 * The libvirt wire's errors, one type per way things go wrong, each with a
 * `code` (a literal union) so callers branch on data, not on message text.
 *
 *   try { await client.call(REMOTE.domainLookupByName, { name: 'vm1' }); }
 *   catch (e) { if (e instanceof LibvirtRemoteError && e.code === VIR_ERR_NO_DOMAIN) ... }
 */

/** Ways bytes or a packet can break the protocol. */
export type LibvirtProtocolErrorCode =
  /** An XDR value ended before its bytes did (or a packet body before its value). */
  | 'xdr-truncated'
  /** An XDR value is malformed: a bool not 0/1, an array or string over its maximum, bad padding. */
  | 'xdr-invalid'
  /** A body has bytes left over after its value. */
  | 'xdr-trailing'
  /** A packet's length word is below the 28 bytes of length + header. */
  | 'packet-too-small'
  /** A packet's length word is above the framer's maximum. */
  | 'packet-too-large'
  /** The stream ended inside a packet. */
  | 'truncated'
  /** A reply whose serial matches no call in flight. */
  | 'unknown-serial'
  /** A header we cannot act on: unknown program, type or status, a reply to no call. */
  | 'unexpected-packet';

export class LibvirtProtocolError extends Error {
  override readonly name = 'LibvirtProtocolError';
  constructor(
    readonly code: LibvirtProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * libvirt's `remote_error`: what the daemon answers a failed call with. The
 * numbers are virErrorNumber/virErrorDomain/virErrorLevel (virterror.h).
 */
export interface RemoteErrorBody {
  readonly code: number;
  readonly domain: number;
  readonly message: string | null;
  readonly level: number;
  readonly str1: string | null;
  readonly str2: string | null;
  readonly str3: string | null;
  readonly int1: number;
  readonly int2: number;
}

/** A call the daemon answered with status ERROR. */
export class LibvirtRemoteError extends Error {
  override readonly name = 'LibvirtRemoteError';
  /** virErrorNumber, e.g. 42 VIR_ERR_NO_DOMAIN. */
  readonly code: number;
  /** virErrorDomain (which part of libvirt), e.g. 10 VIR_FROM_QEMU. */
  readonly domain: number;
  constructor(
    readonly body: RemoteErrorBody,
    /** The procedure that failed. */
    readonly procedure: string,
  ) {
    super(`${procedure}: ${body.message ?? `libvirt error ${body.code}`} (code ${body.code})`);
    this.code = body.code;
    this.domain = body.domain;
  }
}

/** virErrorNumber values memfail branches on. */
export const VIR_ERR_NO_DOMAIN = 42;
export const VIR_ERR_OPERATION_INVALID = 55;
export const VIR_ERR_NO_SUPPORT = 3;

export type LibvirtConnectionErrorCode =
  | 'connect-failed'
  | 'connect-timeout'
  /** The daemon wants SASL or polkit authentication, which memfail does not speak. */
  | 'auth-unsupported'
  | 'not-connected'
  | 'disconnected'
  /** No traffic for the keepalive's count × interval: the link is dead. */
  | 'keepalive-timeout'
  | 'busy';

export class LibvirtConnectionError extends Error {
  override readonly name = 'LibvirtConnectionError';
  constructor(
    readonly code: LibvirtConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
