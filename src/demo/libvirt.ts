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
import { mceBootSector } from '../qemu/bootsector.js';
import { domainXml } from '../qemu/domain-xml.js';
import { waitForGuestVia } from '../qemu/guest.js';

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
    const ref = dom;
    await waitForGuestVia(
      async () =>
        (
          await client.call(QEMU.domainMonitorCommand, {
            dom: ref,
            cmd: 'info registers',
            flags: MONITOR_COMMAND_HMP,
          })
        ).result,
      { mce: true, timeoutMs: 60_000 },
    );
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
