/**
 * The evaluator, rule by rule and at every boundary: one table of cases over
 * the built-in policy (each case says which rules should match), and single
 * rules for the counting, VM and window edges.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MemoryFailure } from '../../src/event/model.js';
import { evaluate, type HostFailure } from '../../src/health/evaluate.js';
import { DEFAULT_POLICY, type HealthState, parsePolicy } from '../../src/health/policy.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const H = 3600_000;
const D = 24 * H;

const AR: MemoryFailure = {
  recipient: 'guest',
  action: 'inject',
  actionRequired: true,
  recursive: false,
};
const AO: MemoryFailure = {
  recipient: 'guest',
  action: 'inject',
  actionRequired: false,
  recursive: false,
};
const RECURSIVE: MemoryFailure = {
  recipient: 'guest',
  action: 'reset',
  actionRequired: true,
  recursive: true,
};
const HV_FATAL: MemoryFailure = {
  recipient: 'hypervisor',
  action: 'fatal',
  actionRequired: true,
  recursive: false,
};
const HV_IGNORE: MemoryFailure = {
  recipient: 'hypervisor',
  action: 'ignore',
  actionRequired: false,
  recursive: false,
};
const GUEST_RESET: MemoryFailure = {
  recipient: 'guest',
  action: 'reset',
  actionRequired: false,
  recursive: false,
};

function at(vm: string, agoMs: number, failure: MemoryFailure): HostFailure {
  return { vm, failure, atMs: NOW.getTime() - agoMs };
}

interface Case {
  readonly name: string;
  readonly failures: readonly HostFailure[];
  readonly state: HealthState;
  /** The rules (1-based) that match, worst first as reported. */
  readonly rules: readonly number[];
}

// Built-in rules: 1 failing hv-fatal 7d; 2 failing AR≥3 on ≥2 VMs 24h;
// 3 degraded AR≥2 24h; 4 degraded recursive≥1 24h; 5 suspect any≥1 7d.
const CASES: readonly Case[] = [
  { name: 'no failures', failures: [], state: 'healthy', rules: [] },
  { name: 'one AO failure now', failures: [at('a', 0, AO)], state: 'suspect', rules: [5] },
  {
    name: 'one AO failure just inside 7 d',
    failures: [at('a', 7 * D, AO)],
    state: 'suspect',
    rules: [5],
  },
  {
    name: 'one AO failure just past 7 d',
    failures: [at('a', 7 * D + 1, AO)],
    state: 'healthy',
    rules: [],
  },
  {
    name: 'a failure in the future is not counted',
    failures: [at('a', -1000, AO)],
    state: 'healthy',
    rules: [],
  },
  { name: 'one AR failure', failures: [at('a', H, AR)], state: 'suspect', rules: [5] },
  {
    name: 'two AR failures, one VM',
    failures: [at('a', H, AR), at('a', 2 * H, AR)],
    state: 'degraded',
    rules: [3, 5],
  },
  {
    name: 'two AR, one just outside 24 h',
    failures: [at('a', H, AR), at('a', D + 1, AR)],
    state: 'suspect',
    rules: [5],
  },
  {
    name: 'two AR, the older exactly 24 h ago',
    failures: [at('a', H, AR), at('a', D, AR)],
    state: 'degraded',
    rules: [3, 5],
  },
  {
    name: 'three AR on one VM: degraded, not failing (one VM)',
    failures: [at('a', H, AR), at('a', 2 * H, AR), at('a', 3 * H, AR)],
    state: 'degraded',
    rules: [3, 5],
  },
  {
    name: 'three AR on two VMs within 24 h: failing',
    failures: [at('a', H, AR), at('b', 2 * H, AR), at('a', 3 * H, AR)],
    state: 'failing',
    rules: [2, 3, 5],
  },
  {
    name: 'three AR on two VMs, one outside the window',
    failures: [at('a', H, AR), at('b', 2 * H, AR), at('a', D + 1, AR)],
    state: 'degraded',
    rules: [3, 5],
  },
  {
    name: 'two AR + one AO on two VMs: AO does not count',
    failures: [at('a', H, AR), at('b', 2 * H, AO), at('a', 3 * H, AR)],
    state: 'degraded',
    rules: [3, 5],
  },
  {
    name: 'a recursive failure',
    failures: [at('a', H, RECURSIVE)],
    state: 'degraded',
    rules: [4, 5],
  },
  {
    name: 'a recursive failure 25 h ago',
    failures: [at('a', 25 * H, RECURSIVE)],
    state: 'suspect',
    rules: [5],
  },
  {
    name: 'hypervisor-fatal',
    failures: [at('db', 6 * D, HV_FATAL)],
    state: 'failing',
    rules: [1, 5],
  },
  {
    name: 'hypervisor-fatal 8 days ago',
    failures: [at('db', 8 * D, HV_FATAL)],
    state: 'healthy',
    rules: [],
  },
  {
    name: 'hypervisor ignore is not fatal',
    failures: [at('db', H, HV_IGNORE)],
    state: 'suspect',
    rules: [5],
  },
];

