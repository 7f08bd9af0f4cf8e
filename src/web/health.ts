/**
 * A host's health verdict as the dashboard shows it. The verdict comes from a
 * pluggable function: `memfail serve` passes `policyHealth` (src/health's
 * policy over the host's store, as `memfail health` judges it) through
 * ServeOptions.health (`fleetPolicyHealth` for `serve --pg`); `provisionalHealth`, from the last day's failures by
 * action alone, is the default for a source with no store behind it.
 */
import type { Store } from '../agent/store.js';
import type { Sql } from '../fleet/pg.js';
import { FleetVerdicts } from '../fleet/pg-verdicts.js';
import { evaluate, type HostHealth } from '../health/evaluate.js';
import { hostHealth } from '../health/host.js';
import type { Policy } from '../health/policy.js';
import type { HostFacts } from './source.js';

export type HealthState = 'healthy' | 'suspect' | 'degraded' | 'failing' | 'unknown';
export const HEALTH_STATES: readonly HealthState[] = [
  'failing',
  'degraded',
  'suspect',
  'healthy',
  'unknown',
];

export interface HealthVerdict {
  readonly state: HealthState;
  /** Why, in plain words, one reason per line. */
  readonly reasons: readonly string[];
}

export type HealthOf = ((facts: HostFacts) => HealthVerdict | Promise<HealthVerdict>) & {
  /** Starts judging every host now, so the work overlaps the caller's own reads. */
  readonly prefetch?: () => void;
  /**
   * For verdicts that need no facts: every host's verdict by name (a host
   * never judged is healthy), so a list of thousands of hosts reads the facts
   * of the hosts it shows alone.
   */
  readonly byHost?: () => Promise<(host: string) => HealthVerdict>;
};

/**
 * Failing: a VM died or was reset by a memory failure in the last day.
 * Degraded: failures the guests or QEMU absorbed. Healthy: none.
 */
export const provisionalHealth = (facts: HostFacts): HealthVerdict => {
  const { fatal, reset, inject, ignore } = facts.lastDay;
  const reasons: string[] = [];
  if (fatal > 0) reasons.push(`${fatal} failure(s) in the last 24 h made QEMU exit`);
  if (reset > 0) reasons.push(`${reset} failure(s) in the last 24 h reset a guest`);
  if (reasons.length > 0) return { state: 'failing', reasons };
  if (inject + ignore > 0) {
    return {
      state: 'degraded',
      reasons: [
        `${inject + ignore} failure(s) in the last 24 h, all absorbed (injected or ignored)`,
      ],
    };
  }
  return { state: 'healthy', reasons: ['no memory failure in the last 24 h'] };
};

/**
 * The policy's verdict for each host, read from `store` (one agent's store:
 * every failure in it happened on the host asked about). A verdict is kept
 * for `cacheMs`, so a page's several API calls judge the host once.
 */
export function policyHealth(
  store: Store,
  policy: Policy,
  cacheMs = 1000,
): (facts: HostFacts) => HealthVerdict {
  const cache = new Map<string, { at: number; verdict: HealthVerdict }>();
  return (facts) => {
    const now = Date.now();
    const hit = cache.get(facts.host);
    if (hit !== undefined && now - hit.at < cacheMs) return hit.verdict;
    const verdict = toVerdict(hostHealth(store, policy, facts.host, new Date(now)));
    cache.set(facts.host, { at: now, verdict });
    return verdict;
  };
}

function toVerdict(health: HostHealth): HealthVerdict {
  return {
    state: health.state,
    reasons:
      health.reasons.length === 0
        ? ['no rule of the policy matches its recent failures']
        : health.reasons.map((r) => r.text),
  };
}

/**
 * The policy's verdict for each host of the fleet database. Verdicts are kept
 * by FleetVerdicts (fleet/pg-verdicts.ts): the first asking judges every host
 * inside PostgreSQL, later ones only the hosts whose failures changed or whose
 * verdict's window moved on. An asking is reused for `cacheMs` (a page's
 * several calls ask for the same hosts) and concurrent askers share it. The
 * first asking starts at once, so the first page does not wait for it.
 */
export function fleetPolicyHealth(sql: Sql, policy: Policy, cacheMs = 1000): HealthOf {
  const verdicts = new FleetVerdicts(sql, policy);
  let judged: { at: number; verdicts: Promise<Map<string, HostHealth>> } | null = null;
  const judge = () => {
    const now = Date.now();
    if (judged === null || now - judged.at >= cacheMs) {
      const found = verdicts.judge(new Date(now));
      judged = { at: now, verdicts: found };
      // A failed query is not kept: the next call asks again.
      found.catch(() => {
        if (judged?.verdicts === found) judged = null;
      });
    }
    return judged;
  };
  // Kept verdicts are the same objects from one asking to the next: word each once.
  const shown = new WeakMap<HostHealth, HealthVerdict>();
  const healthy = toVerdict(evaluate(policy, '', [], new Date()));
  const lookup = (found: Map<string, HostHealth>) => (host: string) => {
    const health = found.get(host);
    if (health === undefined) return healthy;
    let verdict = shown.get(health);
    if (verdict === undefined) {
      verdict = toVerdict(health);
      shown.set(health, verdict);
    }
    return verdict;
  };
  const byHost = async () => lookup(await judge().verdicts);
  const healthOf = async (facts: HostFacts) => (await byHost())(facts.host);
  judge();
  return Object.assign(healthOf, { prefetch: () => void judge(), byHost });
}
