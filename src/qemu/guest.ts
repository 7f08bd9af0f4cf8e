/**
 * Driving a real guest through QMP's human-monitor-command: read its
 * registers, wait for our boot sector to be ready, inject machine checks.
 *
 *   await waitForGuest(client, { mce: true });           // CR4.MCE set, halted
 *   await injectMce(client, AR_MCE);                     // HMP: mce 0 9 0xbd80... 0x7 0x1000 0x86
 */

import type { QmpClient } from '../qmp/client.js';

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
 * Polls the vCPU until it halts inside the boot sector (and, for the MCE
 * guest, with CR4.MCE set, which the code does after installing its handler).
 */
export async function waitForGuest(
  client: QmpClient,
  options: { mce: boolean; timeoutMs?: number },
): Promise<GuestRegisters> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const regs = await readRegisters(client);
    const inBootSector = regs.eip >= 0x7c00 && regs.eip < 0x7e00;
    if (regs.halted && inBootSector && (!options.mce || (regs.cr4 & CR4_MCE) !== 0)) return regs;
    if (Date.now() > deadline) {
      throw new Error(
        `guest not ready: EIP=${regs.eip.toString(16)} CR4=${regs.cr4.toString(16)} HLT=${regs.halted}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
