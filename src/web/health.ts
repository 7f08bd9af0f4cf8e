/**
 * A host's health verdict as the dashboard shows it. The verdict comes from a
 * pluggable function: the host-health module (src/health, when it lands)
 * supplies the real one through ServeOptions.health; until then
 * `provisionalHealth` reads the last day's failures by action.
 */
import type { HostFacts } from './source.js';

export type HealthState = 'healthy' | 'degraded' | 'failing' | 'unknown';
export const HEALTH_STATES: readonly HealthState[] = ['failing', 'degraded', 'healthy', 'unknown'];

export interface HealthVerdict {
  readonly state: HealthState;
  /** Why, in plain words, one reason per line. */
  readonly reasons: readonly string[];
}

export type HealthOf = (facts: HostFacts) => HealthVerdict;

/**
 * Failing: a VM died or was reset by a memory failure in the last day.
 * Degraded: failures the guests or QEMU absorbed. Healthy: none.
 */
export const provisionalHealth: HealthOf = (facts) => {
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
