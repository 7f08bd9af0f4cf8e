/**
 * Host health over the fleet database: src/health's evaluate() applied to
 * each host's failures within the policy's lookback. One query reads the
 * window for every host through the time index (memory_failure_seen; for one
 * host, memory_failure_host_seen), sorted by host and streamed through a
 * cursor, so a host is judged as soon as its rows are read: memory holds one
 * host's recent failures, whatever the fleet's size. A host with no failure
 * in the window is healthy without being read.
 */
import type { Action, Recipient } from '../event/model.js';
import { evaluate, type HostFailure, type HostHealth, lookbackMs } from '../health/evaluate.js';
import type { Policy } from '../health/policy.js';
import type { Sql } from './pg.js';

interface WindowRow {
  host: string;
  vm: string;
  recipient: Recipient;
  action: Action;
  action_required: boolean;
  recursive: boolean;
  seen_us: number;
}

/** The query for the window [sinceUs, nowUs], one host or all, sorted by host. */
export function healthWindowQuery(
  sinceUs: number,
  nowUs: number,
  host?: string,
): { text: string; params: (string | number)[] } {
  const params: (string | number)[] = [sinceUs, nowUs];
  let byHost = '';
  if (host !== undefined) {
    params.push(host);
    byHost = 'AND host = $3';
  }
  return {
    text: `SELECT host, vm, recipient, action, action_required, recursive, seen_us
      FROM memory_failure
      WHERE seen_us >= $1 AND seen_us <= $2 AND recipient IS NOT NULL ${byHost}
      ORDER BY host`,
    params,
  };
}

/**
 * The verdict of every host that has a failure in the window (or of `host`
 * alone), by host name. Hosts absent from the map are healthy: judge them
 * with `evaluate(policy, host, [], now)`.
 */
export async function fleetHealth(
  sql: Sql,
  policy: Policy,
  now = new Date(),
  host?: string,
): Promise<Map<string, HostHealth>> {
  const nowUs = now.getTime() * 1000;
  const q = healthWindowQuery(nowUs - lookbackMs(policy) * 1000, nowUs, host);
  const out = new Map<string, HostHealth>();
  let current: string | null = null;
  let failures: HostFailure[] = [];
  const close = () => {
    if (current !== null) out.set(current, evaluate(policy, current, failures, now));
  };
  for await (const rows of sql.unsafe(q.text, q.params).cursor(2000)) {
    for (const r of rows as unknown as WindowRow[]) {
      if (r.host !== current) {
        close();
        current = r.host;
        failures = [];
      }
      failures.push({
        vm: r.vm,
        failure: {
          recipient: r.recipient,
          action: r.action,
          actionRequired: r.action_required,
          recursive: r.recursive,
        },
        atMs: r.seen_us / 1000,
      });
    }
  }
  close();
  return out;
}

/** One host's verdict (healthy when it has no failure in the window). */
export async function fleetHostHealth(
  sql: Sql,
  policy: Policy,
  host: string,
  now = new Date(),
): Promise<HostHealth> {
  const found = await fleetHealth(sql, policy, now, host);
  return found.get(host) ?? evaluate(policy, host, [], now);
}
