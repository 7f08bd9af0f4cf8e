/**
 * `memfail_host_health{host,state}`: 0 healthy, 1 suspect, 2 degraded,
 * 3 failing, with the state also as a label (one series per host; the state
 * label changes with it). Registered on the agent's registry by whoever
 * evaluates health, so src/agent/metrics.ts need not know about it.
 */
import { Gauge, type Registry } from 'prom-client';
import type { HostHealth } from './evaluate.js';

export function registerHealthMetric(
  registry: Registry,
  current: () => readonly HostHealth[],
): void {
  new Gauge({
    name: 'memfail_host_health',
    help: 'Host health by the policy: 0 healthy, 1 suspect, 2 degraded, 3 failing',
    labelNames: ['host', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const h of current()) this.set({ host: h.host, state: h.state }, h.level);
    },
  });
}
