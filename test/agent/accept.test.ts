/**
 * `memfail watch --accept`: QEMUs dial the agent. 50 simulated VMs connect,
 * inject, hang up and dial again in a random order; real QEMU processes dial
 * in with a client-mode chardev; misbehaving dialers are hung up on while
 * the others go on. Every event is recorded once, under the right name.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { presetFault } from '../../src/hypervisor/faults.js';
import { SimulatedVm } from '../../src/hypervisor/simulator.js';
import { hmp, waitForGuest } from '../../src/qemu/guest.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { mceBootSector } from '../../src/qemu/bootsector.js';
import { QmpClient } from '../../src/qmp/client.js';
import { until } from '../support/wait.js';
import { type Child, memfail } from './child.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir('memfail-accept-');
let agent: Child | null = null;
const qemus: QemuHandle[] = [];
after(async () => {
  agent?.process.kill('SIGKILL');
  for (const q of qemus) await q.kill();
  tmp.cleanup();
});

/** Unique QMP timestamps across every simulated VM: no two events can be taken for one. */
let tick = 0;
const clock = () => ({ seconds: 1_764_000_000 + ++tick, microseconds: 0 });

/** A simulated VM that dials out instead of listening, as QEMU's client-mode chardev does. */
class Dialer {
  readonly vm: SimulatedVm;
  /** Sessions in which the agent asked our name: the agent has negotiated and names us. */
  private named = 0;
  injected = 0;
  constructor(readonly name: string) {
    this.vm = new SimulatedVm({ clock });
    this.vm.server.handle('query-name', () => {
      this.named++;
      return { name };
    });
  }

