import type { Command } from 'commander';
import type { CommandContext } from './io.js';

export interface DemoFlags {
  db?: string;
  simulator?: boolean;
  /** False with --no-libvirt. */
  libvirt: boolean;
  serve?: boolean;
  listen: string;
  evacuate?: boolean;
  /** False with --no-evacuation. */
  evacuation: boolean;
  fleet?: boolean;
}

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
        'always simulated. With real QEMU it then shows acting on failures: a host whose guests ' +
        'keep failing is judged failing and its running guests are live-migrated to a healthy host.',
    )
    .option('--db <path>', 'record into this SQLite file (default: a new file in the temp folder)')
    .option('--simulator', 'use the simulator for every VM, even where QEMU is installed')
    .option('--no-libvirt', 'skip the libvirt part (run when libvirtd answers on its local socket)')
    .option('--serve', 'then serve the live dashboard over the recording until Ctrl-C')
    .option('--listen <host:port>', 'with --serve: address of the dashboard', '127.0.0.1:8080')
    .option(
      '--no-evacuation',
      'skip the closing host-health part (a failing host judged, its guests live-migrated)',
    )
    .option(
      '--evacuate',
      'only the host-health part (a failing host judged and its guests live-migrated; needs QEMU)',
    )
    .option(
      '--fleet',
      'instead: the fleet, with private nats-server and PostgreSQL, three simulated hosts with ' +
        'agents publishing, one collector, then hosts and report from PostgreSQL',
    )
    .addHelpText(
      'after',
      `
Exit status: 0 when every step produced the MEMORY_FAILURE QEMU 7.2 would send, 1 otherwise.

Examples:
  memfail demo
  memfail demo --db ./demo.db && memfail report --db ./demo.db
  memfail demo --serve                # then browse http://127.0.0.1:8080/
  memfail demo --evacuate             # health verdicts and a live evacuation (README "Evacuation")
  memfail demo --fleet                # needs nats-server and PostgreSQL 15: bash scripts/setup.sh`,
    )
    .action(async (opts: DemoFlags) => {
      const { demo } = await import('./demo-run.js');
      ctx.exitCode = await demo(opts, ctx.io);
    });
}
