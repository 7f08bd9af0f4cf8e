import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SEED_ACTIONS } from '../../src/event/dialect.js';
import * as qemuSchema from '../../src/generated/qemu/index.js';
import * as seedSchema from '../../src/generated/seed/index.js';
import { SimulatedVm, type SimulatorOptions } from '../../src/hypervisor/simulator.js';
import { vmAddress } from '../../src/hypervisor/vm-address.js';
import { formatAddress } from '../../src/qmp/address.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';
import { QmpCommandError, QmpConnectionError } from '../../src/qmp/errors.js';
import type { LooseEvents } from '../../src/qmp/message.js';

let dir = '';
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memfail-sim-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  readonly sim: SimulatedVm;
  readonly client: QmpClient;
  readonly events: QmpEvent<LooseEvents>[];
  readonly address: string;
  readonly log: string[];
}

async function start(options: SimulatorOptions = {}): Promise<Running> {
  const log: string[] = [];
  const sim = new SimulatedVm({ ...options, log: (l) => log.push(l) });
  const address = `unix:${join(dir, `vm${n++}.sock`)}`;
  await sim.listen(address);
  const { client, events } = await connect(address);
  return { sim, client, events, address, log };
}

async function connect(
  address: string,
): Promise<{ client: QmpClient; events: QmpEvent<LooseEvents>[] }> {
  const client = new QmpClient();
  await client.connect(address);
  const events: QmpEvent<LooseEvents>[] = [];
  client.on('event', (ev) => events.push(ev));
  return { client, events };
}

async function stop(r: Running): Promise<void> {
  await r.client.close();
  await r.sim.close();
}

const hmp = (c: QmpClient, line: string) =>
  c.execute('human-monitor-command', { 'command-line': line });
const names = (evs: readonly QmpEvent<LooseEvents>[]) => evs.map((e) => e.event);
const failures = (evs: readonly QmpEvent<LooseEvents>[]) =>
  evs.filter((e) => e.event === 'MEMORY_FAILURE').map((e) => e.data);

const AR = 'mce 0 9 0xbd80000000000134 7 0x1000 0x8c';
const AO = 'mce 0 9 0xbd000000000000c0 5 0x1000 0x8c';

