/**
 * Run N simulated VMs until every one has exited (or a signal stops them):
 * the body of `memfail sim`.
 */
import { AddressError, formatAddress } from '../qmp/address.js';
import { SimulatedVm, type SimulatorOptions } from './simulator.js';
import { vmAddress } from './vm-address.js';

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface RunOptions {
  readonly listen: string;
  readonly vms: number;
  readonly simulator: Omit<SimulatorOptions, 'log'>;
  readonly io: Output;
  /** Stop everything when this aborts (default: SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
}

/** Returns the process exit status: the first non-zero VM status, else 0; 1 if a VM could not listen. */
export async function runSimulators(options: RunOptions): Promise<number> {
  const { io } = options;
  const sims: SimulatedVm[] = [];
  try {
    for (let i = 0; i < options.vms; i++) {
      const name = options.vms === 1 ? 'vm' : `vm${i}`;
      const sim = new SimulatedVm({
        ...options.simulator,
        log: (line) => io.stderr(`${name}: ${line}\n`),
      });
      const bound = await sim.listen(vmAddress(options.listen, i, options.vms));
      sims.push(sim);
      io.stdout(
        `${name}: listening on ${formatAddress(bound)} (dialect ${sim.dialect}, guest ${sim.guest}, ` +
          `${sim.state.vcpus.length} vCPU${sim.state.vcpus.length === 1 ? '' : 's'})\n`,
      );
    }
  } catch (err) {
    await Promise.all(sims.map((s) => s.close()));
    const message = err instanceof AddressError || err instanceof Error ? err.message : String(err);
    io.stderr(`memfail sim: ${message}\n`);
    return 1;
  }
  const stop = () => {
    for (const s of sims) void s.shutdown('host-signal');
  };
  const signal = options.signal;
  if (signal) signal.addEventListener('abort', stop, { once: true });
  else {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  const statuses = await Promise.all(
    sims.map(async (s, i) => {
      const status = await s.exited;
      if (status !== 0)
        io.stderr(`${options.vms === 1 ? 'vm' : `vm${i}`}: exited with status ${status}\n`);
      return status;
    }),
  );
  if (signal) signal.removeEventListener('abort', stop);
  else {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return statuses.find((s) => s !== 0) ?? 0;
}
