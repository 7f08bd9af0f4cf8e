/**
 * Host health: a policy (policy.ts) applied to a host's recent failures
 * (evaluate.ts, pure) gives healthy / suspect / degraded / failing with
 * reasons; host.ts reads them from a local store.
 */
export {
  evaluate,
  type HealthReason,
  type HostFailure,
  type HostHealth,
  lookbackMs,
  toHostFailures,
} from './evaluate.js';
export { defaultHost, formatHealth, healthCell, hostHealth } from './host.js';
export { registerHealthMetric } from './metrics.js';
export {
  DEFAULT_POLICY,
  type FailureKind,
  HEALTH_STATES,
  type HealthRule,
  type HealthState,
  healthLevel,
  loadPolicy,
  type Policy,
  PolicyError,
  parsePolicy,
} from './policy.js';
