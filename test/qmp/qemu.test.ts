// Our client against REAL QEMU 7.2 under TCG. Needs qemu-system-x86_64: these
// tests fail (never skip) without it, telling to run `bash scripts/setup.sh --test`.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import {
  LOAD_ADDRESS,
  MCE_HANDLER_OFFSET,
  mceBootSector,
  plainBootSector,
} from '../../src/qemu/bootsector.js';
import {
  AR_MCE,
  hmp,
  injectMce,
  readRegisters,
  startGuest,
  waitForGuest,
} from '../../src/qemu/guest.js';
import { findQemu, launchQemu } from '../../src/qemu/launch.js';
import {
  type QmpAddress,
  type QmpEvent,
  QmpClient,
  QmpCommandError,
  QmpServer,
} from '../../src/qmp/index.js';

type Ev = QmpEvent<Record<string, Record<string, unknown>>>;

/** Sends each raw request line and collects the one reply to it (after the greeting). */
async function replies(address: QmpAddress, requests: readonly string[]): Promise<unknown[]> {
  const socket =
    address.kind === 'unix' ? connect(address.path) : connect(address.port, address.host);
  socket.setEncoding('utf8');
  const lines: string[] = [];
  let buffer = '';
  let wake: (() => void) | null = null;
  socket.on('data', (d: string) => {
    buffer += d;
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
    wake?.();
  });
  const next = async () => {
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    return JSON.parse(lines.shift()!);
  };
  await next(); // greeting
  const out: unknown[] = [];
  for (const request of requests) {
    socket.write(`${request}\n`);
    out.push(await next());
  }
  socket.destroy();
  return out;
}

