import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ACTIONS, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import { reachableInQemu } from '../../src/event/reachable.js';
import {
  ALL_ONES,
  MCG_CTL_P,
  MCG_EXT_CTL_LMCE_EN,
  MCG_SER_P,
  MCG_STATUS_MCIP,
  MCI_STATUS_AR,
  MCI_STATUS_UC,
  MCI_STATUS_VAL,
} from '../../src/hypervisor/bits.js';
import { decide, type Fault } from '../../src/hypervisor/mca.js';
import type { McaState, VmMca } from '../../src/hypervisor/state.js';

const u64 = fc.bigInt({ min: 0n, max: ALL_ONES });
/** Registers with random noise, the bits the decision reads each set or clear at even odds. */
const bits = (...interesting: bigint[]) =>
  fc
    .tuple(
      u64,
      fc.array(fc.boolean(), { minLength: interesting.length, maxLength: interesting.length }),
    )
    .map(([noise, on]) => interesting.reduce((v, bit, i) => (on[i] ? v | bit : v & ~bit), noise));

const vcpu: fc.Arbitrary<McaState> = fc
  .record({
    ser: fc.boolean(),
    ctlP: fc.boolean(),
    banks: fc.integer({ min: 0, max: 12 }),
    mcgCtlAllOnes: fc.boolean(),
    mcgStatus: bits(MCG_STATUS_MCIP),
    lmce: fc.boolean(),
    cr4Mce: fc.boolean(),
    bankCtlAllOnes: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    bankStatus: fc.array(bits(MCI_STATUS_VAL, MCI_STATUS_UC), { minLength: 12, maxLength: 12 }),
  })
  .map((r) => ({
    mcgCap: (r.ser ? MCG_SER_P : 0n) | (r.ctlP ? MCG_CTL_P : 0n) | BigInt(r.banks),
    mcgCtl: r.mcgCtlAllOnes ? ALL_ONES : 0n,
    mcgStatus: r.mcgStatus,
    mcgExtCtl: r.lmce ? MCG_EXT_CTL_LMCE_EN : 0n,
    cr4Mce: r.cr4Mce,
    banks: Array.from({ length: r.banks }, (_, i) => ({
      ctl: r.bankCtlAllOnes[i] ? ALL_ONES : 0n,
      status: r.bankStatus[i] ?? 0n,
      addr: 0n,
      misc: 0n,
    })),
  }));

const vm: fc.Arbitrary<VmMca> = fc.record({
  vcpus: fc.array(vcpu, { minLength: 1, maxLength: 4 }),
  mcaBroadcast: fc.boolean(),
});

const fault: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({
    kind: fc.constant('host' as const),
    code: fc.constantFrom('AR' as const, 'AO' as const),
    address: u64,
    inGuestRam: fc.boolean(),
    cpu: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({
    kind: fc.constant('guest' as const),
    cpu: fc.integer({ min: -2, max: 5 }),
    bank: fc.integer({ min: -2, max: 14 }),
    status: bits(MCI_STATUS_VAL, MCI_STATUS_UC, MCI_STATUS_AR),
    mcgStatus: bits(MCG_STATUS_MCIP),
    addr: u64,
    misc: u64,
    broadcast: fc.boolean(),
  }),
);

describe('decide: properties over random machine-check states and faults', () => {
  test('never throws; every event is one QEMU 7.2 can emit; at most one event per vCPU', () => {
    fc.assert(
      fc.property(vm, fault, (v, f) => {
        const d = decide(v, f);
        for (const e of d.events) assert.ok(reachableInQemu(e), JSON.stringify(e));
        assert.ok(d.events.length <= v.vcpus.length);
        assert.equal(d.event, d.events[0] ?? null);
        assert.equal(d.state.vcpus.length, v.vcpus.length);
      }),
      { numRuns: 3000 },
    );
  });

  test('hypervisor events and exits come only from host faults QEMU cannot pass to the guest', () => {
    fc.assert(
      fc.property(vm, fault, (v, f) => {
        const d = decide(v, f);
        const toGuest =
          f.kind === 'guest' ||
          (f.inGuestRam && ((v.vcpus[f.cpu ?? 0]?.mcgCap ?? 0n) & MCG_SER_P) !== 0n);
        const hyp = d.events.filter((e) => e.recipient === 'hypervisor');
        if (toGuest) assert.equal(hyp.length, 0);
        else if (v.vcpus[f.kind === 'host' ? (f.cpu ?? 0) : 0]) assert.equal(hyp.length, 1);
        assert.equal(
          d.exits,
          hyp.some((e) => e.action === 'fatal'),
        );
        if (d.exits) assert.equal(d.exitStatus, 1);
      }),
      { numRuns: 3000 },
    );
  });

  test('a guest ignore only ever answers a host fault (an AO, or the AO broadcast of an AR) on a vCPU with MCIP set', () => {
    fc.assert(
      fc.property(vm, fault, (v, f) => {
        const ignored = decide(v, f).events.filter(
          (e) => e.recipient === 'guest' && e.action === 'ignore',
        );
        if (ignored.length === 0) return;
        assert.equal(f.kind, 'host');
        assert.ok(v.vcpus.some((c) => (c.mcgStatus & MCG_STATUS_MCIP) !== 0n));
        if (f.kind === 'host' && f.code === 'AR') {
          assert.ok(v.mcaBroadcast && v.vcpus.length > 1, 'an AR itself is never ignored');
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('every value QEMU 7.2 can emit is produced by some state and fault', () => {
    const all: MemoryFailure[] = RECIPIENTS.flatMap((recipient) =>
      ACTIONS.flatMap((action) =>
        [false, true].flatMap((actionRequired) =>
          [false, true].map((recursive) => ({ recipient, action, actionRequired, recursive })),
        ),
      ),
    );
    const seen = new Set<string>();
    fc.assert(
      fc.property(vm, fault, (v, f) => {
        for (const e of decide(v, f).events) seen.add(JSON.stringify(e));
      }),
      { numRuns: 20000, seed: 7 },
    );
    const reachable = all.filter(reachableInQemu).map((e) => JSON.stringify(e));
    assert.deepEqual([...seen].sort(), reachable.sort());
  });
});
