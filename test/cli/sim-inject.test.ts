import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { SimulatedVm } from '../../src/hypervisor/simulator.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';
import type { LooseEvents } from '../../src/qmp/message.js';
import { QmpServer } from '../../src/qmp/server.js';
import { type Child, start, stop } from '../support/child.js';
import { until } from '../support/wait.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../bin/memfail.js');

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memfail-cli-sim-'));
});
const sims: Child[] = [];
after(async () => {
  await Promise.all(sims.map(stop));
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

/** Starts `memfail sim ...` and resolves once it has printed `lines` "listening" lines. */
async function spawnSim(args: string[], lines = 1): Promise<Child> {
  const sim = start(process.execPath, [BIN, 'sim', ...args]);
  sims.push(sim);
  const listening = () => (sim.stdout().match(/listening on/g) ?? []).length >= lines;
  const exitedEarly = sim.exited.then((code) => {
    throw new Error(`memfail sim exited early (${code}): ${sim.stderr()}`);
  });
  exitedEarly.catch(() => {}); // observed by the race below; later exits are the tests' business
  await Promise.race([until(listening, `memfail sim to listen ${lines} time(s)`), exitedEarly]);
  return sim;
}

describe('memfail sim (a real process)', () => {
  test('serves QMP; a fatal hypervisor failure reaches the client, then the process exits 1', async () => {
    const sock = join(dir, 'fatal.sock');
    const sim = await spawnSim(['--listen', `unix:${sock}`, '--dialect', 'seed']);
    const client = new QmpClient();
    await client.connect(sock);
    const events: QmpEvent<LooseEvents>[] = [];
    client.on('event', (ev) => events.push(ev));
    assert.deepEqual(await client.execute('query-status'), {
      status: 'running',
      singlestep: false,
      running: true,
    });
    const exit = once(sim.process, 'exit');
    await assert.rejects(
      client.execute('x-memfail-host-memory-failure', {
        code: 'ar',
        address: 4096,
        'guest-ram': false,
      }),
    );
    const [code] = await exit;
    assert.equal(code, 1);
    assert.deepEqual(
      events.map((e) => [e.event, e.data]),
      [
        [
          'MEMORY_FAILURE',
          { action: 'hypervisor-fatal', flags: { 'action-required': true, recursive: false } },
        ],
      ],
    );
    assert.match(sim.stderr(), /vm: exited with status 1/);
  });

  test('--vms 2 listens on two sockets by the documented rule; quit on both ends the process with 0', async () => {
    const sim = await spawnSim(
      ['--listen', `unix:${join(dir, 'many.sock')}`, '--vms', '2', '--vcpus', '2'],
      2,
    );
    assert.match(
      sim.stdout(),
      /vm0: listening on unix:.*many-0\.sock \(dialect qemu, guest linux, 2 vCPUs\)/,
    );
    assert.match(sim.stdout(), /vm1: listening on unix:.*many-1\.sock/);
    const exit = once(sim.process, 'exit');
    for (const i of [0, 1]) {
      const client = new QmpClient();
      await client.connect(join(dir, `many-${i}.sock`));
      await client.execute('quit');
      await client.closed;
    }
    const [code] = await exit;
    assert.equal(code, 0);
  });

  test('SIGTERM: clients get SHUTDOWN (host-signal), then the process exits 0', async () => {
    const sock = join(dir, 'signal.sock');
    const sim = await spawnSim(['--listen', sock]);
    const client = new QmpClient();
    await client.connect(sock);
    const events: QmpEvent<LooseEvents>[] = [];
    client.on('event', (ev) => events.push(ev));
    await client.execute('query-status');
    const exit = once(sim.process, 'exit');
    sim.process.kill('SIGTERM');
    const [code] = await exit;
    await client.closed;
    assert.equal(code, 0);
    assert.deepEqual(
      events.map((e) => [e.event, e.data]),
      [['SHUTDOWN', { guest: false, reason: 'host-signal' }]],
    );
  });

  test('usage errors exit 2', async () => {
    const r = await run(['sim', '--listen', join(dir, 'x.sock'), '--vms', '0']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--vms must be a whole number from 1 to 1024, got '0'/);
    assert.equal((await run(['sim'])).code, 2);
    assert.equal((await run(['sim', '--listen', 'x', '--dialect', 'klingon'])).code, 2);
  });
});

describe('memfail inject', () => {
  test('--preset ar into a simulator prints the command, the event and its explanation', async () => {
    const vm = new SimulatedVm();
    const sock = join(dir, 'inject.sock');
    await vm.listen(sock);
    try {
      const r = await run(['inject', sock, '--preset', 'ar', '--settle-ms', '0']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /\(memfail simulator\): mce 0 9 0xbd80000000000134 0x7 0x1000 0x8c\n/);
      assert.match(
        r.out,
        /event MEMORY_FAILURE \{"recipient":"guest","action":"inject","flags":\{"action-required":true,"recursive":false\}\}\n/,
      );
      assert.match(
        r.out,
        /vm — action-required error in guest memory; QEMU injected a machine check/,
      );
    } finally {
      await vm.close();
    }
  });

  test('--host AO --hypervisor-memory --json', async () => {
    const vm = new SimulatedVm({ dialect: 'seed' });
    const sock = join(dir, 'inject-json.sock');
    await vm.listen(sock);
    try {
      const r = await run([
        'inject',
        sock,
        '--host',
        'AO',
        '--address',
        '0x2000',
        '--hypervisor-memory',
        '--json',
        '--settle-ms',
        '0',
      ]);
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out) as {
        target: string;
        sent: unknown;
        events: { event: string; data: unknown }[];
      };
      assert.equal(out.target, 'simulator');
      assert.deepEqual(out.sent, {
        execute: 'x-memfail-host-memory-failure',
        arguments: { code: 'ao', address: 0x2000, 'guest-ram': false },
      });
      assert.deepEqual(
        out.events.map((e) => e.data),
        [{ action: 'hypervisor-ignore', flags: { 'action-required': false, recursive: false } }],
      );
    } finally {
      await vm.close();
    }
  });

  test('a full guest-path injection that QEMU refuses shows the monitor text and no event', async () => {
    const vm = new SimulatedVm();
    const sock = join(dir, 'inject-bad.sock');
    await vm.listen(sock);
    try {
      const r = await run([
        'inject',
        sock,
        '--bank',
        '12',
        '--status',
        '0x8000000000000000',
        '--mcg-status',
        '0',
        '--addr',
        '0',
        '--misc',
        '0',
        '--settle-ms',
        '0',
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /monitor: Invalid MCE bank number\nno MEMORY_FAILURE event\n/);
    } finally {
      await vm.close();
    }
  });

  test('a host-side fault into something that is not the simulator: a clear refusal, exit 1', async () => {
    const qemuLike = new QmpServer(); // no x-memfail-host-memory-failure: looks like real QEMU
    const sock = join(dir, 'qemu-like.sock');
    await qemuLike.listen(sock);
    try {
      const r = await run(['inject', sock, '--host', 'AR', '--address', '0x1000']);
      assert.equal(r.code, 1);
      assert.match(r.err, /real QEMU cannot take a host-side memory failure over QMP/);
    } finally {
      await qemuLike.close();
    }
  });

  const usage: [string[], RegExp][] = [
    [[], /give exactly one of --host AR\|AO, --preset NAME/],
    [['--host', 'AR', '--preset', 'ar'], /give exactly one of/],
    [['--bank', '1'], /the guest path also needs --status, --mcg-status, --addr, --misc/],
    [
      ['--preset', 'ar', '--address', '0x1'],
      /--address and --hypervisor-memory apply to --host only/,
    ],
    [
      ['--host', 'AO', '--address', 'zz'],
      /--address: expected a number \(decimal or 0x hex\), got 'zz'/,
    ],
    [['--host', 'AO', '--address', '0x1ffffffffffffffff'], /does not fit in 64 bits/],
    [['--host', 'AO', '--broadcast'], /--broadcast applies to the guest path only/],
  ];
  for (const [args, message] of usage) {
    test(`usage: ${args.join(' ') || '(no fault)'} → exit 2`, async () => {
      const r = await run(['inject', join(dir, 'nobody.sock'), ...args]);
      assert.equal(r.code, 2);
      assert.match(r.err, message);
    });
  }

  test('nobody listening: exit 1 with the connection error', async () => {
    const r = await run(['inject', join(dir, 'nobody.sock'), '--preset', 'ao']);
    assert.equal(r.code, 1);
    assert.match(r.err, /memfail inject: .*nobody\.sock/);
  });
});
