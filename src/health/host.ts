/**
 * A host's verdict from a local store: the host is the machine the agent runs
 * on (or `--host`), and every failure in its store happened on it. This is
 * the one call `memfail health`, `report` and the fleet's `hosts` make.
 */
import { hostname } from 'node:os';
import type { Store } from '../agent/store.js';
import { evaluate, type HostFailure, type HostHealth, lookbackMs } from './evaluate.js';
import type { Policy } from './policy.js';

export function defaultHost(): string {
  return hostname();
}

export function hostHealth(
  store: Store,
  policy: Policy,
  host: string,
  now = new Date(),
): HostHealth {
  const since = new Date(now.getTime() - lookbackMs(policy));
  const failures: HostFailure[] = [];
  for (const { vm, atUs, ...failure } of store.failureFacts(since)) {
    failures.push({ vm, failure, atMs: atUs / 1000 });
  }
  return evaluate(policy, host, failures, now);
}

/** One line for a table cell: "failing: 3 action-required failures on 2 VMs in 24 h …". */
export function healthCell(health: HostHealth): string {
  const first = health.reasons[0];
  return first === undefined ? health.state : `${health.state}: ${first.text}`;
}

/** The human listing `memfail health` prints. */
export function formatHealth(health: HostHealth): string {
  const lines = [`${health.host}: ${health.state}`];
  for (const r of health.reasons) lines.push(`  ${r.state.padEnd(8)} ${r.text}  (rule ${r.rule})`);
  if (health.reasons.length === 0)
    lines.push('  no rule of the policy matches its recent failures');
  lines.push(`  policy: ${health.policy}; evaluated at ${health.evaluatedAt}`);
  return `${lines.join('\n')}\n`;
}
