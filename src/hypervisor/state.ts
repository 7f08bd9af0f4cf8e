/**
 * The machine-check state of a VM's vCPUs: exactly what QEMU's decision reads
 * and writes (target/i386 CPUX86State's mcg_* fields, the MCE banks, CR4.MCE).
 * Values are immutable; the decision returns a new state.
 */
import { ALL_ONES, MCG_CAP_DEFAULT } from './bits.js';

export interface McaBank {
  /** MCi_CTL: all ones = report every error class of this bank. */
  readonly ctl: bigint;
  readonly status: bigint;
  readonly addr: bigint;
  readonly misc: bigint;
}

export interface McaState {
  readonly mcgCap: bigint;
  readonly mcgCtl: bigint;
  readonly mcgStatus: bigint;
  /** IA32_MCG_EXT_CTL (LMCE_EN): the KVM path then skips the broadcast. */
  readonly mcgExtCtl: bigint;
  /** CR4.MCE (bit 6): the guest OS enabled machine-check exceptions. */
  readonly cr4Mce: boolean;
  readonly banks: readonly McaBank[];
}

export interface VmMca {
  readonly vcpus: readonly McaState[];
  /**
   * The vCPU model supports MCA broadcast (family 6 model >= 14, or family > 6:
   * true for QEMU's default qemu64 and for every modern host CPU).
   */
  readonly mcaBroadcast: boolean;
}

export interface VcpuOptions {
  readonly mcgCap?: bigint;
  readonly cr4Mce?: boolean;
}

/** A vCPU as QEMU sets it up (reporting enabled everywhere), its OS having set CR4.MCE or not. */
export function initialVcpu(options: VcpuOptions = {}): McaState {
  const mcgCap = options.mcgCap ?? MCG_CAP_DEFAULT;
  const count = Number(mcgCap & 0xffn);
  return {
    mcgCap,
    mcgCtl: ALL_ONES,
    mcgStatus: 0n,
    mcgExtCtl: 0n,
    cr4Mce: options.cr4Mce ?? true,
    banks: Array.from({ length: count }, () => ({ ctl: ALL_ONES, status: 0n, addr: 0n, misc: 0n })),
  };
}

export interface VmOptions extends VcpuOptions {
  readonly vcpus?: number;
  readonly mcaBroadcast?: boolean;
}

/** A running VM whose guest sees what a modern Linux guest on KVM sees: SER_P, CTL_P, 10 banks. */
export function initialVm(options: VmOptions = {}): VmMca {
  const n = options.vcpus ?? 1;
  return {
    vcpus: Array.from({ length: n }, () => initialVcpu(options)),
    mcaBroadcast: options.mcaBroadcast ?? true,
  };
}

/**
 * A system reset as QEMU does it: CR4 and MCG_STATUS (and MCG_EXT_CTL) are
 * cleared, while MCG_CAP, MCG_CTL and the banks survive, as real hardware
 * keeps its bank logs across a warm reset. The guest must set CR4.MCE again
 * when it boots (see `guestBooted`).
 */
export function resetVm(vm: VmMca): VmMca {
  return {
    ...vm,
    vcpus: vm.vcpus.map((v) => ({ ...v, cr4Mce: false, mcgStatus: 0n, mcgExtCtl: 0n })),
  };
}

/** The guest OS (re)started and enabled machine checks, or not. */
export function guestBooted(vm: VmMca, enablesMce: boolean): VmMca {
  return { ...vm, vcpus: vm.vcpus.map((v) => ({ ...v, cr4Mce: enablesMce })) };
}

export function withVcpu(vm: VmMca, index: number, vcpu: McaState): VmMca {
  return { ...vm, vcpus: vm.vcpus.map((v, i) => (i === index ? vcpu : v)) };
}

export function withBank(vcpu: McaState, index: number, bank: McaBank): McaState {
  return { ...vcpu, banks: vcpu.banks.map((b, i) => (i === index ? bank : b)) };
}
