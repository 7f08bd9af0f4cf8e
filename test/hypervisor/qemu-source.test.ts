/**
 * The model's constants and texts against QEMU 7.2's own source
 * (target/i386): the KVM host path cannot run here (no KVM), so its numbers
 * are pinned to kvm.c; helper.c's monitor texts are pinned too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  BROADCAST_BANK,
  HOST_FAULT_BANK,
  MCA_CODE_SRAO_SCRUB,
  MCA_CODE_SRAR_DATA_LOAD,
  MCI_MISC_PHYS_ADDR_4K,
} from '../../src/hypervisor/bits.js';
import { decide } from '../../src/hypervisor/mca.js';
import { guestBooted, initialVm } from '../../src/hypervisor/state.js';
import { requireQemuSource } from '../qapi/qemu-source.js';

/** The body of a C function, from its signature to the closing brace at column 0. */
function cFunction(source: string, name: string): string {
  const start = source.search(new RegExp(`^\\w[\\w\\s*]*\\b${name}\\(`, 'm'));
  assert.ok(start >= 0, `${name} not found`);
  const end = source.indexOf('\n}\n', start);
  return source.slice(start, end + 2);
}

const squash = (s: string) => s.replace(/\s+/g, ' ');

describe("pinned to QEMU 7.2's target/i386", () => {
  test('kvm_mce_inject: MCA codes, bank, MISC and broadcast rule', () => {
    const body = squash(
      cFunction(readFileSync(requireQemuSource('target/i386/kvm/kvm.c'), 'utf8'), 'kvm_mce_inject'),
    );
    assert.ok(
      body.includes(`status |= MCI_STATUS_AR | 0x${MCA_CODE_SRAR_DATA_LOAD.toString(16)};`),
      body,
    );
    assert.ok(body.includes(`status |= 0x${MCA_CODE_SRAO_SCRUB.toString(16)};`), body);
    assert.ok(
      body.includes(`cpu_x86_inject_mce(NULL, cpu, ${HOST_FAULT_BANK}, status, mcg_status, paddr,`),
      body,
    );
    // MISC: address mode physical (MCM_ADDR_PHYS = 2) at bits 6-8, LSB 12.
    assert.ok(body.includes('(MCM_ADDR_PHYS << 6) | 0xc'), body);
    assert.equal(MCI_MISC_PHYS_ADDR_4K, (2n << 6n) | 0xcn);
    assert.ok(body.includes('mcg_status |= MCG_STATUS_LMCE; flags = 0;'), body);
  });

  test('kvm_arch_on_sigbus_vcpu: SER_P and guest RAM decide; AR is fatal with exit(1)', () => {
    const kvm = readFileSync(requireQemuSource('target/i386/kvm/kvm.c'), 'utf8');
    const sigbus = squash(cFunction(kvm, 'kvm_arch_on_sigbus_vcpu'));
    assert.ok(sigbus.includes('if ((env->mcg_cap & MCG_SER_P) && addr)'), sigbus);
    assert.ok(squash(cFunction(kvm, 'hardware_memory_error')).includes('exit(1);'));
  });

  test('cpu_x86_inject_mce: broadcast to the other vCPUs uses bank 1, VAL|UC, MCIP|RIPV', () => {
    const body = squash(
      cFunction(
        readFileSync(requireQemuSource('target/i386/helper.c'), 'utf8'),
        'cpu_x86_inject_mce',
      ),
    );
    assert.ok(body.includes(`params.bank = ${BROADCAST_BANK};`), body);
    assert.ok(body.includes('params.status = MCI_STATUS_VAL | MCI_STATUS_UC;'), body);
    assert.ok(body.includes('params.mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV;'), body);
  });

  test("do_inject_x86_mce's monitor texts are the model's", () => {
    const body = cFunction(
      readFileSync(requireQemuSource('target/i386/helper.c'), 'utf8'),
      'do_inject_x86_mce',
    );
    const withCtl = decide(
      { ...initialVm(), vcpus: initialVm().vcpus.map((v) => ({ ...v, mcgCtl: 0n })) },
      {
        kind: 'guest',
        cpu: 0,
        bank: 1,
        status: 0xb000000000000000n,
        mcgStatus: 0n,
        addr: 0n,
        misc: 0n,
      },
    );
    assert.equal(withCtl.monitorText, 'CPU 0: Uncorrected error reporting disabled\n');
    assert.ok(squash(body).includes('"CPU %d: Uncorrected error reporting disabled\\n"'));
    const noMce = decide(guestBooted(initialVm(), false), {
      kind: 'guest',
      cpu: 0,
      bank: 1,
      status: 0xb000000000000000n,
      mcgStatus: 0n,
      addr: 0n,
      misc: 0n,
    });
    assert.equal(noMce.monitorText, 'CPU 0: MCE capability is not enabled, raising triple fault');
    assert.ok(body.includes('"CPU %d: MCE capability is not enabled, "'));
    assert.ok(body.includes('"CPU %d: Previous MCE still in progress, "'));
    assert.ok(body.includes('" bank %d\\n"'));
  });
});