describe('real QEMU 7.2', () => {
  test('qemu-system-x86_64 is installed', () => {
    assert.ok(findQemu().endsWith('qemu-system-x86_64'));
  });

  test('boot sectors are 512 bytes with the 0x55AA signature', () => {
    for (const s of [mceBootSector(), plainBootSector()]) {
      assert.equal(s.length, 512);
      assert.equal(s.readUInt16BE(510), 0x55aa);
    }
  });

  test('greeting, negotiation, query-status, query-qmp-schema, stop/cont events, HMP, errors', async () => {
    const vm = await launchQemu({ paused: true, qmpSockets: 2 });
    try {
      // Before qmp_capabilities QEMU runs nothing else, with this exact error.
      const raw = new QmpClient({ negotiate: false });
      await raw.connect(vm.qmp[1]!);
      await assert.rejects(raw.execute('query-status'), {
        errorClass: 'CommandNotFound',
        desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
      });
      await raw.execute('qmp_capabilities');
      await assert.rejects(raw.execute('qmp_capabilities'), {
        errorClass: 'CommandNotFound',
        desc: 'Capabilities negotiation is already complete, command ignored',
      });
      await raw.close();

      const client = new QmpClient({ oob: true });
      const greeting = await client.connect(vm.qmp[0]!);
      assert.deepEqual(client.capabilities, ['oob']);
      assert.equal(greeting.version.qemu.major, 7);
      assert.equal(greeting.version.qemu.minor, 2);
      assert.ok(greeting.capabilities.includes('oob'));
      assert.deepEqual(await client.execute('query-status'), {
        status: 'prelaunch',
        singlestep: false,
        running: false,
      });

      const schema = await client.execute('query-qmp-schema');
      assert.ok(
        Array.isArray(schema) && schema.length > 1000,
        'query-qmp-schema returns a big list',
      );
      assert.ok(schema.some((e: { name?: string }) => e.name === 'MEMORY_FAILURE'));

      const events = client.events({ names: ['STOP', 'RESUME'] });
      await client.execute('cont');
      assert.equal((await events.next()).value?.event, 'RESUME');
      await client.execute('stop');
      const stop = (await events.next()).value as Ev;
      assert.equal(stop.event, 'STOP');
      assert.ok(stop.timestamp.seconds > 1_600_000_000);

      assert.match(await hmp(client, 'info status'), /VM status: paused/);
      await assert.rejects(client.execute('no-such-command'), (e: unknown) => {
        assert.ok(e instanceof QmpCommandError);
        assert.equal(e.errorClass, 'CommandNotFound');
        assert.equal(e.desc, 'The command no-such-command has not been found');
        return true;
      });
      await assert.rejects(client.execute('device_del', { id: 'nope' }), {
        errorClass: 'DeviceNotFound',
      });
      await client.close();
    } finally {
      await vm.kill();
    }
  });

  test('our QmpServer answers malformed and early requests exactly as QEMU does', async () => {
    const requests = [
      '{"execute": "query-status", "id": 1}',
      '[1]',
      '"x"',
      '{"foo": 1, "id": 2}',
      '{"id": 3}',
      '{"execute": 1, "id": 4}',
      '{"execute": "query-status", "arguments": [], "id": 5}',
      '{"exec-oob": "migrate-pause", "id": 6}',
      '{"execute": "a", "exec-oob": "b", "id": 7}',
      '{"execute": "qmp_capabilities", "arguments": {"x": 1}, "id": 8}',
      '{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}, "id": 9}',
      '{"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}, "id": 10}',
      '{"execute": "qmp_capabilities", "id": "go"}',
      '{"execute": "qmp_capabilities", "id": 11}',
      '{"execute": "no-such-command", "id": [12]}',
      '{"exec-oob": "migrate-pause", "id": 13}',
    ];
    const vm = await launchQemu({ paused: true });
    const server = new QmpServer();
    try {
      const fromQemu = await replies(vm.qmp[0]!, requests);
      const ours = await replies(await server.listen('tcp:127.0.0.1:0'), requests);
      assert.deepEqual(ours, fromQemu);
    } finally {
      await server.close();
      await vm.kill();
    }
  });

  test('MCE guest: inject, then recursive reset; MEMORY_FAILURE and SHUTDOWN arrive before the disconnect', async () => {
    const guest = await startGuest({ mce: true, noReboot: true, qmpSockets: 2 });
    try {
      const control = guest.client;
      const watcher = new QmpClient();
      await watcher.connect(guest.vm.qmp[0]!);
      const seen: string[] = [];
      const failures: Ev[] = [];
      watcher.on('event', (ev) => {
        seen.push(ev.event);
        if (ev.event === 'MEMORY_FAILURE') failures.push(ev as Ev);
      });
      watcher.on('disconnect', (info) => seen.push(`disconnect:${info.reason}`));
      const first = control.events({ names: ['MEMORY_FAILURE'] });

      await guest.waitReady();
      await injectMce(control, AR_MCE);
      assert.deepEqual((await first.next()).value?.data, {
        recipient: 'guest',
        action: 'inject',
        flags: { 'action-required': true, recursive: false },
      });

      // The handler never returns: MCIP is still set, so this one is recursive.
      await injectMce(control, AR_MCE).catch(() => {}); // QEMU may exit before answering
      const info = await watcher.closed;
      assert.equal(info.reason, 'eof');
      assert.deepEqual(
        failures.map((f) => f.data),
        [
          {
            recipient: 'guest',
            action: 'inject',
            flags: { 'action-required': true, recursive: false },
          },
          {
            recipient: 'guest',
            action: 'reset',
            flags: { 'action-required': true, recursive: true },
          },
        ],
      );
      const last = seen.slice(-3);
      assert.deepEqual(last, ['MEMORY_FAILURE', 'SHUTDOWN', 'disconnect:eof']);
      const exit = await guest.vm.exited;
      assert.equal(exit.code, 0);
    } finally {
      await guest.stop();
    }
  });

  test('guest without CR4.MCE: the first injection resets it', async () => {
    const guest = await startGuest({ mce: false, noReboot: true });
    try {
      const client = guest.client;
      const failures = client.events({ names: ['MEMORY_FAILURE', 'SHUTDOWN'] });
      await guest.waitReady();
      await injectMce(client, AR_MCE).catch(() => {});
      assert.deepEqual((await failures.next()).value?.data, {
        recipient: 'guest',
        action: 'reset',
        flags: { 'action-required': true, recursive: false },
      });
      const shutdown = (await failures.next()).value as Ev;
      assert.equal(shutdown.event, 'SHUTDOWN');
      assert.equal(shutdown.data.reason, 'guest-reset');
      // QEMU exits right after the reset; it may not have read all our input,
      // in which case the kernel reports a reset instead of a clean EOF.
      const closed = await client.closed;
      const reset =
        closed.reason === 'socket-error' &&
        (closed.error as { code?: string }).code === 'ECONNRESET';
      assert.ok(
        closed.reason === 'eof' || reset,
        `disconnect reason ${closed.reason}: ${closed.error}`,
      );
      assert.equal((await failures.next()).done, true);
    } finally {
      await guest.stop();
    }
  });

  test('-smp: the guest has the vCPUs asked for; a bad count is refused before QEMU starts', async () => {
    await assert.rejects(launchQemu({ vcpus: 0 }), RangeError);
    const guest = await startGuest({ mce: false, vcpus: 2 });
    try {
      assert.deepEqual(
        ((await guest.client.execute('query-cpus-fast')) as { 'cpu-index': number }[]).map(
          (c) => c['cpu-index'],
        ),
        [0, 1],
      );
    } finally {
      await guest.stop();
    }
  });

  test('a guest halted in its #MC handler is not ready: waitForGuest waits for the idle loop', async () => {
    const guest = await startGuest({ mce: true });
    try {
      await guest.waitReady();
      await injectMce(guest.client, AR_MCE); // delivered; the handler never returns
      const handler = LOAD_ADDRESS + MCE_HANDLER_OFFSET;
      let regs = await readRegisters(guest.client);
      for (let i = 0; i < 100 && !(regs.halted && regs.eip >= handler); i++) {
        regs = await readRegisters(guest.client);
      }
      assert.ok(regs.halted && regs.eip >= handler && regs.eip < handler + 4, JSON.stringify(regs));
      await assert.rejects(waitForGuest(guest.client, { mce: true, timeoutMs: 200 }), {
        message: /did not reach its idle loop: EIP=7c2/,
      });
    } finally {
      await guest.stop();
    }
  });
});
