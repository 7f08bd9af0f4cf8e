/** `watch --policy … [--act]`: the health actor beside the watcher. */
import type { AgentMetrics } from '../agent/metrics.js';
import type { Store } from '../agent/store.js';
import { HealthActor } from '../evacuate/act.js';
import { PgDrainGate } from '../fleet/drain-pg.js';
import { defaultHost } from '../health/host.js';
import { registerHealthMetric } from '../health/metrics.js';
import { makeDriver } from './evacuate-run.js';
import { policyFlag } from './health-run.js';
import type { HealthWatchFlags } from './health.js';
import { UsageError } from './io.js';

/** Null when neither --policy nor --act asks for health. Throws UsageError for bad flags. */
export function healthActor(
  opts: HealthWatchFlags & { db?: string },
  store: Store,
  metrics: AgentMetrics | undefined,
  log: (line: string) => void,
): HealthActor | null {
  if (opts.policy === undefined && !opts.act) return null;
  if (opts.act && opts.inventory === undefined)
    throw new UsageError('--act needs --inventory FILE');
  if (opts.drainPg !== undefined && !opts.act) throw new UsageError('--drain-pg goes with --act');
  const drainLimit = Number(opts.drainLimit);
  if (!Number.isInteger(drainLimit) || drainLimit < 1) {
    throw new UsageError(`--drain-limit '${opts.drainLimit}' is not a positive integer`);
  }
  const policy = policyFlag(opts.policy);
  const actor = new HealthActor({
    host: opts.host ?? defaultHost(),
    policy,
    store,
    act: opts.act === true,
    ...(opts.act
      ? {
          evacuation: {
            inventoryPath: opts.inventory as string,
            journalPath: opts.journal ?? store.path,
            driver: makeDriver(opts),
            drainLimit,
            ...(opts.drainPg === undefined ? {} : { drainGate: PgDrainGate.open(opts.drainPg) }),
            parallel: 2,
          },
        }
      : {}),
    log: (line) => log(`health: ${line}`),
  });
  if (metrics !== undefined) registerHealthMetric(metrics.registry, () => [actor.current]);
  return actor;
}
