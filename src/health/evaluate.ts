/**
 * The verdict: a pure function of a policy, a host's failures and the time.
 * Every rule that matches contributes a reason; the host's state is the worst
 * of them (healthy when none matches).
 */
import type { MemoryFailure } from '../event/model.js';
import type { StoredFailure } from '../agent/records.js';
import {
  type FailureKind,
  type HealthRule,
  type HealthState,
  healthLevel,
  type Policy,
  spellDuration,
} from './policy.js';

/** One failure as the evaluator sees it. */
export interface HostFailure {
  readonly vm: string;
  readonly failure: MemoryFailure;
  /** When it happened: QEMU's timestamp, else when the agent received it (epoch ms). */
  readonly atMs: number;
}

export interface HealthReason {
  readonly state: Exclude<HealthState, 'healthy'>;
  readonly text: string;
  /** 1-based index of the rule in the policy. */
  readonly rule: number;
}

export interface HostHealth {
  readonly host: string;
  readonly state: HealthState;
  /** 0 healthy … 3 failing (the metric's value). */
  readonly level: number;
  /** Worst first. */
  readonly reasons: readonly HealthReason[];
  readonly evaluatedAt: string;
  readonly policy: string;
}

export function toHostFailures(rows: Iterable<StoredFailure>): HostFailure[] {
  const out: HostFailure[] = [];
  for (const row of rows) {
    if (row.failure === null) continue;
    const atMs =
      row.timestamp !== null
        ? row.timestamp.seconds * 1000 + row.timestamp.microseconds / 1000
        : row.receivedUs / 1000;
    out.push({ vm: row.vm, failure: row.failure, atMs });
  }
  return out;
}

export function counts(kind: FailureKind, f: MemoryFailure): boolean {
  switch (kind) {
    case 'any':
      return true;
    case 'action-required':
      return f.actionRequired;
    case 'recursive':
      return f.recursive;
    case 'guest-reset':
      return f.recipient === 'guest' && f.action === 'reset';
    case 'hypervisor':
      return f.recipient === 'hypervisor';
    case 'hypervisor-fatal':
      return f.recipient === 'hypervisor' && f.action === 'fatal';
  }
}

/** The longest window of any rule: how far back a caller must read. */
export function lookbackMs(policy: Policy): number {
  return Math.max(...policy.rules.map((r) => r.withinMs));
}

export function evaluate(
  policy: Policy,
  host: string,
  failures: readonly HostFailure[],
  now: Date,
): HostHealth {
  const nowMs = now.getTime();
  const reasons: HealthReason[] = [];
  policy.rules.forEach((rule, i) => {
    const text = matchRule(rule, failures, nowMs);
    if (text !== null) reasons.push({ state: rule.state, text, rule: i + 1 });
  });
  return verdict(policy, host, reasons, now);
}

/** The host's verdict from its matching rules' reasons, in policy order. */
export function verdict(
  policy: Policy,
  host: string,
  reasons: HealthReason[],
  now: Date,
): HostHealth {
  // Stable: rules of equal severity keep the policy's order.
  reasons.sort((a, b) => healthLevel(b.state) - healthLevel(a.state));
  const state: HealthState = reasons[0]?.state ?? 'healthy';
  return {
    host,
    state,
    level: healthLevel(state),
    reasons,
    evaluatedAt: now.toISOString(),
    policy: policy.source,
  };
}

/** The reason's text when the rule matches, else null. */
function matchRule(
  rule: HealthRule,
  failures: readonly HostFailure[],
  nowMs: number,
): string | null {
  const since = nowMs - rule.withinMs;
  const hits = failures.filter(
    (f) => f.atMs >= since && f.atMs <= nowMs && counts(rule.kind, f.failure),
  );
  const vms = new Set(hits.map((f) => f.vm));
  if (hits.length < rule.atLeast || vms.size < rule.vms) return null;
  const last = hits.reduce((a, b) => (b.atMs > a.atMs ? b : a));
  return ruleReason(rule, hits.length, vms.size, last.atMs, last.vm);
}

/**
 * What a matching rule says: `count` failures of its kind on `vms` distinct
 * VMs, the last at `lastMs` on `lastVm`. Shared with the fleet's SQL verdicts
 * (fleet/pg-health.ts), so both word a reason identically.
 */
export function ruleReason(
  rule: HealthRule,
  count: number,
  vms: number,
  lastMs: number,
  lastVm: string,
): string {
  const lastIso = new Date(lastMs).toISOString();
  if (count === 1) {
    return `${rule.kind === 'any' ? 'a memory failure' : rule.kind} at ${lastIso} on ${lastVm}`;
  }
  const label = rule.kind === 'any' ? 'memory' : rule.kind;
  const window = spellDuration(rule.within);
  return `${count} ${label} failures on ${plural(vms, 'VM')} in ${window} (last at ${lastIso} on ${lastVm})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
