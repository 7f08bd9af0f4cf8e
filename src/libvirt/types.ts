/**
 * The XDR types of remote_protocol.x and qemu_protocol.x that memfail's
 * procedures use, as codecs (names follow the .x files without `remote_`).
 */
import { LibvirtProtocolError } from './errors.js';
import {
  array,
  type Codec,
  hyper,
  int,
  opaqueFixed,
  optional,
  string,
  struct,
  uhyper,
  uint,
} from './xdr.js';

/** REMOTE_STRING_MAX: 4 MiB. */
export const REMOTE_STRING_MAX = 4_194_304;
export const REMOTE_DOMAIN_LIST_MAX = 16_384;
export const REMOTE_AUTH_TYPE_LIST_MAX = 20;
export const VIR_UUID_BUFLEN = 16;

export const nonnullString = string(REMOTE_STRING_MAX);
/** `remote_string`: a nullable string. */
export const remoteString = optional(nonnullString);
export const uuid = opaqueFixed(VIR_UUID_BUFLEN);

/** A domain as the wire names it: `id` is -1 while it is not running. */
export interface DomainRef {
  readonly name: string;
  readonly uuid: Buffer;
  readonly id: number;
}

export const nonnullDomain: Codec<DomainRef> = struct({ name: nonnullString, uuid, id: int });
export const remoteDomain = optional(nonnullDomain);

const nonnullNetwork = struct({ name: nonnullString, uuid });

export const remoteError = struct({
  code: int,
  domain: int,
  message: remoteString,
  level: int,
  dom: remoteDomain,
  str1: remoteString,
  str2: remoteString,
  str3: remoteString,
  int1: int,
  int2: int,
  net: optional(nonnullNetwork),
});

/** The canonical text form of a domain UUID. */
export function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function parseUuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`'${text}' is not a UUID`);
  return Buffer.from(hex, 'hex');
}

export const authList = struct({ types: array(int, REMOTE_AUTH_TYPE_LIST_MAX) });
export const connectOpenArgs = struct({ name: remoteString, flags: uint });
export const listAllDomainsArgs = struct({ needResults: int, flags: uint });
export const listAllDomainsRet = struct({
  domains: array(nonnullDomain, REMOTE_DOMAIN_LIST_MAX),
  ret: uint,
});
export const lookupByNameArgs = struct({ name: nonnullString });
export const lookupByUuidArgs = struct({ uuid });
export const domainRet = struct({ dom: nonnullDomain });
export const createXmlArgs = struct({ xmlDesc: nonnullString, flags: uint });
export const domainArgs = struct({ dom: nonnullDomain });
export const getStateArgs = struct({ dom: nonnullDomain, flags: uint });
export const getStateRet = struct({ state: int, reason: int });
export const libVersionRet = struct({ libVer: uhyperAsNumber() });
export const callbackRegisterAnyArgs = struct({ eventID: int, dom: remoteDomain });
export const callbackIdRet = struct({ callbackID: int });
export const callbackIdArgs = struct({ callbackID: int });

export const lifecycleMsg = struct({
  callbackID: int,
  msg: struct({ dom: nonnullDomain, event: int, detail: int }),
});
export const rebootMsg = struct({ callbackID: int, msg: struct({ dom: nonnullDomain }) });
export const memoryFailureMsg = struct({
  callbackID: int,
  dom: nonnullDomain,
  recipient: int,
  action: int,
  flags: uint,
});

export const monitorCommandArgs = struct({ dom: nonnullDomain, cmd: nonnullString, flags: uint });
export const monitorCommandRet = struct({ result: nonnullString });
export const monitorEventRegisterArgs = struct({
  dom: remoteDomain,
  event: remoteString,
  flags: uint,
});
export const monitorEventMsg = struct({
  callbackID: int,
  dom: nonnullDomain,
  event: nonnullString,
  seconds: hyperAsNumber(),
  micros: uint,
  details: remoteString,
});

/** A hyper read as a number: libvirt's values here (seconds, versions) are far below 2^53. */
function hyperAsNumber(): Codec<number> {
  return {
    xdr: 'hyper',
    read: (r) => toSafe(hyper.read(r), 'hyper'),
    write: (w, v) => hyper.write(w, BigInt(v)),
  };
}

function uhyperAsNumber(): Codec<number> {
  return {
    xdr: 'unsigned hyper',
    read: (r) => toSafe(uhyper.read(r), 'unsigned hyper'),
    write: (w, v) => uhyper.write(w, BigInt(v)),
  };
}

function toSafe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new LibvirtProtocolError('xdr-invalid', `${what}: ${v} is beyond 2^53`);
  }
  return Number(v);
}
