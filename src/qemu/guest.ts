/**
 * Driving a real guest through QMP's human-monitor-command: start it with a
 * connected client, read its registers, wait for our boot sector to be ready,
 * inject machine checks.
 *
 *   const guest = await startGuest({ mce: true, qmpSockets: 2 }); // client on the last socket
 *   await guest.waitReady();                             // idle loop, CR4.MCE set
 *   await injectMce(guest.client, AR_MCE);               // HMP: mce 0 9 0xbd80... 0x7 0x1000 0x86
 *   await guest.stop();
 */

import { QmpClient } from '../qmp/client.js';
import {
  LOAD_ADDRESS,
  MCE_HANDLER_OFFSET,
  mceBootSector,
  PLAIN_CODE_BYTES,
  plainBootSector,
} from './bootsector.js';
import { type LaunchOptions, launchQemu, type QemuHandle } from './launch.js';

/** MCi_STATUS bits (Intel SDM vol. 3, 15.3.2.2). */
export const MCI_STATUS = {
  VAL: 1n << 63n,
  OVER: 1n << 62n,
  UC: 1n << 61n,
  EN: 1n << 60n,
  MISCV: 1n << 59n,
  ADDRV: 1n << 58n,
  PCC: 1n << 57n,
  S: 1n << 56n,
  AR: 1n << 55n,
} as const;

/** MCG_STATUS bits. */
export const MCG_STATUS = {
  RIPV: 1n << 0n,
  EIPV: 1n << 1n,
  MCIP: 1n << 2n,
  LMCE: 1n << 3n,
} as const;

export interface MceInjection {
  readonly cpu: number;
  readonly bank: number;
  readonly status: bigint;
  readonly mcgStatus: bigint;
  readonly addr: bigint;
  readonly misc: bigint;
}

const S = MCI_STATUS;
/** An action-required (SRAR) data-load error, as QEMU injects for a poisoned page: MCA code 0x134. */
export const AR_MCE: MceInjection = {
  cpu: 0,
  bank: 9,
  status: S.VAL | S.UC | S.EN | S.MISCV | S.ADDRV | S.S | S.AR | 0x134n,
  mcgStatus: MCG_STATUS.RIPV | MCG_STATUS.EIPV | MCG_STATUS.MCIP,
  addr: 0x1000n,
  misc: 0x86n,
};

/** The HMP command line for an injection. */
export function mceCommandLine(m: MceInjection): string {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  return `mce ${m.cpu} ${m.bank} ${hex(m.status)} ${hex(m.mcgStatus)} ${hex(m.addr)} ${hex(m.misc)}`;
}

export async function hmp(client: QmpClient, commandLine: string): Promise<string> {
  const out = await client.execute('human-monitor-command', { 'command-line': commandLine });
  if (typeof out !== 'string')
    throw new Error(`human-monitor-command returned ${JSON.stringify(out)}`);
  return out;
}

/** Injects a machine check; HMP reports a refused injection as text, which we turn into an error. */
export async function injectMce(client: QmpClient, m: MceInjection): Promise<void> {
  const out = await hmp(client, mceCommandLine(m));
  if (out.trim() !== '') throw new Error(`mce injection refused: ${out.trim()}`);
}

export interface GuestRegisters {
  readonly cr4: number;
  readonly halted: boolean;
  readonly eip: number;
}

export async function readRegisters(client: QmpClient): Promise<GuestRegisters> {
  const text = await hmp(client, 'info registers');
  const field = (name: string) => {
    const m = new RegExp(`\\b${name}=([0-9a-fA-F]+)`).exec(text);
    if (!m) throw new Error(`no ${name} in 'info registers' output: ${text.slice(0, 200)}`);
    return Number.parseInt(m[1]!, 16);
  };
  return { cr4: field('CR4'), eip: field('EIP'), halted: field('HLT') === 1 };
}

const CR4_MCE = 1 << 6;

/**
 * Polls the vCPU until it halts in the boot sector's idle loop, with CR4.MCE
 * as that guest sets it (the MCE guest sets it last, after installing its
 * handler). The #MC handler is not the idle loop: after a machine check the
 * guest halts there until a reset has gone through, and is not ready again
 * before it has rebooted (SeaBIOS may reset it more than once on the way).
 */
export async function waitForGuest(
  client: QmpClient,
  options: { mce: boolean; timeoutMs?: number },
): Promise<GuestRegisters> {
  const idleEnd = LOAD_ADDRESS + (options.mce ? MCE_HANDLER_OFFSET : PLAIN_CODE_BYTES);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const regs = await readRegisters(client);
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
