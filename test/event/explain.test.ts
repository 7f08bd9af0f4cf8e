import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { explain, OUTCOMES, outcome } from '../../src/event/explain.js';
import { ACTIONS, type MemoryFailure, RECIPIENTS } from '../../src/event/model.js';
import { reachableInQemu } from '../../src/event/reachable.js';

const ALL: MemoryFailure[] = RECIPIENTS.flatMap((recipient) =>
  ACTIONS.flatMap((action) =>
    [false, true].flatMap((actionRequired) =>
      [false, true].map((recursive) => ({ recipient, action, actionRequired, recursive })),
    ),
  ),
);
const ts = { seconds: 1795639867, microseconds: 332511 }; // 2026-11-25T20:51:07.332511Z

describe('explain', () => {
  test('the example sentence', () => {
    assert.equal(
      explain(
        { recipient: 'guest', action: 'inject', actionRequired: true, recursive: false },
        { vm: 'vm1', timestamp: ts },
      ),
      '20:51:07.332 vm1 — action-required error in guest memory; QEMU injected a machine check; the guest kernel is handling it',
    );
  });

  test('each of the 32 combinations gets its own sentence saying when, where, what kind, and whether recursive', () => {
    const seen = new Set<string>();
    for (const f of ALL) {
      const s = explain(f, { vm: 'db-7', timestamp: ts });
      assert.ok(s.startsWith('20:51:07.332 db-7 — '), s);
      assert.ok(s.includes(f.actionRequired ? 'action-required' : 'action-optional'), s);
      assert.ok(s.includes(f.recipient === 'guest' ? 'guest memory' : "QEMU's own memory"), s);
      assert.equal(s.includes('earlier machine check was still being handled'), f.recursive, s);
      assert.equal(s.includes('never reports this combination'), !reachableInQemu(f), s);
      seen.add(s);
    }
    assert.equal(seen.size, ALL.length);
  });

  test('pinned sentences for what QEMU 7.2 emits', () => {
    const at = { vm: 'vm1', timestamp: new Date('2026-01-02T03:04:05.678Z') };
    const cases: [MemoryFailure, string][] = [
      [
        { recipient: 'hypervisor', action: 'fatal', actionRequired: true, recursive: false },
        "03:04:05.678 vm1 — action-required error in QEMU's own memory; QEMU could not recover and exited; the VM is gone",
      ],
      [
        { recipient: 'hypervisor', action: 'ignore', actionRequired: false, recursive: false },
        "03:04:05.678 vm1 — action-optional error in QEMU's own memory; QEMU ignored it and the VM runs on",
      ],
      [
        { recipient: 'guest', action: 'ignore', actionRequired: false, recursive: true },
        '03:04:05.678 vm1 — action-optional error in guest memory while an earlier machine check was still being handled; QEMU did not pass it on; the guest runs on without knowing about this page',
      ],
      [
        { recipient: 'guest', action: 'reset', actionRequired: true, recursive: true },
        '03:04:05.678 vm1 — action-required error in guest memory while an earlier machine check was still being handled; a machine check during a machine check is a triple fault, so QEMU reset the guest',
      ],
      [
        { recipient: 'guest', action: 'reset', actionRequired: false, recursive: false },
        '03:04:05.678 vm1 — action-optional error in guest memory; the guest had not enabled machine checks (CR4.MCE), so QEMU reset it',
      ],
      [
        { recipient: 'guest', action: 'inject', actionRequired: false, recursive: false },
        '03:04:05.678 vm1 — action-optional error in guest memory; QEMU injected a machine check; the guest kernel can retire the page without stopping anything',
      ],
      [
        { recipient: 'guest', action: 'inject', actionRequired: false, recursive: true },
        '03:04:05.678 vm1 — action-optional error in guest memory while an earlier machine check was still being handled; QEMU logged it in a machine-check bank; the guest kernel will see it there',
      ],
    ];
    for (const [f, sentence] of cases) assert.equal(explain(f, at), sentence);
  });
});

describe('outcome', () => {
  test('maps every combination to one of the five outcomes, each used', () => {
    const used = new Set(ALL.map(outcome));
    assert.deepEqual([...used].sort(), [...OUTCOMES].sort());
  });

  test('follows the action, and the recipient for ignore', () => {
    const o = (recipient: 'guest' | 'hypervisor', action: MemoryFailure['action']) =>
      outcome({ recipient, action, actionRequired: false, recursive: false });
    assert.equal(o('guest', 'inject'), 'guest-handled');
    assert.equal(o('guest', 'ignore'), 'guest-ignored');
    assert.equal(o('guest', 'reset'), 'guest-reset');
    assert.equal(o('hypervisor', 'fatal'), 'vm-died');
    assert.equal(o('guest', 'fatal'), 'vm-died');
    assert.equal(o('hypervisor', 'ignore'), 'hypervisor-ignored');
  });
});
