/**
 * The demo's script: which VMs it starts and the faults it injects, in order,
 * with the MEMORY_FAILURE each one must produce. Together the steps cover
 * every outcome QEMU 7.2 can report: the guest path on real QEMU (when it is
 * installed) and the host side, which needs KVM and a poisoned page, on the
 * simulator.
 */
import type { MemoryFailure } from '../event/model.js';
import { presetFault } from '../hypervisor/faults.js';
import type { Fault } from '../hypervisor/mca.js';

/** How a demo VM is run: a real QEMU boot-sector guest, or memfail's simulator. */
export type VmKind = 'qemu' | 'simulator';

export interface DemoVmSpec {
  readonly name: string;
  /** The guest sets CR4.MCE and its #MC handler never returns (MCIP stays set). */
  readonly mce: boolean;
  /** QEMU's -no-reboot: a guest reset ends the VM (SHUTDOWN, exit). */
  readonly noReboot: boolean;
  /** Host-side faults can only be rehearsed on the simulator. */
  readonly simulatorOnly: boolean;
  readonly dialect: 'qemu' | 'seed';
  readonly role: string;
}

export interface DemoStep {
  readonly vm: string;
  readonly what: string;
  readonly fault: Fault;
  readonly expect: MemoryFailure;
  /** The VM resets (and boots again) or exits after this step. */
  readonly after?: 'reboot' | 'exit';
}

const GUEST_PAGE = 0x10_0000n;
const HYPERVISOR_PAGE = 0x7f12_3456_7000n;

export const DEMO_VMS: readonly DemoVmSpec[] = [
  {
    name: 'web-1',
    mce: true,
    noReboot: false,
    simulatorOnly: false,
    dialect: 'qemu',
    role: 'guest with machine-check handling (CR4.MCE set)',
  },
  {
    name: 'batch-2',
    mce: false,
    noReboot: true,
    simulatorOnly: false,
    dialect: 'qemu',
    role: 'guest that never enabled machine checks, run with -no-reboot',
  },
  {
    name: 'db-3',
    mce: true,
    noReboot: false,
    simulatorOnly: true,
    dialect: 'qemu',
    role: 'host-side failures (SIGBUS from a poisoned page under KVM)',
  },
  {
    name: 'legacy-4',
    mce: true,
    noReboot: false,
    simulatorOnly: true,
    dialect: 'seed',
    role: "speaks the seed patch's dialect of MEMORY_FAILURE",
  },
];

const guest = (
  action: MemoryFailure['action'],
  actionRequired: boolean,
  recursive: boolean,
): MemoryFailure => ({ recipient: 'guest', action, actionRequired, recursive });

export const DEMO_STEPS: readonly DemoStep[] = [
  {
    vm: 'web-1',
    what: 'action-optional machine check (memory scrubber found a bad page)',
    fault: presetFault('ao', 0, GUEST_PAGE),
    expect: guest('inject', false, false),
  },
  {
    vm: 'web-1',
    what: 'action-required machine check while the first is still being handled',
    fault: presetFault('ar', 0, GUEST_PAGE + 0x1000n),
    expect: guest('reset', true, true),
    after: 'reboot',
  },
  {
    vm: 'web-1',
    what: 'action-required machine check after the reboot (guest read a poisoned page)',
    fault: presetFault('ar', 0, GUEST_PAGE + 0x2000n),
    expect: guest('inject', true, false),
  },
  {
    vm: 'web-1',
    what: 'corrected memory error logged while the #MC handler still runs',
    fault: presetFault('corrected', 0, GUEST_PAGE + 0x3000n),
    expect: guest('inject', false, true),
  },
  {
    vm: 'batch-2',
    what: 'action-required machine check in a guest without MCE enabled',
    fault: presetFault('ar', 0, GUEST_PAGE),
    expect: guest('reset', true, false),
    after: 'exit',
  },
  {
    vm: 'db-3',
    what: "host SIGBUS, action optional, in QEMU's own memory",
    fault: { kind: 'host', code: 'AO', address: HYPERVISOR_PAGE, inGuestRam: false },
    expect: { recipient: 'hypervisor', action: 'ignore', actionRequired: false, recursive: false },
  },
  {
    vm: 'db-3',
    what: 'host SIGBUS, action required, in guest RAM',
    fault: { kind: 'host', code: 'AR', address: GUEST_PAGE, inGuestRam: true },
    expect: guest('inject', true, false),
  },
  {
    vm: 'db-3',
    what: 'host SIGBUS, action optional, in guest RAM while the guest still handles the last one',
    fault: { kind: 'host', code: 'AO', address: GUEST_PAGE + 0x1000n, inGuestRam: true },
    expect: guest('ignore', false, true),
  },
  {
    vm: 'legacy-4',
    what: 'action-required machine check (seed dialect on the wire)',
    fault: presetFault('ar', 0, GUEST_PAGE),
    expect: guest('inject', true, false),
  },
  {
    vm: 'db-3',
    what: "host SIGBUS, action required, in QEMU's own memory",
    fault: { kind: 'host', code: 'AR', address: HYPERVISOR_PAGE, inGuestRam: false },
    expect: { recipient: 'hypervisor', action: 'fatal', actionRequired: true, recursive: false },
    after: 'exit',
  },
];
