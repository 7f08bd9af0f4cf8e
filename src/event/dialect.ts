/**
 * The two wire forms of MEMORY_FAILURE's `data` and a total mapping between
 * each of them and the canonical model.
 *
 * QEMU 5.2+ (`qemu`): `{recipient, action, flags: {action-required, recursive}}`,
 * every member required. It expresses every canonical value, so both
 * directions are exact.
 *
 * The seed patch (`seed`): `{action, flags?: {action-required?, recursive?}}`
 * with four actions that each fold a recipient into the name. Absent flags
 * (or an absent member of them) read as `false`: the seed's producer only
 * ever set a flag to say "yes", and QEMU's own later schema made the same
 * defaults explicit. Writing, we always send both flags so that nothing
 * depends on that default.
 *
 * The seed cannot say everything. Its action is chosen from the canonical
 * action alone (ignore → hypervisor-ignore, fatal → hypervisor-fatal,
 * inject → guest-mce-inject, reset → guest-mce-fatal): what happened to the VM
 * is the fact an operator acts on, so it is kept; the recipient is kept only
 * where the seed's name carries the same one. Whenever the name carries a
 * different recipient, `toWire` says so in `lossy`.
 *
 * QEMU 7.2 reaches exactly one such value: (guest, ignore, AO, recursive), an
 * action-optional error dropped because an earlier machine check was still
 * being handled. It goes out as `hypervisor-ignore` with `recursive: true`, and
 * `fromWire` reads `hypervisor-ignore` + `recursive: true` back as recipient
 * guest: QEMU never flags a hypervisor failure recursive, and the seed itself
 * documents `recursive` as "previous MCE in processing in guest". So every
 * value QEMU 7.2 can emit survives seed → canonical, and `lossy` still warns
 * that a reader who does not know this convention will see "hypervisor".
 */
import type { MemoryFailureData as QemuMemoryFailureData } from '../generated/qemu/types.js';
import { validateEvent as validateQemuEvent } from '../generated/qemu/validators.js';
import {
  type MemoryFailureAction as SeedAction,
  MemoryFailureActionValues as SEED_ACTIONS,
  type MemoryFailureData as SeedMemoryFailureData,
} from '../generated/seed/types.js';
import { validateEvent as validateSeedEvent } from '../generated/seed/validators.js';
import { type Action, ACTIONS, type Dialect, type MemoryFailure, type Recipient } from './model.js';

// The wire shapes are the schemas' (schema/memory-failure-{qemu,seed}.json),
// as generated into src/generated: one definition, checked by the generated
// validators.
export type { QemuMemoryFailureData, SeedAction, SeedMemoryFailureData };
/** The seed's four actions (recipient folded into the name), in schema order. */
export { SEED_ACTIONS };

export type WireData<D extends Dialect> = D extends 'qemu'
  ? QemuMemoryFailureData
  : SeedMemoryFailureData;

/** Why some `data` is not a MEMORY_FAILURE of a dialect: where (a JSON path) and what. */
export interface DialectError {
  readonly dialect: Dialect | null;
  /** e.g. `data.flags.recursive`. */
  readonly path: string;
  readonly message: string;
}

export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: DialectError };

/** What `toWire` produced, and, when the wire form does not literally state the canonical value, why. */
export interface Encoded<D extends Dialect> {
  readonly data: WireData<D>;
  readonly lossy?: string;
}

const SEED_FOR_ACTION: Readonly<Record<Action, SeedAction>> = {
  ignore: 'hypervisor-ignore',
  fatal: 'hypervisor-fatal',
  inject: 'guest-mce-inject',
  reset: 'guest-mce-fatal',
};

const FROM_SEED: Readonly<Record<SeedAction, { recipient: Recipient; action: Action }>> = {
  'hypervisor-ignore': { recipient: 'hypervisor', action: 'ignore' },
  'hypervisor-fatal': { recipient: 'hypervisor', action: 'fatal' },
  'guest-mce-inject': { recipient: 'guest', action: 'inject' },
  'guest-mce-fatal': { recipient: 'guest', action: 'reset' },
};

/** Write a canonical failure in a dialect. Total: every canonical value gets a wire form. */
export function toWire<D extends Dialect>(dialect: D, failure: MemoryFailure): Encoded<D>;
export function toWire(dialect: Dialect, failure: MemoryFailure): Encoded<Dialect> {
  const flags = { 'action-required': failure.actionRequired, recursive: failure.recursive };
  if (dialect === 'qemu') {
    return { data: { recipient: failure.recipient, action: failure.action, flags } };
  }
  const action = SEED_FOR_ACTION[failure.action];
  const implied = FROM_SEED[action].recipient;
  const data: SeedMemoryFailureData = { action, flags };
  if (failure.action === 'ignore' && failure.recursive) {
    // recursive ignore is reserved on the seed's wire for the guest's case.
    return failure.recipient === 'guest'
      ? {
          data,
          lossy:
            "the seed has no guest-ignore action: sent as 'hypervisor-ignore' with recursive=true, which fromWire reads back as recipient 'guest'",
        }
      : {
          data,
          lossy:
            "the seed has no recursive hypervisor ignore: 'hypervisor-ignore' with recursive=true reads back as recipient 'guest'",
        };
  }
  if (implied === failure.recipient) return { data };
  return {
    data,
    lossy: `the seed has no ${failure.recipient} '${failure.action}' action: sent as '${action}', recipient '${failure.recipient}' is lost`,
  };
}

/**
 * Read `data` of a MEMORY_FAILURE event in a known dialect, leniently: members
 * the schema does not know are ignored (as the QMP specification asks of
 * clients, so that servers may add members later); the rest must be as the
 * dialect's schema says. Never throws.
 */
