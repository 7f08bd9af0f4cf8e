import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { BatchWriter } from '../../src/agent/batch.js';
import { Store } from '../../src/agent/store.js';
import { parseVmArgument, parseVmArguments, Watcher } from '../../src/agent/watcher.js';
import { until } from '../support/wait.js';
import { tempDir } from './fixtures.js';
import { QEMU_INJECT, QEMU_RESET, startVm } from './qmp-peers.js';

function setup() {
  const { dir, cleanup } = tempDir('memfail-watch-');
  const store = Store.open(join(dir, 'events.db'));
  const writer = new BatchWriter(store, { maxDelayMs: 5 });
  return {
    dir,
    store,
    writer,
    done: () => {
      writer.close();
      store.close();
      cleanup();
    },
  };
}

const fast = { backoffInitialMs: 10, backoffMaxMs: 50, onceWaitMs: 5000 };

describe('VM arguments', () => {
  test('NAME=ADDRESS with each address form', () => {
    assert.deepEqual(parseVmArgument('vm1=unix:/run/a.qmp'), {
      name: 'vm1',
      address: { kind: 'unix', path: '/run/a.qmp' },
    });
    assert.deepEqual(parseVmArgument('db=tcp:127.0.0.1:4444').address, {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 4444,
    });
    assert.deepEqual(parseVmArgument('x=/tmp/q').address, { kind: 'unix', path: '/tmp/q' });
  });

  test('bad arguments say what is wrong', () => {
    assert.throws(() => parseVmArgument('/run/a.qmp'), /not NAME=ADDRESS/);
    assert.throws(() => parseVmArgument('=unix:/a'), /VM name/);
    assert.throws(() => parseVmArgument('vm=tcp:host'), /vm=tcp:host.*invalid QMP address/);
    assert.throws(() => parseVmArguments(['a=/x', 'a=/y']), /given twice/);
  });
});

