/**
 * The demo's libvirt part, run when libvirtd answers on its local socket (as
 * root): a transient TCG domain booting the MCE boot sector, watched through
 * libvirt by the agent's LibvirtWatcher (the `watch --libvirt` code, on the
 * demo's writer), hit with one action-required machine check through
 * DOMAIN_MONITOR_COMMAND, and recorded. Without libvirtd the demo says so and
 * goes on.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchWriter } from '../agent/batch.js';
import { LibvirtWatcher } from '../agent/libvirt-source.js';
import type { Observation } from '../agent/records.js';
import type { MemoryFailure } from '../event/model.js';
import { mceCommandLine, presetFault } from '../hypervisor/faults.js';
import {
  type DomainRef,
  LibvirtClient,
  MONITOR_COMMAND_HMP,
  QEMU,
  REMOTE,
} from '../libvirt/index.js';
import { LOAD_ADDRESS, MCE_HANDLER_OFFSET, mceBootSector } from '../qemu/bootsector.js';

export const LIBVIRT_SOCKET = '/var/run/libvirt/libvirt-sock';
const URI = 'qemu:///system';
const EXPECT: MemoryFailure = {
  recipient: 'guest',
  action: 'inject',
  actionRequired: true,
  recursive: false,
};

export interface LibvirtPartContext {
  readonly writer: BatchWriter;
  readonly dir: string;
  readonly out: (text: string) => void;
  /** Waits until a committed observation matches. */
  waitFor(
    match: (o: Observation) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<Observation>;
  readonly socket?: string;
}

export type LibvirtPartResult =
  | { readonly ran: false; readonly why: string }
  | {
      readonly ran: true;
      readonly got: MemoryFailure | null;
      readonly expect: MemoryFailure;
      readonly vm: string;
    };

export async function runLibvirtPart(ctx: LibvirtPartContext): Promise<LibvirtPartResult> {
  const socket = ctx.socket ?? LIBVIRT_SOCKET;
  const client = new LibvirtClient({ connectTimeoutMs: 3000 });
  try {
    await client.connect(socket, { uri: URI });
  } catch (err) {
    return { ran: false, why: (err as Error).message };
  }
  const name = `memfail-demo-${process.pid}`;
  let dom: DomainRef | null = null;
  const watcher = new LibvirtWatcher({ uri: URI, socket }, ctx.writer, { backoffInitialMs: 50 });
  try {
    const image = join(ctx.dir, 'libvirt-boot.img');
    const floppy = Buffer.alloc(1_474_560);
    mceBootSector().copy(floppy);
    await writeFile(image, floppy);
    // libvirt's QEMU may run as another user (libvirt-qemu): let it read the image.
    await chmod(ctx.dir, 0o755);
    await chmod(image, 0o644);
    watcher.start();
    await ctx
      .waitFor(
        (o) => o.kind === 'lifecycle' && o.event === 'CONNECTED' && isLibvirt(o.data),
        'the agent connected to libvirtd',
        30_000,
      )
      .catch(() => null); // a host with no running domain records nothing yet
    dom = (await client.call(REMOTE.domainCreateXml, { xmlDesc: domainXml(name, image), flags: 0 }))
      .dom;
    ctx.out(
      `  started ${name} through libvirt (${URI}), a TCG guest with machine checks enabled\n`,
    );
    await waitMceReady(client, dom);
    const command = mceCommandLine(presetFault('ar', 0, 0x1000n));
    ctx.out(
      `[libvirt] ${name}: an action-required error, injected with virsh's qemu-monitor-command: ${command}\n`,
    );
    await client.call(QEMU.domainMonitorCommand, { dom, cmd: command, flags: MONITOR_COMMAND_HMP });
    const seen = await ctx.waitFor(
      (o) => o.kind === 'failure' && o.vm === name,
      `the MEMORY_FAILURE from ${name} through libvirt`,
      30_000,
    );
    return {
      ran: true,
      vm: name,
      expect: EXPECT,
      got: seen.kind === 'failure' ? seen.failure : null,
    };
  } finally {
    if (dom !== null) await client.call(REMOTE.domainDestroy, { dom }).catch(() => {});
    await watcher.stop();
    await client.close();
  }
}

function isLibvirt(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { via?: unknown }).via === 'libvirt';
}

/** `info registers` through libvirt until the boot sector idles with CR4.MCE set. */
async function waitMceReady(client: LibvirtClient, dom: DomainRef): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { result } = await client.call(QEMU.domainMonitorCommand, {
      dom,
      cmd: 'info registers',
      flags: MONITOR_COMMAND_HMP,
    });
    const field = (n: string) =>
      Number.parseInt(new RegExp(`\\b${n}=([0-9a-fA-F]+)`).exec(result)?.[1] ?? '0', 16);
    const eip = field('EIP');
    if (
      (field('CR4') & 0x40) !== 0 &&
      field('HLT') === 1 &&
      eip >= LOAD_ADDRESS &&
      eip < LOAD_ADDRESS + MCE_HANDLER_OFFSET
    ) {
      return;
    }
    if (Date.now() > deadline) throw new Error('the libvirt guest did not reach its idle loop');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function domainXml(name: string, image: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
  <devices>
    <disk type='file' device='floppy'>
      <driver name='qemu' type='raw'/>
      <source file='${image}'/>
      <target dev='fda' bus='fdc'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
