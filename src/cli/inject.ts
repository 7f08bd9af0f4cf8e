import { type Command, Option } from 'commander';
import { type CommandContext, UsageError } from './io.js';

/** `memfail inject`: put a memory failure into a simulated or real VM and show what came of it. */
export function registerInject(program: Command, ctx: CommandContext): void {
  program
    .command('inject')
    .summary('Inject a memory failure into a simulated or real VM and show the events')
    .description(
      'Inject a memory failure into a VM over QMP (memfail sim; or real QEMU, guest path only) ' +
        'and print what was sent and every event that followed (MEMORY_FAILURE explained, RESET, SHUTDOWN).',
    )
    .argument('[address]', 'unix:PATH, tcp:HOST:PORT or a socket path (not with --libvirt)')
    .option('--libvirt <domain>', 'inject into this libvirt domain (name or UUID), guest path only')
    .option('--connect <uri>', 'with --libvirt: the libvirt URI (default qemu:///system)')
    .option('--libvirt-socket <path>', "with --libvirt: libvirtd's socket (default: from the URI)")
    .addOption(
      new Option('--host <code>', 'host-side SIGBUS (simulator only)').choices([
        'AR',
        'AO',
        'ar',
        'ao',
      ]),
    )
    .option('--address <addr>', 'host fault: guest-physical address (default 0x1000)')
    .option('--hypervisor-memory', "host fault: the page is QEMU's own memory, not guest RAM")
    .addOption(
      new Option('--preset <name>', 'a ready-made guest-path machine check').choices([
        'ar',
        'ao',
        'corrected',
      ]),
    )
    .option('--cpu <n>', 'vCPU index (guest path; host fault: the vCPU that took the signal)')
    .option('--bank <n>', 'guest path: MCA bank')
    .option('--status <x>', 'guest path: MCi_STATUS')
    .option('--mcg-status <x>', 'guest path: MCG_STATUS')
    .option('--addr <x>', 'guest path: MCi_ADDR (presets: default 0x1000)')
    .option('--misc <x>', 'guest path: MCi_MISC')
    .option('--broadcast', 'guest path: mce -b, also hit every other vCPU')
    .option('--settle-ms <ms>', 'keep listening this long after the reply for late events', '100')
    .option('--json', 'print one JSON object instead of text')
    .addHelpText(
      'after',
      `
Exactly one of --host, --preset, or the guest-path set (--bank --status --mcg-status
--addr --misc; --cpu defaults to 0). Numbers may be decimal or 0x-prefixed hex.

Examples:
  memfail inject unix:/tmp/vm.sock --host AR --address 0x7f000
  memfail inject unix:/tmp/vm.sock --host AO --address 0x1000 --hypervisor-memory
  memfail inject unix:/tmp/vm.sock --preset ar --cpu 1
  memfail inject unix:/tmp/qemu.qmp --cpu 0 --bank 9 --status 0xbd80000000000134 \\
      --mcg-status 7 --addr 0x1000 --misc 0x8c
  memfail inject --libvirt vm1 --preset ar          # a libvirt domain, through libvirtd`,
    )
    .action(async (address: string | undefined, opts: InjectOptions) => {
      if (opts.libvirt !== undefined) {
        if (address !== undefined) {
          throw new UsageError(
            `give either an address or --libvirt DOMAIN, not both ('${address}')`,
          );
        }
        const { runInjectLibvirt } = await import('./inject-libvirt.js');
        ctx.exitCode = await runInjectLibvirt(opts.libvirt, opts, ctx.io);
        return;
      }
      if (address === undefined)
        throw new UsageError("give the VM's QMP address, or --libvirt DOMAIN");
      const { runInject } = await import('./inject-run.js');
      ctx.exitCode = await runInject(address, opts, ctx.io);
    });
}

export interface InjectOptions {
  host?: string;
  address?: string;
  hypervisorMemory?: boolean;
  preset?: 'ar' | 'ao' | 'corrected';
  cpu?: string;
  bank?: string;
  status?: string;
  mcgStatus?: string;
  addr?: string;
  misc?: string;
  broadcast?: boolean;
  settleMs: string;
  json?: boolean;
  libvirt?: string;
  connect?: string;
  libvirtSocket?: string;
}
