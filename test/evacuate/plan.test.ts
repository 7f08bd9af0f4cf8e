/** Destination choice (pure), the inventory's reading and errors, the exec driver. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ExecDriver, fillTemplate } from '../../src/evacuate/exec-driver.js';
import type { MigrationJob } from '../../src/evacuate/driver.js';
import {
  InventoryError,
  loadInventory,
  moveVm,
  parseInventory,
} from '../../src/evacuate/inventory.js';
import { type Candidate, planMoves } from '../../src/evacuate/plan.js';
import type { HostHealth } from '../../src/health/evaluate.js';
import type { HealthState } from '../../src/health/policy.js';

function health(host: string, state: HealthState, why = 'x'): HostHealth {
  const level = ['healthy', 'suspect', 'degraded', 'failing'].indexOf(state);
  return {
    host,
    state,
    level,
    reasons: state === 'healthy' ? [] : [{ state, text: why, rule: 1 }],
    evaluatedAt: '',
    policy: 'built-in',
  };
}

function c(host: string, state: HealthState | null, load = 0, named = false): Candidate {
  return { host, health: state === null ? null : health(host, state), named, load };
}

describe('planMoves', () => {
  const cases: readonly {
    name: string;
    candidates: Candidate[];
    vms: string[];
    moves: [string, string][];
    refused: string[];
    unplaced: string[];
  }[] = [
    {
      name: 'only healthy hosts receive VMs; the source is never one',
      candidates: [
        c('a', 'failing'),
        c('b', 'healthy'),
        c('s', 'suspect'),
        c('d', 'degraded'),
        c('f', 'failing'),
      ],
      vms: ['v1', 'v2'],
      moves: [
        ['v1', 'b'],
        ['v2', 'b'],
      ],
      refused: ['s', 'd', 'f'],
      unplaced: [],
    },
    {
      name: 'the least loaded healthy host first, then spread',
      candidates: [c('b', 'healthy', 2), c('c', 'healthy', 0)],
      vms: ['v1', 'v2', 'v3', 'v4'],
      moves: [
        ['v1', 'c'],
        ['v2', 'c'],
        ['v3', 'b'],
        ['v4', 'c'],
      ],
      refused: [],
      unplaced: [],
    },
    {
      name: 'no healthy host: nothing placed',
      candidates: [c('b', 'suspect'), c('c', null)],
      vms: ['v1'],
      moves: [],
      refused: ['b', 'c'],
      unplaced: ['v1'],
    },
    {
      name: 'a named host of unknown health is trusted',
      candidates: [c('c', null, 0, true)],
      vms: ['v1'],
      moves: [['v1', 'c']],
      refused: [],
      unplaced: [],
    },
    {
      name: 'a named host known to be unhealthy is refused even so',
      candidates: [c('c', 'degraded', 0, true)],
      vms: ['v1'],
      moves: [],
      refused: ['c'],
      unplaced: ['v1'],
    },
  ];
  for (const k of cases) {
    test(k.name, () => {
      const plan = planMoves('a', k.vms, k.candidates);
      assert.deepEqual(
        plan.moves.map((m) => [m.vm, m.dest]),
        k.moves,
      );
      assert.deepEqual(
        plan.refused.map((r) => r.host),
        k.refused,
      );
      assert.deepEqual(plan.unplaced, k.unplaced);
    });
  }
  test('a refusal says why', () => {
    const plan = planMoves('a', ['v'], [c('b', 'degraded'), c('u', null)]);
    assert.deepEqual(
      plan.refused.map((r) => r.why),
      [
        'it is degraded (x)',
        'its health is unknown (no "db" in the inventory); name it with --to to trust it',
      ],
    );
  });
});

describe('inventory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-inv-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('relative paths are made absolute from the file; moveVm moves and rewrites', () => {
    const path = join(dir, 'hosts.json');
    writeFileSync(
      path,
      JSON.stringify({
        hosts: {
          a: { db: 'a.db', runDir: 'run/a', vms: { v: { qmp: 'unix:/x', qemu: ['-m', '64'] } } },
          b: { db: '/abs/b.db' },
        },
      }),
    );
    const inv = loadInventory(path);
    assert.equal(inv.hosts.a?.db, join(dir, 'a.db'));
    assert.equal(inv.hosts.a?.runDir, join(dir, 'run/a'));
    assert.equal(inv.hosts.b?.db, '/abs/b.db');
    assert.deepEqual(inv.hosts.b?.vms, {});
    moveVm(path, 'v', 'b', { qmp: 'unix:/y', qemu: ['-m', '64'] });
    const after = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(after.hosts.a.vms, {});
    assert.deepEqual(after.hosts.b.vms, { v: { qmp: 'unix:/y', qemu: ['-m', '64'] } });
    assert.throws(() => moveVm(path, 'v', 'zz', {}), /no host "zz"/);
  });

  test("the libvirt driver's members: URIs kept as written, the socket made absolute", () => {
    const inv = parseInventory(
      JSON.stringify({
        hosts: {
          a: { libvirt: 'qemu:///system', libvirtSocket: 'a.sock', vms: {} },
          b: { libvirt: 'qemu+tls://b/system', migrateUri: 'unix:///m/{vm}.sock' },
        },
      }),
      join(dir, 'inv.json'),
    );
    assert.deepEqual(inv.hosts.a, {
      libvirt: 'qemu:///system',
      libvirtSocket: join(dir, 'a.sock'),
      vms: {},
    });
    assert.deepEqual(inv.hosts.b, {
      libvirt: 'qemu+tls://b/system',
      migrateUri: 'unix:///m/{vm}.sock',
      vms: {},
    });
    assert.throws(
      () => parseInventory('{"hosts": {"a": {"libvirt": 5}}}', 'inv.json'),
      /host "a" "libvirt"/,
    );
    assert.throws(() => parseInventory('{"hosts": {"a": {"libvirt": "host-a"}}}', 'inv.json'), {
      message:
        'inv.json:1:29: host "a" "libvirt": \'host-a\' is not a libvirt URI (e.g. qemu:///system, qemu+tls://host-b/system)',
    });
    for (const uri of [
      'qemu:///system',
      'qemu+unix:///system?socket=/s',
      'qemu+tls://b.example/system',
    ]) {
      assert.equal(
        parseInventory(`{"hosts": {"a": {"libvirt": "${uri}"}}}`, 'i').hosts.a?.libvirt,
        uri,
      );
    }
  });

  const bad: [string, string][] = [
    [
      '{"hosts": {"a": {"vms": {"v": {}}}, "b": {"vms": {"v": {}}}}}',
      'inv.json:1:51: VM "v" is listed on both "a" and "b"',
    ],
    [
      '{"hosts": {"a": {"vm": {}}}}',
      'inv.json:1:18: unknown member "vm" in host "a" (expected one of: db, runDir, libvirt, libvirtSocket, migrateUri, vms)',
    ],
    [
      '{"hosts": {"a": {"vms": {"v": {"qemu": ["-m", "64", "-qmp", "x"]}}}}}',
      'inv.json:1:40: VM "v" "qemu" must not contain -qmp: memfail adds its own',
    ],
    [
      '{"hosts": {"a": {"vms": {"v": {"qemu": "-m 64"}}}}}',
      'inv.json:1:40: VM "v" "qemu" must be an array of arguments',
    ],
    ['{"hosts": []}', 'inv.json:1:11: "hosts" must be an object, not an array'],
    ['{}', 'inv.json:1:1: the inventory needs "hosts"'],
  ];
  for (const [text, message] of bad) {
    test(message.replace(/^inv\.json:\d+:\d+: /, ''), () => {
      assert.throws(() => parseInventory(text, 'inv.json'), { message });
    });
  }
  test('the JSON Schema for editors names the same members', async () => {
    const { REPO_ROOT } = await import('../qapi/qemu-source.js');
    const schema = JSON.parse(
      readFileSync(join(REPO_ROOT, 'schema/json-schema/inventory.json'), 'utf8'),
    );
    assert.deepEqual(Object.keys(schema.$defs.host.properties), [
      'db',
      'runDir',
      'libvirt',
      'libvirtSocket',
      'migrateUri',
      'vms',
    ]);
    assert.deepEqual(Object.keys(schema.$defs.vm.properties), ['uuid', 'qmp', 'qemu']);
    assert.deepEqual(schema.$defs.vm.properties.qemu.items.not.enum, [
      '-qmp',
      '-incoming',
      '-daemonize',
    ]);
  });

  test('a missing file', () => {
    assert.throws(() => loadInventory(join(dir, 'none.json')), InventoryError);
  });
});

describe('exec driver', () => {
  const job: MigrationJob = {
    vm: 'web 1',
    from: 'node-a',
    to: 'node-b',
    spec: { uuid: '1234' },
    source: { vms: {} },
    dest: { vms: {} },
  };
  test('fills {vm} {uuid} {host} {dest} word by word, leaving other braces', () => {
    assert.deepEqual(
      fillTemplate(['mv', '--id={uuid}', '{vm}', '{host}->{dest}', '{other}'], job),
      ['mv', '--id=1234', 'web 1', 'node-a->node-b', '{other}'],
    );
  });
  test('exit 0 is success', async () => {
    const r = await new ExecDriver({
      argv: ['sh', '-c', 'test "$1" = "web 1"', 'sh', '{vm}'],
    }).migrate(job, () => {});
    assert.equal(r.ok, true);
    assert.match(r.detail, /^command exited 0 after \d+ ms$/);
  });
  test('a failing command is recorded with its status and the end of its stderr', async () => {
    const r = await new ExecDriver({
      argv: ['sh', '-c', 'echo "no such server {uuid}" >&2; exit 3'],
    }).migrate(job, () => {});
    assert.equal(r.ok, false);
    assert.equal(r.runsOn, 'unknown');
    assert.match(r.detail, /^command exited 3 after \d+ ms: no such server 1234$/);
  });
  test('a command that cannot run', async () => {
    const r = await new ExecDriver({ argv: ['/nonexistent/migrate'] }).migrate(job, () => {});
    assert.equal(r.ok, false);
    assert.match(
      r.detail,
      /^cannot run \/nonexistent\/migrate: spawn \/nonexistent\/migrate ENOENT$/,
    );
  });
});
