/**
 * The procedures memfail uses, as one declarative table per program: number,
 * argument and reply codecs for calls; number and body codec for the events
 * (MESSAGE packets) the daemon sends. Adding a procedure is adding a line here
 * (numbers and types from remote_protocol.x / qemu_protocol.x).
 *
 *   const { domains } = await client.call(REMOTE.connectListAllDomains, { needResults: 1, flags: 0 });
 */
import { QEMU_PROGRAM, REMOTE_PROGRAM } from './packet.js';
import * as t from './types.js';
import { type Codec, none } from './xdr.js';

export interface CallSpec<A, R> {
  readonly program: number;
  readonly procedure: number;
  /** The procedure's name in the .x file, for messages. */
  readonly name: string;
  readonly args: Codec<A>;
  readonly ret: Codec<R>;
}

export interface EventSpec<M> {
  readonly program: number;
  readonly procedure: number;
  readonly name: string;
  readonly body: Codec<M>;
}

function remote<A, R>(procedure: number, name: string, args: Codec<A>, ret: Codec<R>) {
  return { program: REMOTE_PROGRAM, procedure, name, args, ret } as CallSpec<A, R>;
}

function qemu<A, R>(procedure: number, name: string, args: Codec<A>, ret: Codec<R>) {
  return { program: QEMU_PROGRAM, procedure, name, args, ret } as CallSpec<A, R>;
}

/** Calls of the remote program (0x20008086). */
export const REMOTE = {
  connectOpen: remote(1, 'CONNECT_OPEN', t.connectOpenArgs, none),
  connectClose: remote(2, 'CONNECT_CLOSE', none, none),
  domainCreateXml: remote(10, 'DOMAIN_CREATE_XML', t.createXmlArgs, t.domainRet),
  domainDestroy: remote(12, 'DOMAIN_DESTROY', t.domainArgs, none),
  domainLookupByName: remote(23, 'DOMAIN_LOOKUP_BY_NAME', t.lookupByNameArgs, t.domainRet),
  domainLookupByUuid: remote(24, 'DOMAIN_LOOKUP_BY_UUID', t.lookupByUuidArgs, t.domainRet),
  domainResume: remote(28, 'DOMAIN_RESUME', t.domainArgs, none),
  authList: remote(66, 'AUTH_LIST', none, t.authList),
  connectGetLibVersion: remote(157, 'CONNECT_GET_LIB_VERSION', none, t.libVersionRet),
  domainGetJobInfo: remote(163, 'DOMAIN_GET_JOB_INFO', t.domainArgs, t.jobInfoRet),
  domainAbortJob: remote(164, 'DOMAIN_ABORT_JOB', t.domainArgs, none),
  domainGetState: remote(212, 'DOMAIN_GET_STATE', t.getStateArgs, t.getStateRet),
  connectListAllDomains: remote(
    273,
    'CONNECT_LIST_ALL_DOMAINS',
    t.listAllDomainsArgs,
    t.listAllDomainsRet,
  ),
  domainGetJobStats: remote(298, 'DOMAIN_GET_JOB_STATS', t.getJobStatsArgs, t.getJobStatsRet),
  domainMigratePerform3Params: remote(
    305,
    'DOMAIN_MIGRATE_PERFORM3_PARAMS',
    t.migratePerform3ParamsArgs,
    t.migratePerform3ParamsRet,
  ),
  connectDomainEventCallbackRegisterAny: remote(
    316,
    'CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY',
    t.callbackRegisterAnyArgs,
    t.callbackIdRet,
  ),
  connectDomainEventCallbackDeregisterAny: remote(
    317,
    'CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY',
    t.callbackIdArgs,
    none,
  ),
} as const;

/** Calls of the QEMU program (0x20008087). */
export const QEMU = {
  domainMonitorCommand: qemu(
    1,
    'DOMAIN_MONITOR_COMMAND',
    t.monitorCommandArgs,
    t.monitorCommandRet,
  ),
  connectDomainMonitorEventRegister: qemu(
    4,
    'CONNECT_DOMAIN_MONITOR_EVENT_REGISTER',
    t.monitorEventRegisterArgs,
    t.callbackIdRet,
  ),
  connectDomainMonitorEventDeregister: qemu(
    5,
    'CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER',
    t.callbackIdArgs,
    none,
  ),
} as const;

