import { type Command, Option } from 'commander';
import { type CommandContext, UsageError } from './io.js';

/** `memfail sim`: run simulated QEMU VMs that speak QMP and take memory-failure injections. */
export function registerSim(program: Command, ctx: CommandContext): void {
  program
    .command('sim')
    .summary('Run simulated QEMU VMs that emit MEMORY_FAILURE as QEMU 7.2 decides it')
    .description(
      'Run simulated QEMU 7.2 VMs that speak QMP and emit MEMORY_FAILURE as QEMU decides it. ' +
        'Inject with `memfail inject`, or over QMP with human-monitor-command "mce ..." and ' +
        'x-memfail-host-memory-failure. Several clients may connect at once.',
    )
    .requiredOption('--listen <address>', 'unix:PATH, tcp:HOST:PORT or a socket path')
    .addOption(
      new Option('--dialect <dialect>', 'MEMORY_FAILURE wire form')
        .choices(['qemu', 'seed'])
        .default('qemu'),
    )
    .option('--vms <n>', 'number of VMs, one socket each (see below)', '1')
    .option('--vcpus <n>', 'vCPUs per VM', '1')
    .addOption(
      new Option('--guest <profile>', "the guest's machine-check behaviour")
        .choices(['linux', 'stuck', 'no-mce'])
        .default('linux'),
    )
    .option('--no-reboot', "QEMU's -no-reboot: a guest reset shuts the VM down (SHUTDOWN, exit 0)")
    .addHelpText(
      'after',
      `
Guests:
  linux   enables machine checks and handles each one at once (default)
  stuck   enables machine checks, but its handler never returns (a second error is recursive)
  no-mce  never enables machine checks: an uncorrected error resets it

With --vms N > 1, VM i (from 0) listens on ADDRESS with %d replaced by i, or else:
  unix:/tmp/vm.sock -> /tmp/vm-0.sock, /tmp/vm-1.sock, ...   (index before the extension)
  tcp:127.0.0.1:4444 -> ports 4444, 4445, ...                (port 0: a free port each)

The process exits when every VM has: with QEMU's status (1 after a fatal hypervisor
failure, 0 after quit or shutdown), the first non-zero one when there are several.

Example:
  memfail sim --listen unix:/tmp/vm.sock --dialect seed --guest stuck &
  memfail inject unix:/tmp/vm.sock --preset ar`,
    )
    .action(async (opts: SimOptions) => {
      const vms = positiveInt(opts.vms, '--vms', 1024);
      const vcpus = positiveInt(opts.vcpus, '--vcpus', 255);
      const { runSimulators } = await import('../hypervisor/run.js');
      ctx.exitCode = await runSimulators({
        listen: opts.listen,
        vms,
        simulator: {
          dialect: opts.dialect,
          vcpus,
          guest: opts.guest,
          noReboot: opts.reboot === false,
        },
        io: ctx.io,
      });
    });
}

interface SimOptions {
  listen: string;
  dialect: 'qemu' | 'seed';
  vms: string;
  vcpus: string;
  guest: 'linux' | 'stuck' | 'no-mce';
  reboot: boolean;
}

function positiveInt(text: string, flag: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max)
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got '${text}'`);
  return n;
}
