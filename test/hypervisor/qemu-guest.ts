/**
 * Test support: a real QEMU 7.2 (TCG) running one of src/qemu's boot-sector
 * guests, reached over QMP. The `mce` guest sets CR4.MCE and points #MC at a
 * handler that never returns (the first AR machine check is delivered, the
 * second finds MCIP still set); the plain guest never sets CR4.MCE.
 */
import { QemuNotFoundError, findQemu, launchQemu } from '../../src/qemu/launch.js';
import { mceBootSector, plainBootSector } from '../../src/qemu/bootsector.js';
import { waitForGuest } from '../../src/qemu/guest.js';
import { QmpClient } from '../../src/qmp/client.js';

/** Fails (never skips) when QEMU is missing, saying how to get it. */
export function requireQemu(): void {
  try {
    findQemu();
  } catch (err) {
    if (err instanceof QemuNotFoundError)
      throw new Error(`${err.message} Run \`bash scripts/setup.sh --test\`.`);
    throw err;
  }
}

export interface QemuGuest {
  readonly client: QmpClient;
  /** QEMU's exit status. */
  readonly exited: Promise<number | null>;
  /** A second QMP socket for another client (a QMP socket serves one client at a time). */
  readonly secondQmp: string;
  /** Until the guest idles in its boot sector (after boot or reboot), CR4.MCE set for the mce guest. */
  waitReady(): Promise<void>;
  stop(): Promise<void>;
}

export interface GuestOptions {
  readonly mce: boolean;
  readonly vcpus?: number;
  readonly noReboot?: boolean;
}

export async function startQemuGuest(options: GuestOptions): Promise<QemuGuest> {
  requireQemu();
  const qemu = await launchQemu({
    bootSector: options.mce ? mceBootSector() : plainBootSector(),
    qmpSockets: 2,
    noReboot: options.noReboot ?? false,
    extraArgs: ['-smp', String(options.vcpus ?? 1)],
  });
  const client = new QmpClient();
  try {
    await client.connect(qemu.qmp[0] as (typeof qemu.qmp)[number]);
  } catch (err) {
    await qemu.kill();
    throw err;
  }
  return {
    client,
    exited: qemu.exited.then((e) => e.code),
    secondQmp: (qemu.qmp[1] as (typeof qemu.qmp)[number]).path,
    waitReady: async () => {
      await waitForGuest(client, { mce: options.mce });
    },
    stop: async () => {
      await client.close().catch(() => {});
      await qemu.kill();
    },
  };
}
