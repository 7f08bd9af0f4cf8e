/** `memfail health`: one host's verdict from its local store. */
import { defaultDbPath } from '../agent/paths.js';
import { Store, StoreError } from '../agent/store.js';
import { defaultHost, formatHealth, hostHealth } from '../health/host.js';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_JSON,
  loadPolicy,
  type Policy,
  PolicyError,
} from '../health/policy.js';
import type { HealthFlags } from './health.js';
import type { Io } from './io.js';

export async function health(opts: HealthFlags, io: Io): Promise<number> {
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  if (opts.printPolicy) {
    io.stdout(
      opts.policy === undefined ? DEFAULT_POLICY_JSON : `${JSON.stringify(policy, null, 2)}\n`,
    );
    return 0;
  }
  const path = opts.db ?? defaultDbPath();
  let store: Store;
  try {
    store = Store.open(path, { mustExist: true });
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return 1;
  }
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