describe('Watcher', () => {
  test('records failures and lifecycle events from many VMs at once, in once mode', async () => {
    const t = setup();
    const vms = await Promise.all(
      Array.from({ length: 8 }, (_, i) => startVm(join(t.dir, `vm${i}.qmp`))),
    );
    const watcher = new Watcher(
      vms.map((vm, i) => parseVmArgument(`vm${i}=${vm.address}`)),
      t.writer,
      { ...fast, once: true },
    );
    try {
      const ready = Promise.all(vms.map((vm) => vm.nextClient()));
      watcher.start();
      await ready;
      vms.forEach((vm, i) => {
        for (let k = 0; k <= i; k++) vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
        vm.server.emit('STOP');
        vm.server.emit('RESUME');
      });
      // Each VM goes away: with --once, that ends the watch.
      await Promise.all(vms.map((vm) => vm.server.close()));
      await watcher.done;
      t.writer.flush();
      for (let i = 0; i < 8; i++) {
        assert.equal(t.store.countFailures({ vm: `vm${i}` }), i + 1, `vm${i}`);
        assert.deepEqual(
          t.store.lifecycle({ vm: `vm${i}` }).map((l) => l.event),
          ['CONNECTED', 'STOP', 'RESUME', 'DISCONNECTED'],
        );
      }
      const f = t.store.failures({ vm: 'vm3' })[0]!;
      assert.deepEqual(f.failure, {
        recipient: 'guest',
        action: 'inject',
        actionRequired: true,
        recursive: false,
      });
      assert.equal(f.dialect, 'qemu');
      assert.equal(f.valid, true);
      assert.deepEqual(watcher.unreached, []);
    } finally {
      await watcher.stop();
      t.done();
    }
  });

  test('a VM that exits right after its last event still has that event recorded', async () => {
    const t = setup();
    const vm = await startVm(join(t.dir, 'vm.qmp'));
    const watcher = new Watcher([parseVmArgument(`quick=${vm.address}`)], t.writer, {
      ...fast,
      once: true,
    });
    try {
      const ready = vm.nextClient();
      watcher.start();
      await ready;
      vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
      vm.server.emit('MEMORY_FAILURE', QEMU_RESET);
      vm.server.emit('SHUTDOWN', { guest: true, reason: 'guest-reset' });
      for (const s of vm.server.sessions) s.end();
      await watcher.done;
      t.writer.flush();
      assert.deepEqual(
        t.store.failures().map((f) => f.failure?.action),
        ['inject', 'reset'],
      );
      assert.deepEqual(
        t.store.lifecycle().map((l) => [l.event, l.data]),
        [
          ['CONNECTED', { address: vm.address, qemu: '7.2.0' }],
          ['SHUTDOWN', { guest: true, reason: 'guest-reset' }],
          ['DISCONNECTED', { reason: 'eof' }],
        ],
      );
    } finally {
      await watcher.stop();
      await vm.server.close();
      t.done();
    }
  });

  test('reconnects to a VM that restarts, and to one that was not up yet', async () => {
    const t = setup();
    const path = join(t.dir, 'restart.qmp');
    const latePath = join(t.dir, 'late.qmp');
    const watcher = new Watcher(
      [parseVmArgument(`r=unix:${path}`), parseVmArgument(`late=unix:${latePath}`)],
      t.writer,
      fast,
    );
    try {
      let vm = await startVm(path);
      let ready = vm.nextClient();
      watcher.start();
      await ready;
      vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
      await vm.server.close();
      // The VM restarts at the same address (a new QEMU: new server).
      vm = await startVm(path);
      ready = vm.nextClient();
      await ready;
      vm.server.emit('MEMORY_FAILURE', QEMU_RESET);
      // The other VM comes up only now.
      const late = await startVm(latePath, 'seed');
      await late.nextClient();
      late.server.emit('MEMORY_FAILURE', { action: 'guest-mce-fatal' });
      await vm.server.close();
      await late.server.close();
      await until(
        () => watcher.status().every((s) => s.state === 'waiting'),
        'every VM waiting to reconnect',
        10_000,
      );
      await watcher.stop();
      t.writer.flush();
      assert.deepEqual(
        t.store.failures({ vm: 'r' }).map((f) => f.failure?.action),
        ['inject', 'reset'],
      );
      assert.deepEqual(
        t.store
          .lifecycle({ vm: 'r' })
          .map((l) => l.event)
          .filter((e) => e !== 'DISCONNECTED' && e !== 'CONNECTED').length,
        0,
      );
      assert.equal(t.store.lifecycle({ vm: 'r' }).filter((l) => l.event === 'CONNECTED').length, 2);
      const [seed] = t.store.failures({ vm: 'late' });
      assert.equal(seed?.dialect, 'seed');
      assert.deepEqual(seed?.failure, {
        recipient: 'guest',
        action: 'reset',
        actionRequired: false,
        recursive: false,
      });
      assert.equal(watcher.status().find((s) => s.name === 'r')?.connections, 2);
    } finally {
      await watcher.stop();
      t.done();
    }
  });

  test('events that fail validation are stored flagged, and the dialect comes from the schema', async () => {
    const t = setup();
    const vm = await startVm(join(t.dir, 'odd.qmp'), 'seed');
    const watcher = new Watcher([parseVmArgument(`odd=${vm.address}`)], t.writer, {
      ...fast,
      once: true,
    });
    try {
      const ready = vm.nextClient();
      watcher.start();
      await ready;
      await until(() => watcher.status()[0]?.dialect === 'seed', "the VM's dialect seed", 10_000);
      // The schema said seed: a QEMU-shaped event is not valid for this VM.
      vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
      vm.server.emit('MEMORY_FAILURE', { action: 'guest-mce-inject', colour: 'red' });
      vm.server.emit('MEMORY_FAILURE', { action: 'hypervisor-fatal', flags: { recursive: 'yes' } });
      await vm.server.close();
      await watcher.done;
      t.writer.flush();
      const all = t.store.failures({ includeUnreadable: true });
      assert.equal(all.length, 3);
      assert.ok(all.every((f) => !f.valid && f.dialect === 'seed'));
      assert.match(all[0]!.error!, /^seed: data\.action/);
      // Readable despite an unknown member: canonical fields kept, flagged.
      assert.deepEqual(all[1]!.failure?.action, 'inject');
      assert.match(all[1]!.error!, /colour/);
      assert.equal(all[2]!.failure, null);
      assert.match(all[2]!.error!, /recursive/);
      assert.equal(t.store.countFailures(), 1);
    } finally {
      await watcher.stop();
      t.done();
    }
  });

  test('events sent together with the negotiation reply are recorded after CONNECTED', async () => {
    const t = setup();
    const path = join(t.dir, 'eager.qmp');
    // A peer that answers qmp_capabilities and sends its events in the same write.
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(
        `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] } })}\r\n`,
      );
      socket.once('data', (chunk: Buffer) => {
        const { id } = JSON.parse(chunk.toString().trim()) as { id: unknown };
        const event = JSON.stringify({
          timestamp: { seconds: 1_764_000_000, microseconds: 1 },
          event: 'MEMORY_FAILURE',
          data: QEMU_INJECT,
        });
        socket.end(`${JSON.stringify({ return: {}, id })}\r\n${event}\r\n`);
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    const watcher = new Watcher([parseVmArgument(`eager=unix:${path}`)], t.writer, {
      ...fast,
      once: true,
    });
    try {
      watcher.start();
      await watcher.done;
      t.writer.flush();
      const [f] = t.store.failures();
      const [connected, disconnected] = t.store.lifecycle();
      assert.equal(connected?.event, 'CONNECTED');
      assert.equal(disconnected?.event, 'DISCONNECTED');
      assert.ok(f !== undefined && connected!.receivedUs <= f.receivedUs);
      assert.ok(f.receivedUs <= disconnected!.receivedUs);
      // The raw message as sent: QEMU's member order (timestamp first) kept.
      assert.equal(
        f.raw,
        JSON.stringify({
          timestamp: { seconds: 1_764_000_000, microseconds: 1 },
          event: 'MEMORY_FAILURE',
          data: QEMU_INJECT,
        }),
      );
      assert.equal(watcher.status()[0]?.connections, 1);
    } finally {
      server.close();
      t.done();
    }
  });

  test('the raw column holds each MEMORY_FAILURE byte for byte as QEMU wrote it', async () => {
    const t = setup();
    const path = join(t.dir, 'spaced.qmp');
    // QEMU's own spacing (", " and ": "), CRLF line ends; one event without
    // data (the client fills in {} for the parsed side), one spread over lines
    // and cut across writes.
    const inject =
      '{"timestamp": {"seconds": 1764000000, "microseconds": 2}, "event": "MEMORY_FAILURE", "data": {"recipient": "guest", "action": "inject", "flags": {"action-required": true, "recursive": false}}}';
    const noData =
      '{"timestamp": {"seconds": 1764000000, "microseconds": 3}, "event": "MEMORY_FAILURE"}';
    const reset = `{\r\n    "timestamp": {"seconds": 1764000000, "microseconds": 4},\r\n    "event": "MEMORY_FAILURE",\r\n    "data": ${JSON.stringify(QEMU_RESET)}\r\n}`;
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(
        '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n',
      );
      let input = '';
      socket.on('data', (chunk: Buffer) => {
        input += chunk.toString('utf8');
        for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
          const { execute, id } = JSON.parse(input.slice(0, nl)) as {
            execute: string;
            id: unknown;
          };
          input = input.slice(nl + 1);
          // The schema probe goes unanswered: a reply would land inside the cut message.
          if (execute !== 'qmp_capabilities') continue;
          socket.write(`{"return": {}, "id": ${JSON.stringify(id)}}\r\n`);
          socket.write(`${inject}\r\n${noData}\r\n${reset.slice(0, 40)}`);
          setTimeout(() => socket.end(`${reset.slice(40)}\r\n`), 20);
        }
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    const watcher = new Watcher([parseVmArgument(`spaced=unix:${path}`)], t.writer, {
      ...fast,
      once: true,
    });
    try {
      watcher.start();
      await watcher.done;
      t.writer.flush();
      const all = t.store.failures({ includeUnreadable: true });
      assert.deepEqual(
        all.map((f) => f.raw),
        [inject, noData, reset],
      );
      assert.deepEqual(
        all.map((f) => f.valid),
        [true, false, true],
      );
      assert.equal(all[2]?.failure?.action, 'reset');
      // Byte for byte, as the file holds it.
      const db = new Database(join(t.dir, 'events.db'), { readonly: true });
      try {
        const bytes = db
          .prepare('SELECT CAST(raw AS BLOB) AS b FROM memory_failure ORDER BY id')
          .all() as { b: Buffer }[];
        assert.deepEqual(
          bytes.map((r) => r.b),
          [inject, noData, reset].map((text) => Buffer.from(text, 'utf8')),
        );
      } finally {
        db.close();
      }
    } finally {
      server.close();
      t.done();
    }
  });

  test('once mode gives up on a VM that never comes up, and says so', async () => {
    const t = setup();
    const watcher = new Watcher(
      [parseVmArgument(`ghost=unix:${join(t.dir, 'none.qmp')}`)],
      t.writer,
      {
        ...fast,
        once: true,
        onceWaitMs: 100,
      },
    );
    try {
      watcher.start();
      await watcher.done;
      assert.deepEqual(watcher.unreached, ['ghost']);
    } finally {
      t.done();
    }
  });
});
