import type { Command } from 'commander';
import type { CommandContext } from './io.js';

/** `memfail demo`: the main job, end to end, in one command. */
export function registerDemo(program: Command, ctx: CommandContext): void {
  program
    .command('demo')
    .summary(
      'Rehearse every memory-failure outcome on real QEMU and the simulator, watched and reported',
    )
    .description(
      'Boot real QEMU 7.2 guests (when qemu-system-x86_64 is installed; the simulator otherwise), ' +
        'watch them with the agent, inject a scripted sequence of hardware memory failures that ' +
        'covers every outcome QEMU can report, show each MEMORY_FAILURE live with its explanation, ' +
        'and end with the report. Host-side failures need KVM and a poisoned page: those VMs are ' +
        'always simulated.',
    )
    .option('--db <path>', 'record into this SQLite file (default: a new file in the temp folder)')
    .option('--simulator', 'use the simulator for every VM, even where QEMU is installed')
    .option(
      '--fleet',
      'the fleet instead: private nats-server and PostgreSQL, three simulated hosts with agents ' +
        'publishing, one collector, then hosts and report from PostgreSQL',
    )
    .addHelpText(
      'after',
      `
Exit status: 0 when every step produced the MEMORY_FAILURE QEMU 7.2 would send, 1 otherwise.

Examples:
  memfail demo
  memfail demo --db ./demo.db && memfail report --db ./demo.db
  memfail demo --fleet      (needs nats-server and PostgreSQL 15: bash scripts/setup.sh)`,
    )
    .action(async (opts: { db?: string; simulator?: boolean; fleet?: boolean }) => {
      if (opts.fleet) {
        const { runFleetDemo } = await import('../fleet/demo.js');
        ctx.exitCode = (await runFleetDemo((text) => ctx.io.stdout(text))).ok ? 0 : 1;
        return;
      }
      const { runDemo } = await import('../demo/run.js');
      const { findQemu, QemuNotFoundError } = await import('../qemu/launch.js');
      let qemuAvailable = true;
      try {
        findQemu();
      } catch (err) {
        if (!(err instanceof QemuNotFoundError)) throw err;
        qemuAvailable = false;
      }
      const result = await runDemo({
        ...(opts.db === undefined ? {} : { db: opts.db }),
        simulatorOnly: opts.simulator === true,
        qemuAvailable,
        out: (text) => ctx.io.stdout(text),
      });
      ctx.exitCode = result.ok ? 0 : 1;
    });
}
