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
  opaqueVar,
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
export const REMOTE_MIGRATE_COOKIE_MAX = 4_194_304;
export const REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX = 64;
export const REMOTE_DOMAIN_JOB_STATS_MAX = 64;
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

/**
 * `remote_typed_param_value`: a union on virTypedParameterType (1 int, 2
 * uint, 3 llong, 4 ullong, 5 double, 6 boolean, 7 string). 64-bit values
 * stay bigints: byte counts can pass 2^53.
 */
export type TypedParamValue =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'uint'; readonly value: number }
  | { readonly type: 'llong'; readonly value: bigint }
  | { readonly type: 'ullong'; readonly value: bigint }
  | { readonly type: 'double'; readonly value: number }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string };

export interface TypedParam {
  readonly field: string;
  readonly value: TypedParamValue;
}

const TYPED_PARAM_TYPES = [
  'int',
  'uint',
  'llong',
  'ullong',
  'double',
  'boolean',
  'string',
] as const;

export const typedParamValue: Codec<TypedParamValue> = {
  xdr: 'remote_typed_param_value',
  read: (r) => {
    const tag = r.int();
    const type = TYPED_PARAM_TYPES[tag - 1];
    switch (type) {
      case 'int':
        return { type, value: int.read(r) };
      case 'uint':
        return { type, value: uint.read(r) };
      case 'llong':
        return { type, value: hyper.read(r) };
      case 'ullong':
        return { type, value: uhyper.read(r) };
      case 'double':
        return { type, value: r.double() };
      case 'boolean':
        return { type, value: int.read(r) !== 0 };
      case 'string':
        return { type, value: nonnullString.read(r) };
      default:
        throw new LibvirtProtocolError('xdr-invalid', `typed parameter of unknown type ${tag}`);
    }
  },
  write: (w, v) => {
    w.int(TYPED_PARAM_TYPES.indexOf(v.type) + 1);
    switch (v.type) {
      case 'int':
        return int.write(w, v.value);
      case 'uint':
        return uint.write(w, v.value);
      case 'llong':
        return hyper.write(w, v.value);
      case 'ullong':
        return uhyper.write(w, v.value);
      case 'double':
        return w.double(v.value);
      case 'boolean':
        return w.int(v.value ? 1 : 0);
      case 'string':
        return nonnullString.write(w, v.value);
    }
  },
};

export const typedParam: Codec<TypedParam> = struct({
  field: nonnullString,
  value: typedParamValue,
});
const migrateParams = array(typedParam, REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX);
const migrateCookie = opaqueVar(REMOTE_MIGRATE_COOKIE_MAX);

export const migratePerform3ParamsArgs = struct({
  dom: nonnullDomain,
  dconnuri: remoteString,
  params: migrateParams,
  cookieIn: migrateCookie,
  flags: uint,
});
export const migratePerform3ParamsRet = struct({ cookieOut: migrateCookie });

const u64 = uhyper;
export const jobInfoRet = struct({
  type: int,
  timeElapsed: u64,
  timeRemaining: u64,
  dataTotal: u64,
  dataProcessed: u64,
  dataRemaining: u64,
  memTotal: u64,
  memProcessed: u64,
  memRemaining: u64,
  fileTotal: u64,
  fileProcessed: u64,
  fileRemaining: u64,
});
export const getJobStatsArgs = struct({ dom: nonnullDomain, flags: uint });
export const getJobStatsRet = struct({
  type: int,
  params: array(typedParam, REMOTE_DOMAIN_JOB_STATS_MAX),
});

/** A hyper read as a number: libvirt's values here (seconds, versions) are far below 2^53. */
function hyperAsNumber(): Codec<number> {
  return {
    xdr: 'hyper',
    // Two words, no BigInt: this is read for every monitor event (its seconds).
    read: (r) => {
      const high = r.int();
      const value = high * 0x1_0000_0000 + r.uint();
      if (!Number.isSafeInteger(value)) {
        throw new LibvirtProtocolError('xdr-invalid', `hyper: ${value} is beyond 2^53`);
      }
      return value;
    },
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
