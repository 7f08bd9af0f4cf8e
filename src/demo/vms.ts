/**
 * The demo's VMs: real QEMU boot-sector guests where QEMU is installed and the
 * step allows it, memfail's simulator otherwise. Each VM offers one QMP address
 * for the watching agent and a second, connected client for the injector (a
 * real QEMU QMP socket serves one client at a time).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedVm } from '../hypervisor/simulator.js';
import { type QmpAddress, unixAddress } from '../qmp/address.js';
import { QmpClient } from '../qmp/client.js';
import {
  LOAD_ADDRESS,
  MCE_HANDLER_OFFSET,
  mceBootSector,
  plainBootSector,
} from '../qemu/bootsector.js';
import { readRegisters } from '../qemu/guest.js';
import { launchQemu } from '../qemu/launch.js';
import type { DemoVmSpec, VmKind } from './plan.js';

export interface DemoVm {
  readonly spec: DemoVmSpec;
  readonly kind: VmKind;
  /** Where the agent watches this VM. */
  readonly watchAddress: QmpAddress;
  /** A negotiated client for injections. */
  readonly injector: QmpClient;
  /** Resolves once the guest is ready for the next fault (after boot or reboot). */
  waitReady(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDemoVm(spec: DemoVmSpec, kind: VmKind, dir: string): Promise<DemoVm> {
  return kind === 'qemu' ? startQemuVm(spec) : startSimulatedVm(spec, dir);
}

async function startSimulatedVm(spec: DemoVmSpec, dir: string): Promise<DemoVm> {
  const vm = new SimulatedVm({
    dialect: spec.dialect,
    guest: spec.mce ? 'stuck' : 'no-mce',
    noReboot: spec.noReboot,
  });
  const watchAddress = await vm.listen(unixAddress(join(dir, `${spec.name}.qmp`)));
  const injector = new QmpClient();
  await injector.connect(watchAddress);
  return {
    spec,
    kind: 'simulator',
    watchAddress,
    injector,
    waitReady: async () => {},
    stop: async () => {
      await injector.close();
      if (!vm.exiting) await vm.shutdown('host-qmp-quit');
    },
  };
}

async function startQemuVm(spec: DemoVmSpec): Promise<DemoVm> {
  const qemu = await launchQemu({
    bootSector: spec.mce ? mceBootSector() : plainBootSector(),
    noReboot: spec.noReboot,
    qmpSockets: 2,
  });
  const [watchAddress, injectAddress] = qemu.qmp as [QmpAddress, QmpAddress];
  const injector = new QmpClient();
  try {
    await injector.connect(injectAddress);
  } catch (err) {
    await qemu.kill();
    throw err;
  }
  return {
    spec,
    kind: 'qemu',
    watchAddress,
    injector,
    waitReady: () => waitForIdleLoop(injector, spec.mce),
    stop: async () => {
      await injector.close();
      await qemu.kill();
    },
  };
}

/**
 * Polls the vCPU until it halts in the boot sector's idle loop (not in its
 * #MC handler, where the guest still sits until a reset has gone through),
 * with CR4.MCE as the guest sets it.
 */
async function waitForIdleLoop(client: QmpClient, mce: boolean, timeoutMs = 30_000): Promise<void> {
  const idleEnd = LOAD_ADDRESS + (mce ? MCE_HANDLER_OFFSET : 4);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const regs = await readRegisters(client);
    const idle = regs.halted && regs.eip >= LOAD_ADDRESS && regs.eip < idleEnd;
    if (idle && ((regs.cr4 & CR4_MCE) !== 0) === mce) return;
    if (Date.now() > deadline) {
      throw new Error(`the guest did not reach its idle loop (EIP=${regs.eip.toString(16)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const CR4_MCE = 1 << 6;

export async function demoDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'memfail-demo-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
