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
import { startGuest } from '../qemu/guest.js';
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
  // The injector takes the last socket; the first is left for the agent.
  const guest = await startGuest({ mce: spec.mce, noReboot: spec.noReboot, qmpSockets: 2 });
  return {
    spec,
    kind: 'qemu',
    watchAddress: guest.vm.qmp[0]!,
    injector: guest.client,
    waitReady: guest.waitReady,
    stop: guest.stop,
  };
}

export async function demoDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'memfail-demo-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
