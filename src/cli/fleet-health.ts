/** `memfail health --pg`: verdicts from the fleet database. */
import { fleetHealth, fleetHostHealth } from '../fleet/pg-health.js';
import { formatHealth } from '../health/host.js';
import { withPg } from './fleet-read.js';
import type { HealthFlags } from './health.js';
import { readPolicy } from './health-run.js';
import type { Io } from './io.js';

/** `memfail health --pg`: a host's verdict (--host, else every host with recent failures). */
export async function fleetHealthCommand(opts: HealthFlags, url: string, io: Io): Promise<number> {
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  return withPg(url, io, async (sql) => {
    const verdicts =
      opts.host === undefined
        ? [...(await fleetHealth(sql, policy)).values()]
        : [await fleetHostHealth(sql, policy, opts.host)];
    if (opts.json) {
      io.stdout(`${JSON.stringify(opts.host === undefined ? verdicts : verdicts[0], null, 2)}\n`);
    } else if (verdicts.length === 0) {
      io.stdout("no host has a memory failure within the policy's window: all healthy\n");
    } else io.stdout(verdicts.map(formatHealth).join(''));
    return 0;
  });
}
