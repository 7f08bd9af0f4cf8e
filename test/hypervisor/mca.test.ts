import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MemoryFailure } from '../../src/event/model.js';
import {
  ALL_ONES,
  MCG_CAP_DEFAULT,
  MCG_CTL_P,
  MCG_EXT_CTL_LMCE_EN,
  MCG_SER_P,
  MCG_STATUS_EIPV,
  MCG_STATUS_LMCE,
  MCG_STATUS_MCIP,
  MCG_STATUS_RIPV,
  MCI_STATUS_ADDRV,
  MCI_STATUS_AR,
  MCI_STATUS_EN,
  MCI_STATUS_MISCV,
  MCI_STATUS_OVER,
  MCI_STATUS_S,
  MCI_STATUS_UC,
  MCI_STATUS_VAL,
} from '../../src/hypervisor/bits.js';
import { type Decision, decide, type Fault } from '../../src/hypervisor/mca.js';
import {
  guestBooted,
  initialVm,
  type McaState,
  resetVm,
  type VmMca,
  withBank,
  withVcpu,
} from '../../src/hypervisor/state.js';

const ev = (
  recipient: MemoryFailure['recipient'],
  action: MemoryFailure['action'],
  actionRequired: boolean,
  recursive: boolean,
): MemoryFailure => ({ recipient, action, actionRequired, recursive });

/** Change vCPU `i` of a VM. */
function vcpu(vm: VmMca, i: number, change: (v: McaState) => McaState): VmMca {
  return withVcpu(vm, i, change(vm.vcpus[i] as McaState));
}
const mcip = (vm: VmMca, i = 0) =>
  vcpu(vm, i, (v) => ({ ...v, mcgStatus: MCG_STATUS_MCIP | MCG_STATUS_RIPV }));
const bankStatus = (vm: VmMca, cpu: number, bank: number, status: bigint) =>
  vcpu(vm, cpu, (v) =>
    withBank(v, bank, { ...(v.banks[bank] as McaState['banks'][number]), status }),
  );

const one = initialVm();
const two = initialVm({ vcpus: 2 });
const noSer = initialVm({ mcgCap: MCG_CAP_DEFAULT & ~MCG_SER_P });

const UCR =
  MCI_STATUS_VAL |
  MCI_STATUS_UC |
  MCI_STATUS_EN |
  MCI_STATUS_MISCV |
  MCI_STATUS_ADDRV |
  MCI_STATUS_S;
const HOST_AR_STATUS = UCR | MCI_STATUS_AR | 0x134n;
const HOST_AO_STATUS = UCR | 0xc0n;
const host = (code: 'AR' | 'AO', inGuestRam = true, cpu?: number): Fault => ({
  kind: 'host',
  code,
  address: 0x1234000n,
  inGuestRam,
  ...(cpu === undefined ? {} : { cpu }),
});
const mce = (status: bigint, extra: Partial<Extract<Fault, { kind: 'guest' }>> = {}): Fault => ({
  kind: 'guest',
  cpu: 0,
  bank: 1,
  status,
  mcgStatus: MCG_STATUS_MCIP | MCG_STATUS_RIPV | MCG_STATUS_EIPV,
  addr: 0x2000n,
  misc: 0x8cn,
  ...extra,
});
const AR_UC = UCR | MCI_STATUS_AR | 0x134n;
const AO_UC = UCR | 0xc0n;
const CORRECTED = MCI_STATUS_VAL | MCI_STATUS_EN | 0x9fn;

interface Row {
  readonly name: string;
  readonly vm: VmMca;
  readonly fault: Fault;
  readonly events: readonly MemoryFailure[];
  readonly effect: Decision['guestEffect'];
  readonly exitStatus?: number;
  readonly text?: string;
  readonly check?: (d: Decision) => void;
}

