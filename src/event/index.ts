/**
 * The MEMORY_FAILURE domain: the canonical model, the two wire dialects and
 * their mapping, and explanations.
 *
 *   import { fromAnyWire, explain } from 'memfail/event';
 */

export {
  type DialectError,
  detectDialect,
  type Encoded,
  formatDialectError,
  fromAnyWire,
  fromWire,
  type QemuMemoryFailureData,
  type Result,
  SEED_ACTIONS,
  type SeedAction,
  type SeedMemoryFailureData,
  toWire,
  type WireData,
} from './dialect.js';
export { type ExplainContext, explain, OUTCOMES, type Outcome, outcome } from './explain.js';
export {
  ACTIONS,
  type Action,
  DIALECTS,
  type Dialect,
  type MemoryFailure,
  type QmpTimestamp,
  RECIPIENTS,
  type Recipient,
  timestampToDate,
  timestampToIso,
} from './model.js';
export { reachableInQemu } from './reachable.js';
