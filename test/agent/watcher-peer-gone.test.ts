/**
 * The agent records the fatal MEMORY_FAILURE of a VM that exits just as the
 * agent writes to it: here its `query-qmp-schema`, sent right after each
 * connect. A real unix-socket peer in this process sends the event and
 * closes at the moment the watcher announces the connection (its log line
 * comes synchronously before the schema request is written), so the
 * request's write fails with EPIPE while the event is still unread.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { BatchWriter } from '../../src/agent/batch.js';
import { Store } from '../../src/agent/store.js';
import { parseVmArgument, Watcher } from '../../src/agent/watcher.js';
import { tempDir } from './fixtures.js';

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] },
};
const FATAL = {
  timestamp: { seconds: 1764000000, microseconds: 42 },
  event: 'MEMORY_FAILURE',
  data: {
    recipient: 'guest',
    action: 'fatal',
    flags: { 'action-required': true, recursive: false },
  },
};

test('a VM that reports a fatal failure and exits as the agent writes to it: the failure is recorded', async () => {
  const { dir, cleanup } = tempDir('memfail-peer-gone-');
  const store = Store.open(join(dir, 'events.db'));
  const writer = new BatchWriter(store, { maxDelayMs: 5 });
  const path = join(dir, 'vm.qmp');
  let vm: Socket | null = null;
  const server = createServer((s) => {
    vm = s;
    s.on('error', () => {});
    s.write(`${JSON.stringify(GREETING)}\r\n`);
    s.on('data', (chunk) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const msg = JSON.parse(line) as { execute?: string; id?: unknown };
        if (msg.execute === 'qmp_capabilities')
          s.write(`${JSON.stringify({ return: {}, id: msg.id })}\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  const lines: string[] = [];
  const watcher = new Watcher([parseVmArgument(`vm1=unix:${path}`)], writer, {
    once: true,
    log: (line) => {
      lines.push(line);
      // The event, then the VM is gone; the watcher's schema request follows this line.
      if (/connected to/.test(line) && vm !== null) {
        vm.write(`${JSON.stringify(FATAL)}\r\n`);
        vm.destroy();
      }
    },
  });
  try {
    watcher.start();
    await watcher.done;
    writer.flush();
    const failures = store.failures();
    assert.equal(failures.length, 1, `recorded: ${JSON.stringify(failures)}; log: ${lines}`);
    assert.equal(failures[0]?.failure?.action, 'fatal');
    assert.equal(failures[0]?.raw, JSON.stringify(FATAL));
    const lifecycle = store.lifecycle({ vm: 'vm1' });
    assert.deepEqual(
      lifecycle.map((l) => l.event),
      ['CONNECTED', 'DISCONNECTED'],
    );
    const why = lifecycle[1]?.data as { reason: string; error?: string };
    assert.equal(why.reason, 'eof');
    assert.match(String(why.error), /EPIPE/, 'the disconnect says the schema request failed');
  } finally {
    await watcher.stop();
    server.close();
    writer.close();
    store.close();
    cleanup();
  }
});