describe('built-in policy', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const v = evaluate(DEFAULT_POLICY, 'host-a', c.failures, NOW);
      assert.equal(v.state, c.state);
      assert.deepEqual(
        v.reasons.map((r) => r.rule),
        c.rules,
      );
      assert.equal(v.level, ['healthy', 'suspect', 'degraded', 'failing'].indexOf(c.state));
      assert.equal(v.host, 'host-a');
      assert.equal(v.evaluatedAt, NOW.toISOString());
    });
  }
});

describe('reasons are spelled out', () => {
  test('count, VMs and window', () => {
    const v = evaluate(
      DEFAULT_POLICY,
      'h',
      [at('a', H, AR), at('b', 2 * H, AR), at('a', 3 * H, AR)],
      NOW,
    );
    assert.equal(
      v.reasons[0]?.text,
      '3 action-required failures on 2 VMs in 24 h (last at 2026-12-01T11:00:00.000Z on a)',
    );
    assert.equal(v.reasons[0]?.state, 'failing');
  });
  test('a single failure is named with its time and VM', () => {
    const v = evaluate(DEFAULT_POLICY, 'h', [at('db-3', 2 * H, HV_FATAL)], NOW);
    assert.equal(v.reasons[0]?.text, 'hypervisor-fatal at 2026-12-01T10:00:00.000Z on db-3');
    assert.equal(v.reasons[1]?.text, 'a memory failure at 2026-12-01T10:00:00.000Z on db-3');
  });
  test('"any" counts as memory failures', () => {
    const v = evaluate(DEFAULT_POLICY, 'h', [at('a', H, AO), at('a', 2 * H, AO)], NOW);
    assert.match(v.reasons[0]?.text ?? '', /^2 memory failures on 1 VM in 7 d/);
  });
});

describe('each kind counts what it says', () => {
  const kinds = [
    ['any', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 6],
    ['action-required', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 3],
    ['recursive', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 1],
    ['guest-reset', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 2],
    ['hypervisor', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 2],
    ['hypervisor-fatal', [AR, AO, RECURSIVE, HV_FATAL, HV_IGNORE, GUEST_RESET], 1],
  ] as const;
  for (const [kind, all, n] of kinds) {
    test(`${kind}: ${n} of the six`, () => {
      const failures = all.map((f, i) => at(`vm${i}`, H, f));
      const policyAt = (k: number) =>
        parsePolicy(
          `{"rules":[{"state":"suspect","kind":"${kind}","atLeast":${k},"within":"1d"}]}`,
          'p.json',
        );
      assert.equal(evaluate(policyAt(n), 'h', failures, NOW).state, 'suspect');
      assert.equal(evaluate(policyAt(n + 1), 'h', failures, NOW).state, 'healthy');
    });
  }
});

describe('vms boundary', () => {
  const policy = parsePolicy(
    '{"rules":[{"state":"failing","kind":"any","atLeast":3,"vms":3,"within":"30m"}]}',
    'p.json',
  );
  test('three failures on two VMs do not match vms: 3', () => {
    const v = evaluate(policy, 'h', [at('a', 0, AO), at('b', 0, AO), at('a', 0, AO)], NOW);
    assert.equal(v.state, 'healthy');
  });
  test('three failures on three VMs do', () => {
    const v = evaluate(policy, 'h', [at('a', 0, AO), at('b', 0, AO), at('c', 0, AO)], NOW);
    assert.equal(v.state, 'failing');
  });
  test('the window is 30 minutes to the millisecond', () => {
    const inside = evaluate(
      policy,
      'h',
      [at('a', 0, AO), at('b', 0, AO), at('c', 30 * 60_000, AO)],
      NOW,
    );
    const outside = evaluate(
      policy,
      'h',
      [at('a', 0, AO), at('b', 0, AO), at('c', 30 * 60_000 + 1, AO)],
      NOW,
    );
    assert.equal(inside.state, 'failing');
    assert.equal(outside.state, 'healthy');
  });
});

describe('toHostFailures (stored rows from any store)', () => {
  test("QEMU's timestamp when there is one, else the receipt time; unreadable rows dropped", async () => {
    const { toHostFailures } = await import('../../src/health/evaluate.js');
    const base = {
      valid: true,
      error: null,
      timestampIso: null,
      receivedAt: '',
      dialect: 'qemu' as const,
      raw: '',
    };
    const rows = [
      {
        ...base,
        id: 1,
        vm: 'a',
        failure: AR,
        timestamp: { seconds: 10, microseconds: 500_000 },
        receivedUs: 99_000_000,
      },
      { ...base, id: 2, vm: 'b', failure: AO, timestamp: null, receivedUs: 20_000_000 },
      { ...base, id: 3, vm: 'c', failure: null, timestamp: null, receivedUs: 30_000_000 },
    ];
    assert.deepEqual(toHostFailures(rows), [
      { vm: 'a', failure: AR, atMs: 10_500 },
      { vm: 'b', failure: AO, atMs: 20_000 },
    ]);
  });
});