  async session(path: string, injections: number): Promise<void> {
    const before = this.named;
    const socket = connect({ path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    this.vm.server.serve(socket);
    await until(() => this.named > before, `${this.name} named by the agent`, 20_000);
    for (let i = 0; i < injections; i++) {
      this.vm.inject(presetFault('ar', 0, 0x1000n + BigInt(i) * 0x1000n));
      this.injected++;
      if (Math.random() < 0.3) await sleep(Math.random() * 5);
    }
    await this.vm.server.drained();
    await hangUp(socket);
  }
}

function hangUp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.end();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function count(db: string): number {
  try {
    const s = Store.open(db, { mustExist: true });
    const n = s.countFailures();
    s.close();
    return n;
  } catch {
    return 0;
  }
}

test('--accept: 50 dialling VMs in random order, real QEMUs, and bad dialers', {
  timeout: 240_000,
}, async () => {
  const db = join(tmp.dir, 'events.db');
  const sock = join(tmp.dir, 'qmp.sock');
  agent = memfail(['watch', '--accept', `unix:${sock}`, '--db', db]);
  await until(() => /listening on unix:/.test(agent!.stderr()), 'the agent listening', 20_000);

  // Misbehaving dialers, while the good ones run: garbage, silence, a hang-up mid-greeting answer.
  const garbage = connect({ path: sock });
  garbage.on('error', () => {});
  garbage.on('data', () =>
    garbage.write(Buffer.from([0x7b, 0x22, 0xff, 0x00, 0x7d, 0x0a, 0x5b, 0x31, 0x5d, 0x0a])),
  );
  const silent = connect({ path: sock });
  silent.on('error', () => {});
  const quitter = connect({ path: sock });
  quitter.on('error', () => {});
  quitter.write(
    '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n',
  );
  quitter.end();

  const dialers = Array.from(
    { length: 50 },
    (_, i) => new Dialer(`sim-${String(i).padStart(2, '0')}`),
  );
  // Each: dial, inject 1-4, hang up, wait a random while, dial again, inject 1-4, hang up.
  await Promise.all(
    dialers.map(async (d) => {
      await sleep(Math.random() * 200);
      await d.session(sock, 1 + Math.floor(Math.random() * 4));
      await sleep(Math.random() * 200);
      await d.session(sock, 1 + Math.floor(Math.random() * 4));
    }),
  );
  const simulated = dialers.reduce((n, d) => n + d.injected, 0);

  // Real QEMU, dialling in with a client-mode monitor; named from -name.
  const ports: QmpClient[] = [];
  for (const n of [1, 2]) {
    const q = await launchQemu({
      bootSector: mceBootSector(),
      extraArgs: [
        '-name',
        `real-${n}`,
        '-chardev',
        `socket,id=mf,path=${sock},reconnect=1`,
        '-mon',
        'chardev=mf,mode=control',
      ],
    });
    qemus.push(q);
    const driver = new QmpClient();
    await driver.connect(q.qmp[0]!);
    ports.push(driver);
  }
  await until(
    () => (agent!.stderr().match(/real-\d: dialled in/g) ?? []).length === 2,
    'both QEMUs dialled in',
    30_000,
  );
  for (const driver of ports) {
    await waitForGuest(driver, { mce: true });
    assert.equal((await hmp(driver, 'mce 0 9 0xbd80000000000000 0x7 0x1000 0x86')).trim(), '');
  }
  await until(() => count(db) === simulated + 2, `all ${simulated + 2} failures recorded`, 30_000);

  garbage.destroy();
  silent.destroy();
  agent.process.kill('SIGTERM');
  assert.equal(await agent.exited, 0, agent.stderr());
  for (const driver of ports) await driver.close();

  const store = Store.open(db, { mustExist: true });
  try {
    for (const d of dialers) {
      const rows = store.failures({ vm: d.name });
      assert.equal(rows.length, d.injected, `${d.name}: every event once`);
      assert.ok(
        rows.every((r) => r.valid && r.failure?.action === 'inject' && r.dialect === 'qemu'),
      );
      const connects = store.lifecycle().filter((l) => l.vm === d.name && l.event === 'CONNECTED');
      assert.equal(connects.length, 2, `${d.name}: two sessions`);
    }
    for (const n of [1, 2]) {
      const rows = store.failures({ vm: `real-${n}` });
      assert.equal(rows.length, 1);
      assert.deepEqual(rows[0]?.failure, {
        recipient: 'guest',
        action: 'inject',
        actionRequired: true,
        recursive: false,
      });
    }
    assert.equal(store.countFailures(), simulated + 2, 'nothing under another name');
  } finally {
    store.close();
  }
  assert.match(agent.stderr(), /does not speak QMP/);
  // One plain line per recorded failure, as journald should keep it.
  assert.match(
    agent.stderr(),
    /^memfail watch: real-1: MEMORY_FAILURE guest inject action-required at 20\d\d-\d\d-\d\dT[\d:.]+Z$/m,
  );
  const perEvent = agent
    .stderr()
    .split('\n')
    .filter((l) => / MEMORY_FAILURE /.test(l));
  assert.equal(perEvent.length, simulated + 2);
});

test('--accept: a dialer that sends its MEMORY_FAILURE and hangs up before it is named loses nothing', {
  timeout: 60_000,
}, async () => {
  const db = join(tmp.dir, 'early.db');
  const sock = join(tmp.dir, 'early.sock');
  const watcher = memfail(['watch', '--accept', `unix:${sock}`, '--db', db]);
  try {
    await until(() => /listening on unix:/.test(watcher.stderr()), 'the agent listening', 20_000);
    // Greeting, the negotiation's answer, one event, then EOF: query-name and
    // query-qmp-schema are never answered (a QEMU that failed and exited).
    const dialer = connect({ path: sock });
    dialer.on('error', () => {});
    dialer.setEncoding('utf8');
    let asked = '';
    dialer.on('data', (text: string) => {
      asked += text;
      if (!asked.includes('qmp_capabilities')) return;
      asked = '';
      const id = /"id":\s*("[^"]*"|\d+)/.exec(text)?.[1];
      dialer.end(
        `{"return": {}${id === undefined ? '' : `, "id": ${id}`}}\r\n` +
          '{"timestamp": {"seconds": 1764000999, "microseconds": 7}, "event": "MEMORY_FAILURE", ' +
          '"data": {"recipient": "guest", "action": "inject", "flags": {"action-required": true, "recursive": false}}}\r\n',
      );
    });
    dialer.write(
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n',
    );
    await until(() => count(db) === 1, 'the early failure recorded', 20_000);
  } finally {
    watcher.process.kill('SIGTERM');
  }
  assert.equal(await watcher.exited, 0, watcher.stderr());
  const store = Store.open(db, { mustExist: true });
  try {
    const [row] = store.failures({});
    assert.match(row?.vm ?? '', /^unix-peer-\d+$/);
    assert.deepEqual(row?.failure, {
      recipient: 'guest',
      action: 'inject',
      actionRequired: true,
      recursive: false,
    });
  } finally {
    store.close();
  }
});
