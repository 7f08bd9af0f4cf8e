/**
 * The hypervisor end: QEMU 7.2's memory-failure decision as a model, and a
 * simulated VM that speaks QMP and emits what the model decides.
 *
 *   import { decide, initialVm, SimulatedVm } from '../hypervisor/index.js';
 */
export * from './bits.js';
export {
  type HmpCommand,
  type HmpParse,
  type MceCommand,
  parseHmp,
  toMonitorOutput,
} from './hmp.js';
export { mceCommandLine, PRESETS, type Preset, presetFault } from './faults.js';
export {
  type Decision,
  decide,
  type Fault,
  type GuestEffect,
  type GuestFault,
  type HostFault,
} from './mca.js';
export { type Output, type RunOptions, runSimulators } from './run.js';
export {
  GUEST_PROFILES,
  type GuestProfile,
  type Injection,
  type RunStatus,
  SIMULATOR_VERSION,
  SimulatedVm,
  type SimulatorOptions,
} from './simulator.js';
export {
  guestBooted,
  initialVcpu,
  initialVm,
  type McaBank,
  type McaState,
  resetVm,
  type VcpuOptions,
  type VmMca,
  type VmOptions,
  withBank,
  withVcpu,
} from './state.js';
export { vmAddress } from './vm-address.js';
