/** `memfail evacuate HOST`: flags → drivers → src/evacuate/run.ts. */
import { defaultDbPath } from '../agent/paths.js';
import { CommandLineError, splitCommand } from '../agent/alerts.js';
import type { MigrationDriver } from '../evacuate/driver.js';
import { ExecDriver } from '../evacuate/exec-driver.js';
import { InventoryError } from '../evacuate/inventory.js';
import { LibvirtDriver } from '../evacuate/libvirt-driver.js';
import { QmpDriver } from '../evacuate/qmp-driver.js';
import { EvacuateError, evacuate } from '../evacuate/run.js';
import { PgDrainGate } from '../fleet/drain-pg.js';
import { readPolicy } from './health-run.js';
import type { EvacuateFlags } from './health.js';
import { type Io, UsageError } from './io.js';

export async function evacuateCommand(host: string, opts: EvacuateFlags, io: Io): Promise<number> {
  const parallel = positiveInteger(opts.parallel, '--parallel');
  const drainLimit =
    opts.drainLimit === undefined ? undefined : positiveInteger(opts.drainLimit, '--drain-limit');
  const driver = makeDriver(opts);
  const policy = readPolicy(opts.policy, io);
  if (policy === null) return 1;
  if (opts.drainPg !== undefined && drainLimit === undefined) {
    throw new UsageError('--drain-pg goes with --drain-limit N');
  }
  const drainGate = opts.drainPg === undefined ? undefined : PgDrainGate.open(opts.drainPg);
  try {
    const result = await evacuate({
      host,
      inventoryPath: opts.inventory,
      journalPath: opts.db ?? defaultDbPath(),
      driver,
      policy,
      to: opts.to,
      parallel,
      dryRun: opts.dryRun === true,
      reason: 'operator',
      ...(drainLimit === undefined ? {} : { drainLimit }),
      ...(drainGate === undefined ? {} : { drainGate }),
      out: (line) => io.stdout(`${line}\n`),
    });
    return result.outcome === 'incomplete' || result.outcome === 'drain-limit' ? 1 : 0;
  } catch (err) {
    if (err instanceof InventoryError || err instanceof EvacuateError) {
      io.stderr(`memfail: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await drainGate?.close();
  }
}

export function makeDriver(
  opts: Pick<EvacuateFlags, 'driver' | 'exec'> & { maxBandwidth?: string },
): MigrationDriver {
  if (opts.driver === 'exec') {
    if (opts.exec === undefined) throw new UsageError('--driver exec needs --exec CMD');
    try {
      return new ExecDriver({ argv: splitCommand(opts.exec) });
    } catch (err) {
      if (err instanceof CommandLineError) throw new UsageError(`--exec: ${err.message}`);
      throw err;
    }
  }
  if (opts.exec !== undefined) throw new UsageError('--exec goes with --driver exec');
  const bw =
    opts.maxBandwidth === undefined
      ? undefined
      : positiveInteger(opts.maxBandwidth, '--max-bandwidth');
  const options = bw === undefined ? {} : { maxBandwidth: bw };
  return opts.driver === 'libvirt' ? new LibvirtDriver(options) : new QmpDriver(options);
}

function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} '${text}' is not a positive integer`);
  return n;
}
