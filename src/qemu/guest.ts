/**
 * Driving a real guest through QMP's human-monitor-command: start it with a
 * connected client, read its registers, wait for our boot sector to be ready,
 * inject machine checks.
 *
 *   const guest = await startGuest({ mce: true, qmpSockets: 2 }); // client on the last socket
 *   await guest.waitReady();                             // idle loop, CR4.MCE set
 *   await injectMce(guest.client, AR_MCE);               // HMP: mce 0 9 0xbd80... 0x7 0x1000 0x8c
 *   await guest.stop();
 */

import { CR4_MCE_BIT } from '../hypervisor/bits.js';
import { mceCommandLine, presetFault } from '../hypervisor/faults.js';
import type { GuestFault } from '../hypervisor/mca.js';
import { QmpClient } from '../qmp/client.js';
import {
  LOAD_ADDRESS,
  MCE_HANDLER_OFFSET,
  mceBootSector,
  PLAIN_CODE_BYTES,
  plainBootSector,
} from './bootsector.js';
import { type LaunchOptions, launchQemu, type QemuHandle } from './launch.js';

/**
 * An action-required (SRAR) data-load error on vCPU 0, as KVM builds one for
 * a poisoned page (`memfail inject --preset ar`).
 */
export const AR_MCE: GuestFault = presetFault('ar', 0, 0x1000n);

export async function hmp(client: QmpClient, commandLine: string): Promise<string> {
  const out = await client.execute('human-monitor-command', { 'command-line': commandLine });
  if (typeof out !== 'string')
    throw new Error(`human-monitor-command returned ${JSON.stringify(out)}`);
  return out;
}

/** Injects a machine check; HMP reports a refused injection as text, which we turn into an error. */
export async function injectMce(client: QmpClient, fault: GuestFault): Promise<void> {
  const out = await hmp(client, mceCommandLine(fault));
  if (out.trim() !== '') throw new Error(`mce injection refused: ${out.trim()}`);
}

export interface GuestRegisters {
  readonly cr4: number;
  readonly halted: boolean;
  readonly eip: number;
}

export async function readRegisters(client: QmpClient): Promise<GuestRegisters> {
  return registersIn(await hmp(client, 'info registers'));
}

/** The registers in HMP's `info registers` text (whichever way it was asked: QMP, libvirt, virsh). */
export function registersIn(text: string): GuestRegisters {
  const field = (name: string) => {
    const m = new RegExp(`\\b${name}=([0-9a-fA-F]+)`).exec(text);
    if (!m) throw new Error(`no ${name} in 'info registers' output: ${text.slice(0, 200)}`);
    return Number.parseInt(m[1]!, 16);
  };
  return { cr4: field('CR4'), eip: field('EIP'), halted: field('HLT') === 1 };
}

const CR4_MCE = 1 << CR4_MCE_BIT;

/**
 * Polls the vCPU until it halts in the boot sector's idle loop, with CR4.MCE
 * as that guest sets it (the MCE guest sets it last, after installing its
 * handler). The #MC handler is not the idle loop: after a machine check the
 * guest halts there until a reset has gone through, and is not ready again
 * before it has rebooted (SeaBIOS may reset it more than once on the way).
 */
export function waitForGuest(
  client: QmpClient,
  options: { mce: boolean; timeoutMs?: number },
): Promise<GuestRegisters> {
  return waitForGuestVia(() => hmp(client, 'info registers'), options);
}

/**
 * waitForGuest with `infoRegisters` asking HMP's `info registers` another
 * way (libvirt's qemu-monitor-command, virsh).
 */
export async function waitForGuestVia(
  infoRegisters: () => Promise<string>,
  options: { mce: boolean; timeoutMs?: number },
): Promise<GuestRegisters> {
  const idleEnd = LOAD_ADDRESS + (options.mce ? MCE_HANDLER_OFFSET : PLAIN_CODE_BYTES);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const regs = registersIn(await infoRegisters());
    const idle = regs.halted && regs.eip >= LOAD_ADDRESS && regs.eip < idleEnd;
    if (idle && ((regs.cr4 & CR4_MCE) !== 0) === options.mce) return regs;
    if (Date.now() > deadline) {
      throw new Error(
        `guest did not reach its idle loop: EIP=${regs.eip.toString(16)} CR4=${regs.cr4.toString(16)} HLT=${regs.halted}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface GuestOptions extends Omit<LaunchOptions, 'bootSector'> {
  /** Boot the MCE guest (CR4.MCE, a #MC handler that never returns) or the plain one. */
  readonly mce: boolean;
}

export interface RunningGuest {
  readonly vm: QemuHandle;
  /** Negotiated, on the last QMP socket: the others stay free for other clients. */
  readonly client: QmpClient;
  /** Until the guest idles in its boot sector again (after boot or reboot). */
  waitReady(): Promise<void>;
  /** Closes the client and kills QEMU. */
  stop(): Promise<void>;
}

/** Launches QEMU on one of our boot sectors and connects a client; kills QEMU when connecting fails. */
export async function startGuest(options: GuestOptions): Promise<RunningGuest> {
  const vm = await launchQemu({
    ...options,
    bootSector: options.mce ? mceBootSector() : plainBootSector(),
  });
  const client = new QmpClient();
  try {
    const last = vm.qmp.at(-1);
    if (last === undefined) throw new RangeError('startGuest needs at least one QMP socket');
    await client.connect(last);
  } catch (err) {
    await vm.kill();
    throw err;
  }
  return {
    vm,
    client,
    waitReady: async () => {
      await waitForGuest(client, { mce: options.mce });
    },
    stop: async () => {
      await client.close();
      await vm.kill();
    },
  };
}
