/**
 * QEMU 7.2's memory-failure decision (target/i386: kvm_arch_on_sigbus_vcpu,
 * kvm_mce_inject, cpu_x86_inject_mce, do_inject_x86_mce) as pure functions
 * over an explicit machine-check state. Same inputs, same events, in the same
 * order, with the same monitor text; the state comes back new.
 */
import type { MemoryFailure } from '../event/model.js';
import {
  BROADCAST_BANK,
  HOST_FAULT_BANK,
  has,
  hex64,
  MCA_CODE_SRAO_SCRUB,
  MCA_CODE_SRAR_DATA_LOAD,
  MCG_CAP_COUNT_MASK,
  MCG_CTL_P,
  MCG_EXT_CTL_LMCE_EN,
  MCG_SER_P,
  MCG_STATUS_EIPV,
  MCG_STATUS_LMCE,
  MCG_STATUS_MCIP,
  MCG_STATUS_RIPV,
  MCI_MISC_PHYS_ADDR_4K,
  MCI_STATUS_AR,
  MCI_STATUS_OVER,
  MCI_STATUS_UC,
  MCI_STATUS_UCR,
  MCI_STATUS_VAL,
  U64_MASK,
} from './bits.js';
import { type McaBank, type McaState, type VmMca, withBank, withVcpu } from './state.js';

/** SIGBUS on the host: the kernel found poisoned memory QEMU had mapped. */
export interface HostFault {
  readonly kind: 'host';
  /** BUS_MCEERR_AR (touched it: action required) or BUS_MCEERR_AO (found by scrubbing: action optional). */
  readonly code: 'AR' | 'AO';
  /** The guest-physical address when `inGuestRam`; otherwise QEMU's own address (only reported). */
  readonly address: bigint;
  /** The page backs guest RAM (KVM can translate it) rather than QEMU's own memory. */
  readonly inGuestRam: boolean;
  /** The vCPU whose thread took the signal: AR arrives on the vCPU that touched the page; AO on vCPU 0. */
  readonly cpu?: number;
}

/** A machine check put straight on a vCPU, as the `mce` monitor command does. */
export interface GuestFault {
  readonly kind: 'guest';
  readonly cpu: number;
  readonly bank: number;
  readonly status: bigint;
  readonly mcgStatus: bigint;
  readonly addr: bigint;
  readonly misc: bigint;
  /** `mce -b`: also raise a machine check on every other vCPU. */
  readonly broadcast?: boolean;
}

export type Fault = HostFault | GuestFault;

/** What the guest experienced: a machine check (raised or logged), a reset, or nothing. */
export type GuestEffect = 'injected' | 'reset' | 'none';

export interface Decision {
  /** Every MEMORY_FAILURE, in emission order (a broadcast emits one per vCPU). */
  readonly events: readonly MemoryFailure[];
  /** The first of `events`, or null: the common single-vCPU case. */
  readonly event: MemoryFailure | null;
  /**
   * `reset` when any vCPU requested a system reset (one reset however many
   * asked; the caller applies it with `resetVm`, after the events, as QEMU's
   * main loop does); else `injected` when a machine check was raised or
   * logged; else `none`. A corrected error counts as injected: QEMU reports
   * `inject` for it although no #MC is raised.
   */
  readonly guestEffect: GuestEffect;
  /** QEMU exits at once (hypervisor fatal). */
  readonly exits: boolean;
  readonly exitStatus?: number;
  /** What QEMU prints on the monitor that asked (guest path), verbatim, `\n` line ends. */
  readonly monitorText: string;
  /** What QEMU reports on stderr (error_report/warn_report), one line each. */
  readonly log: readonly string[];
  /** The state after the injection, before any reset. */
  readonly state: VmMca;
}

export function decide(vm: VmMca, fault: Fault): Decision {
  return fault.kind === 'host' ? decideHost(vm, fault) : decideGuest(vm, fault);
}

/** The `mce` monitor command: always injects an AO even while MCIP is set. */
function decideGuest(vm: VmMca, f: GuestFault): Decision {
  return injectMce(vm, f.cpu, f, { unconditionalAo: true, broadcast: f.broadcast ?? false });
}