const rows: Row[] = [
  // ---- host side: SIGBUS from KVM ----
  {
    name: 'host AR in guest RAM, SER_P: AR machine check into bank 9, broadcast to the other vCPU',
    vm: two,
    fault: host('AR'),
    events: [ev('guest', 'inject', true, false), ev('guest', 'inject', false, false)],
    effect: 'injected',
    check: (d) => {
      const [v0, v1] = d.state.vcpus as [McaState, McaState];
      assert.equal(v0.banks[9]?.status, HOST_AR_STATUS);
      assert.equal(v0.banks[9]?.addr, 0x1234000n);
      assert.equal(v0.banks[9]?.misc, 0x8cn);
      assert.equal(v0.mcgStatus, MCG_STATUS_MCIP | MCG_STATUS_RIPV | MCG_STATUS_EIPV);
      assert.equal(v1.banks[1]?.status, MCI_STATUS_VAL | MCI_STATUS_UC);
      assert.equal(v1.mcgStatus, MCG_STATUS_MCIP | MCG_STATUS_RIPV);
    },
  },
  {
    name: 'host AO in guest RAM, SER_P: AO machine check (code 0xc0, RIPV|MCIP)',
    vm: one,
    fault: host('AO'),
    events: [ev('guest', 'inject', false, false)],
    effect: 'injected',
    check: (d) => {
      assert.equal(d.state.vcpus[0]?.banks[9]?.status, HOST_AO_STATUS);
      assert.equal(d.state.vcpus[0]?.mcgStatus, MCG_STATUS_MCIP | MCG_STATUS_RIPV);
    },
  },
  {
    name: 'host AO while MCIP is set: ignored (the KVM path is not unconditional)',
    vm: mcip(one),
    fault: host('AO'),
    events: [ev('guest', 'ignore', false, true)],
    effect: 'none',
    check: (d) => assert.equal(d.state.vcpus[0]?.mcgStatus, MCG_STATUS_MCIP | MCG_STATUS_RIPV),
  },
  {
    name: 'host AR while MCIP is set: triple fault, guest reset',
    vm: mcip(one),
    fault: host('AR'),
    events: [ev('guest', 'reset', true, true)],
    effect: 'reset',
  },
  {
    name: 'host AR, guest never set CR4.MCE: guest reset',
    vm: guestBooted(one, false),
    fault: host('AR'),
    events: [ev('guest', 'reset', true, false)],
    effect: 'reset',
  },
  {
    name: 'host AR with LMCE enabled: LMCE in MCG_STATUS and no broadcast',
    vm: vcpu(two, 0, (v) => ({ ...v, mcgExtCtl: MCG_EXT_CTL_LMCE_EN })),
    fault: host('AR'),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
    check: (d) => {
      assert.equal(
        d.state.vcpus[0]?.mcgStatus,
        MCG_STATUS_MCIP | MCG_STATUS_RIPV | MCG_STATUS_EIPV | MCG_STATUS_LMCE,
      );
      assert.equal(d.state.vcpus[1]?.mcgStatus, 0n);
    },
  },
  {
    name: 'host AR on a vCPU model without broadcast: only that vCPU',
    vm: { ...two, mcaBroadcast: false },
    fault: host('AR', true, 1),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
    check: (d) => assert.equal(d.state.vcpus[0]?.mcgStatus, 0n),
  },
  {
    name: 'host AR in guest RAM without SER_P: hypervisor fatal, exit 1',
    vm: noSer,
    fault: host('AR'),
    events: [ev('hypervisor', 'fatal', true, false)],
    effect: 'none',
    exitStatus: 1,
  },
  {
    name: 'host AO in guest RAM without SER_P: hypervisor ignore',
    vm: noSer,
    fault: host('AO'),
    events: [ev('hypervisor', 'ignore', false, false)],
    effect: 'none',
  },
  {
    name: "host AR in QEMU's own memory: hypervisor fatal, exit 1",
    vm: one,
    fault: host('AR', false),
    events: [ev('hypervisor', 'fatal', true, false)],
    effect: 'none',
    exitStatus: 1,
  },
  {
    name: "host AO in QEMU's own memory: hypervisor ignore, runs on",
    vm: one,
    fault: host('AO', false),
    events: [ev('hypervisor', 'ignore', false, false)],
    effect: 'none',
  },
  {
    name: 'host AR with fewer than 10 banks: bank 9 refused, nothing reported',
    vm: initialVm({ mcgCap: MCG_CTL_P | MCG_SER_P | 5n }),
    fault: host('AR'),
    events: [],
    effect: 'none',
  },
  // ---- guest path: the `mce` monitor command ----
  {
    name: 'mce AR: delivered',
    vm: one,
    fault: mce(AR_UC),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
    check: (d) => {
      assert.equal(d.state.vcpus[0]?.banks[1]?.status, AR_UC);
      assert.equal(
        d.state.vcpus[0]?.mcgStatus,
        MCG_STATUS_MCIP | MCG_STATUS_RIPV | MCG_STATUS_EIPV,
      );
    },
  },
  {
    name: 'mce AO while MCIP is set: unconditional, so a triple fault rather than ignore',
    vm: mcip(one),
    fault: mce(AO_UC),
    events: [ev('guest', 'reset', false, true)],
    effect: 'reset',
    text: 'CPU 0: Previous MCE still in progress, raising triple fault',
  },
  {
    name: 'mce UC with CTL_P and MCG_CTL not all ones: reporting disabled, no event',
    vm: vcpu(one, 0, (v) => ({ ...v, mcgCtl: 0n })),
    fault: mce(AR_UC),
    events: [],
    effect: 'none',
    text: 'CPU 0: Uncorrected error reporting disabled\n',
  },
  {
    name: 'mce UC, MCG_CTL not all ones but no CTL_P: MCG_CTL does not count',
    vm: vcpu(one, 0, (v) => ({ ...v, mcgCap: v.mcgCap & ~MCG_CTL_P, mcgCtl: 0n })),
    fault: mce(AR_UC),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
  },
  {
    name: 'mce UC with the bank CTL not all ones: disabled for the bank, no event',
    vm: vcpu(one, 0, (v) =>
      withBank(v, 1, { ...(v.banks[1] as McaState['banks'][number]), ctl: ALL_ONES - 1n }),
    ),
    fault: mce(AR_UC),
    events: [],
    effect: 'none',
    text: 'CPU 0: Uncorrected error reporting disabled for bank 1\n',
  },
  {
    name: 'mce UC, CR4.MCE clear: reset, MCE-not-enabled message',
    vm: guestBooted(one, false),
    fault: mce(AO_UC),
    events: [ev('guest', 'reset', false, false)],
    effect: 'reset',
    text: 'CPU 0: MCE capability is not enabled, raising triple fault',
  },
  {
    name: 'mce UC, CR4.MCE clear and MCIP set: CR4 is checked first',
    vm: mcip(guestBooted(one, false)),
    fault: mce(AR_UC),
    events: [ev('guest', 'reset', true, true)],
    effect: 'reset',
    text: 'CPU 0: MCE capability is not enabled, raising triple fault',
  },
  {
    name: 'mce UC onto a bank already holding an error: OVER',
    vm: bankStatus(one, 0, 1, CORRECTED),
    fault: mce(AR_UC),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
    check: (d) => assert.equal(d.state.vcpus[0]?.banks[1]?.status, AR_UC | MCI_STATUS_OVER),
  },
  {
    name: 'corrected into an empty bank: logged, MCG_STATUS untouched',
    vm: one,
    fault: mce(CORRECTED),
    events: [ev('guest', 'inject', false, false)],
    effect: 'injected',
    check: (d) => {
      assert.equal(d.state.vcpus[0]?.banks[1]?.status, CORRECTED);
      assert.equal(d.state.vcpus[0]?.banks[1]?.addr, 0x2000n);
      assert.equal(d.state.vcpus[0]?.mcgStatus, 0n);
    },
  },
  {
    name: 'corrected over a corrected error: replaces it with OVER',
    vm: bankStatus(one, 0, 1, CORRECTED),
    fault: mce(CORRECTED | 1n),
    events: [ev('guest', 'inject', false, false)],
    effect: 'injected',
    check: (d) =>
      assert.equal(d.state.vcpus[0]?.banks[1]?.status, CORRECTED | 1n | MCI_STATUS_OVER),
  },
  {
    name: 'corrected over an uncorrected error: the UC one stays, gains OVER',
    vm: bankStatus(one, 0, 1, AR_UC),
    fault: mce(CORRECTED),
    events: [ev('guest', 'inject', false, false)],
    effect: 'injected',
    check: (d) => {
      assert.equal(d.state.vcpus[0]?.banks[1]?.status, AR_UC | MCI_STATUS_OVER);
      assert.equal(d.state.vcpus[0]?.banks[1]?.addr, 0n);
    },
  },
  {
    name: 'corrected while MCIP is set: still logged, reported recursive',
    vm: mcip(one),
    fault: mce(CORRECTED),
    events: [ev('guest', 'inject', false, true)],
    effect: 'injected',
  },
  {
    name: 'AR bit on a corrected status: flagged action-required as QEMU does',
    vm: one,
    fault: mce(CORRECTED | MCI_STATUS_AR),
    events: [ev('guest', 'inject', true, false)],
    effect: 'injected',
  },
  {
    name: 'unknown vCPU: silently nothing',
    vm: one,
    fault: mce(AR_UC, { cpu: 3 }),
    events: [],
    effect: 'none',
    text: '',
  },
  {
    name: 'bank out of range',
    vm: one,
    fault: mce(AR_UC, { bank: 10 }),
    events: [],
    effect: 'none',
    text: 'Invalid MCE bank number\n',
  },
  {
    name: 'negative bank',
    vm: one,
    fault: mce(AR_UC, { bank: -1 }),
    events: [],
    effect: 'none',
    text: 'Invalid MCE bank number\n',
  },
  {
    name: 'status without VAL',
    vm: one,
    fault: mce(AR_UC & ~MCI_STATUS_VAL),
    events: [],
    effect: 'none',
    text: 'Invalid MCE status code\n',
  },
  {
    name: 'a vCPU without MCA',
    vm: initialVm({ mcgCap: 0n }),
    fault: mce(AR_UC),
    events: [],
    effect: 'none',
    text: 'MCE injection not supported\n',
  },
  {
    name: 'broadcast on a vCPU model without it',
    vm: { ...two, mcaBroadcast: false },
    fault: mce(AR_UC, { broadcast: true }),
    events: [],
    effect: 'none',
    text: 'Guest CPU does not support MCA broadcast\n',
  },
  {
    name: 'mce -b on a guest without CR4.MCE: one reset event per vCPU, messages run together',
    vm: guestBooted(two, false),
    fault: mce(AR_UC, { broadcast: true }),
    events: [ev('guest', 'reset', true, false), ev('guest', 'reset', false, false)],
    effect: 'reset',
    text:
      'CPU 0: MCE capability is not enabled, raising triple fault' +
      'CPU 1: MCE capability is not enabled, raising triple fault',
  },
  {
    name: 'mce -b: an OVER added for one vCPU carries over to the next (QEMU shares one parameter block)',
    vm: bankStatus(initialVm({ vcpus: 3 }), 1, 1, CORRECTED),
    fault: mce(AR_UC, { broadcast: true }),
    events: [
      ev('guest', 'inject', true, false),
      ev('guest', 'inject', false, false),
      ev('guest', 'inject', false, false),
    ],
    effect: 'injected',
    check: (d) => {
      const carried = MCI_STATUS_VAL | MCI_STATUS_UC | MCI_STATUS_OVER;
      assert.equal(d.state.vcpus[1]?.banks[1]?.status, carried);
      assert.equal(d.state.vcpus[2]?.banks[1]?.status, carried);
    },
  },
];

