/**
 * Ready-made guest-path machine checks (the ones KVM builds for a SIGBUS,
 * and a corrected error) and the `mce` monitor line that injects a fault:
 * the values the simulator, real QEMU and the demo are all driven with.
 */
import {
  MCG_STATUS_EIPV,
  MCG_STATUS_MCIP,
  MCG_STATUS_RIPV,
  MCI_MISC_PHYS_ADDR_4K,
  MCI_STATUS_ADDRV,
  MCI_STATUS_AR,
  MCI_STATUS_EN,
  MCI_STATUS_MISCV,
  MCI_STATUS_UCR,
  MCI_STATUS_VAL,
  MCA_CODE_SRAO_SCRUB,
  MCA_CODE_SRAR_DATA_LOAD,
  HOST_FAULT_BANK,
} from './bits.js';
import type { GuestFault } from './mca.js';

export type Preset = 'ar' | 'ao' | 'corrected';
export const PRESETS: readonly Preset[] = ['ar', 'ao', 'corrected'];

/**
 * The machine checks KVM itself builds for an AR and an AO SIGBUS (bank 9,
 * same status and MCG_STATUS bits), and a corrected memory read error.
 */
export function presetFault(preset: Preset, cpu: number, addr: bigint): GuestFault {
  const base = {
    kind: 'guest' as const,
    cpu,
    bank: HOST_FAULT_BANK,
    addr,
    misc: MCI_MISC_PHYS_ADDR_4K,
  };
  switch (preset) {
    case 'ar':
      return {
        ...base,
        status: MCI_STATUS_UCR | MCI_STATUS_AR | MCA_CODE_SRAR_DATA_LOAD,
        mcgStatus: MCG_STATUS_MCIP | MCG_STATUS_RIPV | MCG_STATUS_EIPV,
      };
    case 'ao':
      return {
        ...base,
        status: MCI_STATUS_UCR | MCA_CODE_SRAO_SCRUB,
        mcgStatus: MCG_STATUS_MCIP | MCG_STATUS_RIPV,
      };
    case 'corrected':
      return {
        ...base,
        status: MCI_STATUS_VAL | MCI_STATUS_EN | MCI_STATUS_MISCV | MCI_STATUS_ADDRV | 0x9fn,
        mcgStatus: 0n,
      };
  }
}

/** The `mce` monitor command line for a guest-path fault. */
export function mceCommandLine(f: GuestFault): string {
  const h = (v: bigint) => `0x${v.toString(16)}`;
  return `mce ${f.broadcast ? '-b ' : ''}${f.cpu} ${f.bank} ${h(f.status)} ${h(f.mcgStatus)} ${h(f.addr)} ${h(f.misc)}`;
}