function decideHost(vm: VmMca, f: HostFault): Decision {
  const cpu = f.cpu ?? 0;
  const vcpu = vm.vcpus[cpu];
  const where = hex64(f.address);
  if (vcpu && has(vcpu.mcgCap, MCG_SER_P) && f.inGuestRam) {
    const ar = f.code === 'AR';
    let status = MCI_STATUS_UCR;
    let mcgStatus = MCG_STATUS_MCIP | MCG_STATUS_RIPV;
    if (ar) {
      status |= MCI_STATUS_AR | MCA_CODE_SRAR_DATA_LOAD;
      mcgStatus |= MCG_STATUS_EIPV;
    } else {
      status |= MCA_CODE_SRAO_SCRUB;
    }
    let broadcast = vm.mcaBroadcast;
    if (has(vcpu.mcgExtCtl, MCG_EXT_CTL_LMCE_EN)) {
      mcgStatus |= MCG_STATUS_LMCE;
      broadcast = false;
    }
    const params = {
      bank: HOST_FAULT_BANK,
      status,
      mcgStatus,
      addr: f.address,
      misc: MCI_MISC_PHYS_ADDR_4K,
    };
    const d = injectMce(vm, cpu, params, { unconditionalAo: false, broadcast });
    const kind = ar ? 'BUS_MCEERR_AR' : 'BUS_MCEERR_AO';
    return {
      ...d,
      log: [...d.log, `Guest MCE Memory Error at guest address ${where} of type ${kind} injected`],
    };
  }
  const log: string[] = [];
  if (vcpu && has(vcpu.mcgCap, MCG_SER_P) && f.code === 'AO') {
    log.push(
      `Hardware memory error at addr ${where} of type BUS_MCEERR_AO for memory used by QEMU itself`,
    );
  }
  if (f.code === 'AR') {
    const event: MemoryFailure = {
      recipient: 'hypervisor',
      action: 'fatal',
      actionRequired: true,
      recursive: false,
    };
    log.push(`QEMU got Hardware memory error at addr ${where}`);
    return { ...nothing(vm), events: [event], event, exits: true, exitStatus: 1, log };
  }
  const event: MemoryFailure = {
    recipient: 'hypervisor',
    action: 'ignore',
    actionRequired: false,
    recursive: false,
  };
  return { ...nothing(vm), events: [event], event, log };
}

interface InjectParams {
  readonly bank: number;
  readonly status: bigint;
  readonly mcgStatus: bigint;
  readonly addr: bigint;
  readonly misc: bigint;
}

interface InjectFlags {
  /** MCE_INJECT_UNCOND_AO: deliver an AO even while MCIP is set. */
  readonly unconditionalAo: boolean;
  readonly broadcast: boolean;
}

/** cpu_x86_inject_mce: the checks, the target vCPU, then (broadcast) every other vCPU. */
function injectMce(vm: VmMca, cpu: number, p: InjectParams, flags: InjectFlags): Decision {
  const vcpu = vm.vcpus[cpu];
  // The monitor command looks the vCPU up and silently does nothing when it is absent.
  if (!vcpu) return nothing(vm);
  const bankCount = Number(vcpu.mcgCap & MCG_CAP_COUNT_MASK);
  if (vcpu.mcgCap === 0n) return { ...nothing(vm), monitorText: 'MCE injection not supported\n' };
  // QEMU compares a signed bank with an unsigned count: negative banks are out of range too.
  if (p.bank < 0 || p.bank >= bankCount)
    return { ...nothing(vm), monitorText: 'Invalid MCE bank number\n' };
  if (!has(p.status, MCI_STATUS_VAL))
    return { ...nothing(vm), monitorText: 'Invalid MCE status code\n' };
  if (flags.broadcast && !vm.mcaBroadcast) {
    return { ...nothing(vm), monitorText: 'Guest CPU does not support MCA broadcast\n' };
  }
  const steps: Step[] = [];
  let state = vm;
  let params = p;
  const first = injectOne(state, cpu, params, flags.unconditionalAo);
  steps.push(first);
  state = first.state;
  if (flags.broadcast) {
    // QEMU reuses one parameter block for every other vCPU, so an OVER bit
    // added for one of them is carried on to the next: reproduced here.
    params = {
      bank: BROADCAST_BANK,
      status: MCI_STATUS_VAL | MCI_STATUS_UC,
      mcgStatus: MCG_STATUS_MCIP | MCG_STATUS_RIPV,
      addr: 0n,
      misc: 0n,
    };
    for (let other = 0; other < state.vcpus.length; other++) {
      if (other === cpu) continue;
      const step = injectOne(state, other, params, flags.unconditionalAo);
      steps.push(step);
      state = step.state;
      params = { ...params, status: step.status };
    }
  }
  const events = steps.flatMap((s) => (s.event ? [s.event] : []));
  const reset = steps.some((s) => s.reset);
  const injected = events.some((e) => e.action === 'inject');
  return {
    events,
    event: events[0] ?? null,
    guestEffect: reset ? 'reset' : injected ? 'injected' : 'none',
    exits: false,
    monitorText: steps.map((s) => s.text).join(''),
    log: [],
    state,
  };
}