describe('decide: QEMU 7.2 memory-failure decision', () => {
  for (const row of rows) {
    test(row.name, () => {
      const d = decide(row.vm, row.fault);
      assert.deepEqual(d.events, row.events);
      assert.deepEqual(d.event, row.events[0] ?? null);
      assert.equal(d.guestEffect, row.effect);
      assert.equal(d.exits, row.exitStatus !== undefined);
      assert.equal(d.exitStatus, row.exitStatus);
      if (row.text !== undefined) assert.equal(d.monitorText, row.text);
      if (
        d.events.length === 0 ||
        d.guestEffect === 'reset' ||
        d.events.every((e) => e.action === 'ignore')
      ) {
        // Nothing was logged in any bank.
        assert.deepEqual(
          d.state.vcpus.map((v) => v.banks),
          row.vm.vcpus.map((v) => v.banks),
        );
      }
      row.check?.(d);
    });
  }

  test('the state passed in is never changed', () => {
    const vm = initialVm({ vcpus: 2 });
    const snapshot = JSON.stringify(vm, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    decide(vm, host('AR'));
    decide(vm, mce(CORRECTED));
    assert.equal(
      JSON.stringify(vm, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
      snapshot,
    );
  });

  test('the boot-sector sequence: first AR injected, second AR is a recursive reset; after reset and reboot, injected again', () => {
    const first = decide(one, mce(AR_UC));
    assert.deepEqual(first.events, [ev('guest', 'inject', true, false)]);
    const second = decide(first.state, mce(AR_UC));
    assert.deepEqual(second.events, [ev('guest', 'reset', true, true)]);
    assert.equal(second.guestEffect, 'reset');
    const rebooted = guestBooted(resetVm(second.state), true);
    assert.equal(rebooted.vcpus[0]?.mcgStatus, 0n);
    assert.deepEqual(decide(rebooted, mce(AR_UC)).events, [ev('guest', 'inject', true, false)]);
  });

  test('reset keeps MCG_CAP, MCG_CTL and the banks, clears CR4.MCE and MCG_STATUS', () => {
    const d = decide(one, mce(AR_UC));
    const after = resetVm(d.state).vcpus[0] as McaState;
    const before = d.state.vcpus[0] as McaState;
    assert.equal(after.cr4Mce, false);
    assert.equal(after.mcgStatus, 0n);
    assert.equal(after.mcgCap, before.mcgCap);
    assert.equal(after.mcgCtl, before.mcgCtl);
    assert.deepEqual(after.banks, before.banks);
  });

  test('the default VM is what a Linux guest on KVM sees: SER_P, CTL_P, 10 banks, MCG_CTL all ones, CR4.MCE', () => {
    const v = initialVm().vcpus[0] as McaState;
    assert.equal(v.mcgCap & 0xffn, 10n);
    assert.ok((v.mcgCap & MCG_SER_P) !== 0n && (v.mcgCap & MCG_CTL_P) !== 0n);
    assert.equal(v.mcgCtl, ALL_ONES);
    assert.equal(v.banks.length, 10);
    assert.ok(v.banks.every((b) => b.ctl === ALL_ONES));
    assert.equal(v.cr4Mce, true);
  });
});