describe('simulator over a real socket (QEMU dialect)', () => {
  test('answers like QEMU 7.2: version, status, schema', async () => {
    const r = await start();
    try {
      assert.deepEqual(r.client.greeting?.version, {
        qemu: { major: 7, minor: 2, micro: 0 },
        package: 'memfail simulator',
      });
      assert.deepEqual(await r.client.execute('query-status'), {
        status: 'running',
        singlestep: false,
        running: true,
      });
      const schema = (await r.client.execute('query-qmp-schema')) as {
        name: string;
        'meta-type': string;
      }[];
      assert.deepEqual(schema, qemuSchema.schemaInfo);
      const entity = (name: string) => schema.find((e) => e.name === name);
      assert.equal(entity('MEMORY_FAILURE')?.['meta-type'], 'event');
      assert.equal(entity('x-memfail-host-memory-failure')?.['meta-type'], 'command');
      assert.equal(await hmp(r.client, 'info status'), 'VM status: running\r\n');
    } finally {
      await stop(r);
    }
  });

  test('host AR into guest RAM: a guest inject event, valid in QEMU 7.2’s schema, before the reply', async () => {
    const r = await start({ vcpus: 1 });
    try {
      const ret = await r.client.execute('x-memfail-host-memory-failure', {
        code: 'ar',
        address: 0x7f000,
      });
      assert.deepEqual(ret, {});
      assert.deepEqual(failures(r.events), [
        {
          recipient: 'guest',
          action: 'inject',
          flags: { 'action-required': true, recursive: false },
        },
      ]);
      for (const ev of r.events) assert.equal(qemuSchema.describeInvalidEvent(ev), null);
      const ts = r.events[0]?.timestamp;
      assert.ok(
        ts && Number.isInteger(ts.seconds) && ts.microseconds >= 0 && ts.microseconds < 1e6,
      );
    } finally {
      await stop(r);
    }
  });

  test('stuck guest: AR, then AO (unconditional via mce) resets the guest: MEMORY_FAILURE then RESET, text returned', async () => {
    const r = await start({ guest: 'stuck' });
    try {
      assert.equal(await hmp(r.client, AR), '');
      assert.equal(
        await hmp(r.client, AO),
        'CPU 0: Previous MCE still in progress, raising triple fault',
      );
      assert.deepEqual(names(r.events), ['MEMORY_FAILURE', 'MEMORY_FAILURE', 'RESET']);
      assert.deepEqual(r.events[2]?.data, { guest: true, reason: 'guest-reset' });
      assert.deepEqual(failures(r.events)[1], {
        recipient: 'guest',
        action: 'reset',
        flags: { 'action-required': false, recursive: true },
      });
      // The guest rebooted and enabled machine checks again.
      assert.equal(await hmp(r.client, AR), '');
      assert.equal(r.events.at(-1)?.event, 'MEMORY_FAILURE');
      assert.deepEqual(failures(r.events).at(-1), {
        recipient: 'guest',
        action: 'inject',
        flags: { 'action-required': true, recursive: false },
      });
    } finally {
      await stop(r);
    }
  });

  test('stuck guest: a host AO while MCIP is set is ignored (guest, ignore, recursive)', async () => {
    const r = await start({ guest: 'stuck' });
    try {
      await r.client.execute('x-memfail-host-memory-failure', { code: 'ar', address: 0x1000 });
      await r.client.execute('x-memfail-host-memory-failure', { code: 'ao', address: 0x2000 });
      assert.deepEqual(failures(r.events)[1], {
        recipient: 'guest',
        action: 'ignore',
        flags: { 'action-required': false, recursive: true },
      });
    } finally {
      await stop(r);
    }
  });

  test('linux guest handles each machine check: a second AR is injected again, not recursive', async () => {
    const r = await start();
    try {
      await hmp(r.client, AR);
      await hmp(r.client, AR);
      assert.deepEqual(
        failures(r.events).map((d) => (d as { action: string }).action),
        ['inject', 'inject'],
      );
      assert.equal(r.sim.state.vcpus[0]?.mcgStatus, 0n);
    } finally {
      await stop(r);
    }
  });

  test('two vCPUs, host AR: broadcast gives one event per vCPU', async () => {
    const r = await start({ vcpus: 2, guest: 'stuck' });
    try {
      await r.client.execute('x-memfail-host-memory-failure', {
        code: 'ar',
        address: 0x1000,
        'cpu-index': 1,
      });
      assert.deepEqual(failures(r.events), [
        {
          recipient: 'guest',
          action: 'inject',
          flags: { 'action-required': true, recursive: false },
        },
        {
          recipient: 'guest',
          action: 'inject',
          flags: { 'action-required': false, recursive: false },
        },
      ]);
    } finally {
      await stop(r);
    }
  });

  test('events reach every client', async () => {
    const r = await start();
    const second = await connect(r.address);
    try {
      await r.client.execute('x-memfail-host-memory-failure', {
        code: 'ao',
        address: 0x1000,
        'guest-ram': false,
      });
      await second.client.execute('query-status'); // the event was written before this reply
      assert.deepEqual(failures(second.events), failures(r.events));
      assert.equal(failures(r.events).length, 1);
    } finally {
      await second.client.close();
      await stop(r);
    }
  });

  test('stop, cont, system_reset and system_powerdown with their events', async () => {
    const r = await start({ guest: 'stuck' });
    try {
      await r.client.execute('stop');
      await r.client.execute('stop'); // already paused: no second STOP
      assert.deepEqual(await r.client.execute('query-status'), {
        status: 'paused',
        singlestep: false,
        running: false,
      });
      assert.equal(await hmp(r.client, 'info status'), 'VM status: paused\r\n');
      await r.client.execute('cont');
      await r.client.execute('cont');
      await r.client.execute('system_reset');
      await r.client.execute('system_powerdown'); // the stuck guest has no ACPI: nothing follows
      await r.client.execute('query-status');
      assert.deepEqual(names(r.events), ['STOP', 'RESUME', 'RESET', 'POWERDOWN']);
      assert.deepEqual(r.events[2]?.data, { guest: false, reason: 'host-qmp-system-reset' });
    } finally {
      await stop(r);
    }
  });

  test('bad injections get QEMU’s kind of reply and the VM keeps serving', async () => {
    const r = await start({ vcpus: 2 });
    try {
      assert.equal(await hmp(r.client, 'mce 7 1 0x8000000000000000 0 0 0'), ''); // unknown vCPU: silence, as QEMU
      assert.equal(
        await hmp(r.client, 'mce 0 10 0x8000000000000000 0 0 0'),
        'Invalid MCE bank number\r\n',
      );
      assert.equal(await hmp(r.client, 'mce 0 1 0 0 0 0'), 'Invalid MCE status code\r\n');
      assert.equal(
        await hmp(r.client, 'mce 0 1 0xZZ 0 0 0'), // strtoull takes the "0"; the next argument starts at "x"
        'invalid char \'x\' in expression\r\nTry "help mce" for more information\r\n',
      );
      assert.equal(
        await hmp(r.client, 'mce 0 1 zz 0 0 0'),
        'invalid char \'z\' in expression\r\nTry "help mce" for more information\r\n',
      );
      assert.equal(await hmp(r.client, 'bogus 1 2'), "unknown command: 'bogus'\r\n");
      const qmpErrors: [Record<string, unknown>, string][] = [
        [{ address: 1 }, "Parameter 'code' is missing"],
        [{ code: 'maybe', address: 1 }, "Parameter 'code' does not accept value 'maybe'"],
        [{ code: 'ar', address: -1 }, "Parameter 'address' expects uint64"],
        [
          { code: 'ar', address: '0x10' },
          "Invalid parameter type for 'address', expected: integer",
        ],
        [{ code: 'ar', address: 1, 'cpu-index': 9 }, 'CPU index 9 out of range (0..1)'],
        [{ code: 'ar', address: 1, colour: 'red' }, "Parameter 'colour' is unexpected"],
      ];
      for (const [args, desc] of qmpErrors) {
        await assert.rejects(
          r.client.execute('x-memfail-host-memory-failure', args),
          (err: unknown) => {
            assert.ok(err instanceof QmpCommandError);
            assert.equal(err.errorClass, 'GenericError');
            assert.equal(err.desc, desc);
            return true;
          },
        );
      }
      await assert.rejects(
        r.client.execute('human-monitor-command', {}),
        /Parameter 'command-line' is missing/,
      );
      assert.deepEqual(r.events, []);
      // Still serving, and still deciding.
      assert.equal(await hmp(r.client, AR), '');
      assert.equal(failures(r.events).length, 1);
    } finally {
      await stop(r);
    }
  });

  test('fatal host failure: the event is flushed, the command never answered, the VM exits 1', async () => {
    const r = await start();
    const second = await connect(r.address);
    const reply = r.client.execute('x-memfail-host-memory-failure', {
      code: 'ar',
      address: 0x1000,
      'guest-ram': false,
    });
    await assert.rejects(reply, (err: unknown) => err instanceof QmpConnectionError);
    assert.equal(await r.sim.exited, 1);
    await second.client.closed;
    for (const evs of [r.events, second.events]) {
      assert.deepEqual(failures(evs), [
        {
          recipient: 'hypervisor',
          action: 'fatal',
          flags: { 'action-required': true, recursive: false },
        },
      ]);
    }
    assert.ok(
      r.log.includes('QEMU got Hardware memory error at addr 0x0000000000001000'),
      r.log.join('\n'),
    );
  });

  test('-no-reboot: a guest reset becomes SHUTDOWN (guest-reset), the reply still comes, exit 0', async () => {
    const r = await start({ guest: 'no-mce', noReboot: true });
    const text = await hmp(r.client, AR);
    assert.equal(text, 'CPU 0: MCE capability is not enabled, raising triple fault');
    assert.equal(await r.sim.exited, 0);
    await r.client.closed;
    assert.deepEqual(names(r.events), ['MEMORY_FAILURE', 'SHUTDOWN']);
    assert.deepEqual(r.events[1]?.data, { guest: true, reason: 'guest-reset' });
  });

  test('quit: SHUTDOWN host-qmp-quit, the reply, then exit 0; nothing more is injected', async () => {
    const r = await start();
    assert.deepEqual(await r.client.execute('quit'), {});
    assert.throws(
      () => r.sim.inject({ kind: 'host', code: 'AO', address: 0n, inGuestRam: false }),
      /shutting down/,
    );
    assert.equal(await r.sim.exited, 0);
    await r.client.closed;
    assert.deepEqual(
      r.events.map((e) => [e.event, e.data]),
      [['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }]],
    );
  });

  test('linux guest: system_powerdown → POWERDOWN, SHUTDOWN guest-shutdown, exit 0', async () => {
    const r = await start();
    await r.client.execute('system_powerdown');
    assert.equal(await r.sim.exited, 0);
    await r.client.closed;
    assert.deepEqual(names(r.events), ['POWERDOWN', 'SHUTDOWN']);
    assert.deepEqual(r.events[1]?.data, { guest: true, reason: 'guest-shutdown' });
  });
});

describe('simulator, seed dialect', () => {
  test('emits only the seed’s four actions, with flags, each valid in schema/memory-failure-seed.json', async () => {
    const r = await start({ dialect: 'seed', guest: 'stuck', vcpus: 2 });
    try {
      const schema = (await r.client.execute('query-qmp-schema')) as { name: string }[];
      assert.deepEqual(schema, seedSchema.schemaInfo);
      await r.client.execute('x-memfail-host-memory-failure', {
        code: 'ao',
        address: 0x1000,
        'guest-ram': false,
      });
      await r.client.execute('x-memfail-host-memory-failure', { code: 'ar', address: 0x1000 }); // 2 vCPUs: 2 events
      // Recursive on both vCPUs (the broadcast set MCIP on vCPU 1 too): ignored twice.
      await r.client.execute('x-memfail-host-memory-failure', { code: 'ao', address: 0x1000 });
      await hmp(r.client, AR); // recursive AR: reset
      const data = failures(r.events);
      assert.deepEqual(data, [
        { action: 'hypervisor-ignore', flags: { 'action-required': false, recursive: false } },
        { action: 'guest-mce-inject', flags: { 'action-required': true, recursive: false } },
        { action: 'guest-mce-inject', flags: { 'action-required': false, recursive: false } },
        { action: 'hypervisor-ignore', flags: { 'action-required': false, recursive: true } },
        { action: 'hypervisor-ignore', flags: { 'action-required': false, recursive: true } },
        { action: 'guest-mce-fatal', flags: { 'action-required': true, recursive: true } },
      ]);
      for (const d of data)
        assert.ok((SEED_ACTIONS as readonly string[]).includes((d as { action: string }).action));
      for (const ev of r.events)
        assert.equal(seedSchema.describeInvalidEvent(ev), null, JSON.stringify(ev));
      assert.ok(r.log.some((l) => l.includes('the seed has no guest-ignore action')));
      await r.client
        .execute('x-memfail-host-memory-failure', {
          code: 'ar',
          address: 0x1000,
          'guest-ram': false,
        })
        .catch(() => {});
      assert.equal(await r.sim.exited, 1);
      assert.deepEqual(failures(r.events).at(-1), {
        action: 'hypervisor-fatal',
        flags: { 'action-required': true, recursive: false },
      });
    } finally {
      await r.client.close();
      await r.sim.close();
    }
  });
});

describe('vmAddress: one address for N VMs', () => {
  test('one VM: as given', () => {
    assert.equal(formatAddress(vmAddress('unix:/tmp/vm.sock', 0, 1)), 'unix:/tmp/vm.sock');
  });
  test('unix: index before the extension, or appended', () => {
    assert.equal(formatAddress(vmAddress('unix:/tmp/vm.sock', 1, 3)), 'unix:/tmp/vm-1.sock');
    assert.equal(formatAddress(vmAddress('/tmp/qmp', 0, 2)), 'unix:/tmp/qmp-0');
    assert.equal(formatAddress(vmAddress('/tmp/a.d/qmp', 0, 2)), 'unix:/tmp/a.d/qmp-0');
    assert.equal(formatAddress(vmAddress('/tmp/.qmp', 0, 2)), 'unix:/tmp/.qmp-0');
  });
  test('%d is replaced', () => {
    assert.equal(formatAddress(vmAddress('unix:/run/vm%d/qmp', 2, 3)), 'unix:/run/vm2/qmp');
  });
  test('tcp: consecutive ports; port 0 stays 0', () => {
    assert.equal(formatAddress(vmAddress('tcp:127.0.0.1:4444', 2, 3)), 'tcp:127.0.0.1:4446');
    assert.equal(formatAddress(vmAddress('tcp:127.0.0.1:0', 2, 3)), 'tcp:127.0.0.1:0');
  });
});
