import type { Store } from '../agent/store.js';
import type { HostHealth } from '../health/evaluate.js';
import { defaultHost, formatHealth, hostHealth } from '../health/host.js';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_JSON,
  loadPolicy,
  type Policy,
  PolicyError,
} from '../health/policy.js';
import type { HealthFlags } from './health.js';
import { openStoreFor } from './store-open.js';
import { type Io, UsageError } from './io.js';

export async function health(opts: HealthFlags, io: Io): Promise<number> {
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  if (opts.printPolicy) {
    // The built-in policy as written; a file's as read (its rules, every default filled in).
    const rules = policy.rules.map(({ state, kind, atLeast, vms, within }) => ({
      state,
      kind,
      atLeast,
      vms,
      within,
    }));
    io.stdout(
      opts.policy === undefined ? DEFAULT_POLICY_JSON : `${JSON.stringify({ rules }, null, 2)}\n`,
    );
    return 0;
  }
  const store = openStoreFor(opts.db, io);
  if (store === null) return 1;
  try {
    const verdict = hostHealth(store, policy, opts.host ?? defaultHost());
    io.stdout(opts.json ? `${JSON.stringify(verdict, null, 2)}\n` : formatHealth(verdict));
    return 0;
  } finally {
    store.close();
  }
}

/** The policy named by --policy (or the built-in one); null after printing why not. */
export function readPolicy(file: string | undefined, io: Io): Policy | null {
  if (file === undefined) return DEFAULT_POLICY;
  try {
    return loadPolicy(file);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return null;
  }
}

/**
 * `report --health`: the report's pieces with the host's verdict added — a
 * closing section in text, a `health` member in JSON (the report's last
 * piece closes its object: the member goes just before that brace).
 */
export function* withHealth(
  pieces: Iterable<string>,
  verdict: HostHealth,
  json: boolean,
): Generator<string> {
  let last: string | null = null;
  for (const piece of pieces) {
    if (last !== null) yield last;
    last = piece;
  }
  if (!json) {
    if (last !== null) yield last;
    yield `\nhost health: ${formatHealth(verdict)}`;
    return;
  }
  const body = `  "health": ${JSON.stringify(verdict, null, 2).replaceAll('\n', '\n  ')}\n}\n`;
  yield `${(last ?? '').replace(/\n}\n$/, '')},\n${body}`;
}

/** The verdict for `report --health`; a bad policy is a usage error (nothing printed yet). */
export function healthOf(store: Store, opts: { policy?: string; host?: string }): HostHealth {
  return hostHealth(store, policyFlag(opts.policy), opts.host ?? defaultHost());
}

/** `--policy FILE` (the built-in policy without it); a bad file is a usage error. */
export function policyFlag(file: string | undefined): Policy {
  if (file === undefined) return DEFAULT_POLICY;
  try {
    return loadPolicy(file);
  } catch (err) {
    if (err instanceof PolicyError) throw new UsageError(err.message);
    throw err;
  }
}