export function fromWire(dialect: Dialect, data: unknown): Result<MemoryFailure> {
  const known = knownMembers(data);
  if (dialect === 'qemu') {
    const r = validateQemuEvent('MEMORY_FAILURE', known);
    return r.ok ? { ok: true, value: fromQemu(r.value) } : invalid(dialect, r.issue);
  }
  const r = validateSeedEvent('MEMORY_FAILURE', known);
  return r.ok ? { ok: true, value: fromSeed(r.value) } : invalid(dialect, r.issue);
}

/** What `readMemoryFailure` made of an event's data. */
export interface Reading {
  /** The dialect read in: the one given, else the one the shape says; null when it could not tell. */
  readonly dialect: Dialect | null;
  /** The canonical failure; also for an invalid event when its known members still read. */
  readonly failure: MemoryFailure | null;
  /** Why the data is not valid in its dialect's schema (`qemu: data...: ...`); null when valid. */
  readonly error: string | null;
}

/**
 * An event's data on its way in, validated once: strictly against the
 * dialect's schema (unknown members are errors, as in QEMU's input visitor),
 * then mapped to the canonical model. Only data that fails is read again,
 * leniently (fromWire), to keep what it still says. `dialect` null: tell it
 * from the shape.
 */
export function readMemoryFailure(data: unknown, dialect: Dialect | null = null): Reading {
  let known = dialect;
  if (known === null) {
    const detected = detectDialect(data);
    if (!detected.ok)
      return { dialect: null, failure: null, error: formatDialectError(detected.error) };
    known = detected.value;
  }
  if (known === 'qemu') {
    const r = validateQemuEvent('MEMORY_FAILURE', data);
    if (r.ok) return { dialect: known, failure: fromQemu(r.value), error: null };
    return salvage(known, data, r.message);
  }
  const r = validateSeedEvent('MEMORY_FAILURE', data);
  if (r.ok) return { dialect: known, failure: fromSeed(r.value), error: null };
  return salvage(known, data, r.message);
}

function salvage(dialect: Dialect, data: unknown, message: string): Reading {
  const lenient = fromWire(dialect, data);
  return { dialect, failure: lenient.ok ? lenient.value : null, error: `${dialect}: ${message}` };
}

/**
 * Tell the dialect from the shape of `data`: a `recipient` member, or one of
 * QEMU's four action names, means QEMU 5.2+; one of the seed's action names
 * means the seed.
 */
export function detectDialect(data: unknown): Result<Dialect> {
  if (!isObject(data)) return fail(null, 'data', `expected an object, got ${describe(data)}`);
  if ('recipient' in data) return { ok: true, value: 'qemu' };
  const action = data.action;
  if (typeof action === 'string') {
    if (isOneOf(action, ACTIONS)) return { ok: true, value: 'qemu' };
    if (isOneOf(action, SEED_ACTIONS)) return { ok: true, value: 'seed' };
  }
  return fail(
    null,
    'data.action',
    `cannot tell the dialect: expected 'recipient' or a known action, got ${describe(action)}`,
  );
}

/** Read `data` in whichever dialect its shape says. */
export function fromAnyWire(data: unknown): Result<MemoryFailure & { readonly dialect: Dialect }> {
  const dialect = detectDialect(data);
  if (!dialect.ok) return dialect;
  const failure = fromWire(dialect.value, data);
  return failure.ok ? { ok: true, value: { ...failure.value, dialect: dialect.value } } : failure;
}

function fromQemu(data: QemuMemoryFailureData): MemoryFailure {
  const { recipient, action, flags } = data;
  return {
    recipient,
    action,
    actionRequired: flags['action-required'],
    recursive: flags.recursive,
  };
}

function fromSeed(data: SeedMemoryFailureData): MemoryFailure {
  const actionRequired = data.flags?.['action-required'] ?? false;
  const recursive = data.flags?.recursive ?? false;
  const mapped = FROM_SEED[data.action];
  // See the module comment: the only recursive "ignore" QEMU emits is a guest's.
  const recipient = data.action === 'hypervisor-ignore' && recursive ? 'guest' : mapped.recipient;
  return { recipient, action: mapped.action, actionRequired, recursive };
}

/** `data` with only the members either dialect's schema knows (anything else as it is). */
function knownMembers(data: unknown): unknown {
  if (!isObject(data)) return data;
  const out: Record<string, unknown> = {};
  for (const key of ['recipient', 'action'] as const) if (key in data) out[key] = data[key];
  if ('flags' in data) {
    const flags = data.flags;
    if (isObject(flags)) {
      const known: Record<string, unknown> = {};
      for (const key of ['action-required', 'recursive'] as const)
        if (key in flags) known[key] = flags[key];
      out.flags = known;
    } else out.flags = flags;
  }
  return out;
}

function invalid<T>(
  dialect: Dialect,
  issue: { readonly path: readonly (string | number)[]; readonly reason: string },
): Result<T> {
  const path = ['data', ...issue.path.map(String)].join('.');
  return fail(dialect, path, issue.reason);
}

function fail<T>(dialect: Dialect | null, path: string, message: string): Result<T> {
  return { ok: false, error: { dialect, path, message } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOneOf<T extends string>(value: unknown, options: readonly T[]): value is T {
  return typeof value === 'string' && (options as readonly string[]).includes(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** Format a DialectError for people: `seed: data.action: expected ...`. */
export function formatDialectError(error: DialectError): string {
  return `${error.dialect ? `${error.dialect}: ` : ''}${error.path}: ${error.message}`;
}
