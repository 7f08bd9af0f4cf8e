/**
 * VMs driven over QMP: the real-QEMU harness (boot sectors, launcher, HMP
 * helpers) and the injection client (a simulator or real QEMU).
 *
 *   import { startGuest, launchQemu, mceBootSector, waitForGuest, injectMce, AR_MCE } from '../qemu/index.js';
 */

export {
  BOOT_SECTOR_BYTES,
  LOAD_ADDRESS,
  MCE_HANDLER_OFFSET,
  mceBootSector,
  PLAIN_CODE_BYTES,
  plainBootSector,
} from './bootsector.js';
export {
  AR_MCE,
  type GuestOptions,
  type GuestRegisters,
  hmp,
  injectMce,
  type RunningGuest,
  readRegisters,
  startGuest,
  waitForGuest,
  waitForGuestVia,
} from './guest.js';
export {
  detectTarget,
  InjectError,
  type InjectErrorCode,
  type InjectOptions,
  type InjectOutcome,
  inject,
  type Target,
} from './inject.js';
export {
  findQemu,
  type LaunchOptions,
  launchQemu,
  QEMU_BINARY,
  type QemuExit,
  type QemuHandle,
  QemuNotFoundError,
  QemuStartError,
} from './launch.js';