interface Step {
  readonly event: MemoryFailure | null;
  readonly text: string;
  readonly reset: boolean;
  /** The status as the step left it in the shared parameter block (maybe with OVER). */
  readonly status: bigint;
  readonly state: VmMca;
}

/** What one vCPU's injection works with. */
interface Target {
  readonly vm: VmMca;
  readonly cpu: number;
  readonly p: InjectParams;
  readonly vcpu: McaState;
  /** MCi_STATUS.AR of the injected error. */
  readonly ar: boolean;
  /** MCG_STATUS.MCIP already set: an earlier machine check is still being handled. */
  readonly recursive: boolean;
}

/** do_inject_x86_mce on one vCPU. */
function injectOne(vm: VmMca, cpu: number, p: InjectParams, unconditionalAo: boolean): Step {
  const vcpu = vm.vcpus[cpu] as McaState;
  const t: Target = {
    vm,
    cpu,
    p,
    vcpu,
    ar: has(p.status, MCI_STATUS_AR),
    recursive: has(vcpu.mcgStatus, MCG_STATUS_MCIP),
  };
  if (!unconditionalAo && !t.ar && t.recursive) {
    return { event: guestEvent(t, 'ignore'), text: '', reset: false, status: p.status, state: vm };
  }
  const bank = vcpu.banks[p.bank];
  // A bank beyond this vCPU's count can only come from a broadcast to a vCPU
  // with fewer banks; QEMU would read past its array, we refuse instead.
  if (!bank) return quiet(t, `CPU ${cpu}: bank ${p.bank} does not exist\n`);
  return has(p.status, MCI_STATUS_UC) ? injectUncorrected(t, bank) : logCorrected(t, bank);
}

/** An uncorrected error: unless reporting is off, raised as #MC, or a triple fault. */
function injectUncorrected(t: Target, bank: McaBank): Step {
  const { vm, cpu, p, vcpu } = t;
  if (has(vcpu.mcgCap, MCG_CTL_P) && vcpu.mcgCtl !== U64_MASK) {
    return quiet(t, `CPU ${cpu}: Uncorrected error reporting disabled\n`);
  }
  if (bank.ctl !== U64_MASK) {
    return quiet(t, `CPU ${cpu}: Uncorrected error reporting disabled for bank ${p.bank}\n`);
  }
  const why = !vcpu.cr4Mce
    ? 'MCE capability is not enabled'
    : t.recursive
      ? 'Previous MCE still in progress'
      : null;
  if (why) {
    // QEMU prints this one without a newline.
    return {
      event: guestEvent(t, 'reset'),
      text: `CPU ${cpu}: ${why}, raising triple fault`,
      reset: true,
      status: p.status,
      state: vm,
    };
  }
  let status = p.status;
  if (has(bank.status, MCI_STATUS_VAL)) status |= MCI_STATUS_OVER;
  const next = {
    ...withBank(vcpu, p.bank, { ...bank, status, addr: p.addr, misc: p.misc }),
    mcgStatus: p.mcgStatus,
  };
  return {
    event: guestEvent(t, 'inject'),
    text: '',
    reset: false,
    status,
    state: withVcpu(vm, cpu, next),
  };
}

/**
 * A corrected error: logged in the bank, never raised; an uncorrected error
 * already logged there wins and only gains OVER.
 */
function logCorrected(t: Target, bank: McaBank): Step {
  const { vm, cpu, p, vcpu } = t;
  let status = p.status;
  let nextBank = { ...bank, status: bank.status | MCI_STATUS_OVER };
  if (!has(bank.status, MCI_STATUS_VAL) || !has(bank.status, MCI_STATUS_UC)) {
    if (has(bank.status, MCI_STATUS_VAL)) status |= MCI_STATUS_OVER;
    nextBank = { ...bank, status, addr: p.addr, misc: p.misc };
  }
  return {
    event: guestEvent(t, 'inject'),
    text: '',
    reset: false,
    status,
    state: withVcpu(vm, cpu, withBank(vcpu, p.bank, nextBank)),
  };
}

function guestEvent(t: Target, action: MemoryFailure['action']): MemoryFailure {
  return { recipient: 'guest', action, actionRequired: t.ar, recursive: t.recursive };
}

/** No event: only the monitor's text, nothing changed. */
function quiet(t: Target, text: string): Step {
  return { event: null, text, reset: false, status: t.p.status, state: t.vm };
}

function nothing(vm: VmMca): Decision {
  return {
    events: [],
    event: null,
    guestEffect: 'none',
    exits: false,
    monitorText: '',
    log: [],
    state: vm,
  };
}
