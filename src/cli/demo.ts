import type { Command } from 'commander';
import { type CommandContext, UsageError } from './io.js';

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
    .option('--no-libvirt', 'skip the libvirt part (run when libvirtd answers on its local socket)')
    .option('--serve', 'then serve the live dashboard over the recording until Ctrl-C')
    .option('--listen <host:port>', 'with --serve: address of the dashboard', '127.0.0.1:8080')
    .option(
      '--evacuate',
      'instead: the host-health part (a failing host judged and its guests live-migrated; needs QEMU)',
    )
    .addHelpText(
      'after',
      `
With real QEMU and a reachable libvirtd (root, /var/run/libvirt/libvirt-sock), a
last part starts a guest through libvirt, hits it, and records the failure
through libvirt as \`memfail watch --libvirt\` does; without libvirtd it is skipped.

Exit status: 0 when every step produced the MEMORY_FAILURE QEMU 7.2 would send, 1 otherwise.

Examples:
  memfail demo
  memfail demo --db ./demo.db && memfail report --db ./demo.db
  memfail demo --serve                # then browse http://127.0.0.1:8080/
  memfail demo --evacuate             # health verdicts and a live evacuation (README "Evacuation")`,
    )
    .action(
      async (opts: {
        db?: string;
        simulator?: boolean;
        libvirt: boolean;
        serve?: boolean;
        listen: string;
        evacuate?: boolean;
      }) => {
        if (opts.evacuate) {
          const { evacuationDemo } = await import('./health-demo.js');
          ctx.exitCode = await evacuationDemo(ctx.io);
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
          libvirt: opts.libvirt,
          out: (text) => ctx.io.stdout(text),
        });
        ctx.exitCode = result.ok ? 0 : 1;
        if (opts.serve !== true) {
          ctx.io.stdout(`See it in a browser: memfail serve --db ${result.db}\n`);
          return;
        }
        const { parseListen } = await import('../web/listen.js');
        const { openDashboard, untilSignal } = await import('./serve-run.js');
        const { hostname } = await import('node:os');
        let listen: ReturnType<typeof parseListen>;
        try {
          listen = parseListen(opts.listen);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        const dashboard = await openDashboard(result.db, hostname(), listen, ctx.io);
        if (dashboard === null) {
          ctx.exitCode = 1;
          return;
        }
        ctx.io.stdout(`\nDashboard: ${dashboard.url}  (live; Ctrl-C to stop)\n`);
        await untilSignal();
        await dashboard.close();
      },
    );
}