/** The events memfail registers for, by the name it handles them under. */
export const EVENTS = {
  lifecycle: {
    program: REMOTE_PROGRAM,
    procedure: 318,
    name: 'DOMAIN_EVENT_CALLBACK_LIFECYCLE',
    body: t.lifecycleMsg,
  },
  reboot: {
    program: REMOTE_PROGRAM,
    procedure: 319,
    name: 'DOMAIN_EVENT_CALLBACK_REBOOT',
    body: t.rebootMsg,
  },
  memoryFailure: {
    program: REMOTE_PROGRAM,
    procedure: 423,
    name: 'DOMAIN_EVENT_MEMORY_FAILURE',
    body: t.memoryFailureMsg,
  },
  monitorEvent: {
    program: QEMU_PROGRAM,
    procedure: 6,
    name: 'DOMAIN_MONITOR_EVENT',
    body: t.monitorEventMsg,
  },
} as const satisfies Record<string, EventSpec<unknown>>;

export type EventName = keyof typeof EVENTS;
export type EventBody<K extends EventName> =
  (typeof EVENTS)[K] extends EventSpec<infer M> ? M : never;

/** virDomainEventID values for CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY. */
export const DOMAIN_EVENT_ID = { lifecycle: 0, reboot: 1, memoryFailure: 25 } as const;

/** Which event (by name in EVENTS) each registrable event id arrives as. */
export const EVENT_FOR_ID = { 0: 'lifecycle', 1: 'reboot', 25: 'memoryFailure' } as const;

/** AUTH_LIST's answer (remote_auth_type). */
export const AUTH_TYPE = { none: 0, sasl: 1, polkit: 2 } as const;

/** CONNECT_DOMAIN_MONITOR_EVENT_REGISTER's flag: `event` is a regular expression. */
export const MONITOR_EVENT_REGEX = 1;

/** qemu-monitor-command's flag: the command is HMP text, not QMP JSON. */
export const MONITOR_COMMAND_HMP = 1;

/** virDomainMigrateFlags (libvirt-domain.h) memfail uses. */
export const MIGRATE = {
  live: 1 << 0,
  peer2peer: 1 << 1,
  tunnelled: 1 << 2,
  persistDest: 1 << 3,
  undefineSource: 1 << 4,
  abortOnError: 1 << 12,
} as const;

/** VIR_MIGRATE_PARAM_* typed-parameter names. */
export const MIGRATE_PARAM = {
  /** The hypervisor's own migration URI on the destination (tcp://…, unix:///…). */
  uri: 'migrate_uri',
  /** MiB/s (ullong). */
  bandwidth: 'bandwidth',
} as const;

/** virDomainJobType (DOMAIN_GET_JOB_INFO / _STATS). */
export const JOB_TYPES = [
  'none',
  'bounded',
  'unbounded',
  'completed',
  'failed',
  'cancelled',
] as const;
export type JobType = (typeof JOB_TYPES)[number];

export function jobType(n: number): JobType | 'unknown' {
  return JOB_TYPES[n] ?? 'unknown';
}

/** DOMAIN_GET_JOB_STATS's flag: the stats of the job that just completed. */
export const JOB_STATS_COMPLETED = 1;

/** virDomainState (DOMAIN_GET_STATE). */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

export function domainState(n: number): DomainState | 'unknown' {
  return DOMAIN_STATES[n] ?? 'unknown';
}

/** EVENTS by program, then procedure: looked up for every MESSAGE packet. */
const EVENT_BY_NUMBER = new Map<number, Map<number, EventName>>();
for (const [name, spec] of Object.entries(EVENTS)) {
  const procedures = EVENT_BY_NUMBER.get(spec.program) ?? new Map<number, EventName>();
  procedures.set(spec.procedure, name as EventName);
  EVENT_BY_NUMBER.set(spec.program, procedures);
}

/** Finds an event spec by its header words; undefined for a procedure memfail does not know. */
export function findEvent(program: number, procedure: number): EventName | undefined {
  return EVENT_BY_NUMBER.get(program)?.get(procedure);
}
