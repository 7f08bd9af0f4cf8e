import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AlertDispatcher, type AlertSink, sinkId, splitCommand } from '../../src/agent/alerts.js';
import { BatchWriter } from '../../src/agent/batch.js';
import { Store } from '../../src/agent/store.js';
import { until } from '../support/wait.js';
import { failure, tempDir } from './fixtures.js';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve(body));
  });
}

describe('splitCommand', () => {
  test('splits words without a shell, honouring quotes and escapes', () => {
    assert.deepEqual(splitCommand('notify  --to ops'), ['notify', '--to', 'ops']);
    assert.deepEqual(splitCommand(`sh -c 'cat > "$1"' x`), ['sh', '-c', 'cat > "$1"', 'x']);
    assert.deepEqual(splitCommand('a "b \\"c\\" d" e\\ f'), ['a', 'b "c" d', 'e f']);
    assert.deepEqual(splitCommand("''"), ['']);
    assert.throws(() => splitCommand("a 'b"), /unterminated '/);
    assert.throws(() => splitCommand('a "b'), /unterminated "/);
    assert.throws(() => splitCommand('   '), /empty/);
  });
});

describe('alerts', () => {
  test('--on-event runs the program with the event as JSON on stdin', async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const script = join(dir, 'append.mjs');
    const out = join(dir, 'alerts.jsonl');
    writeFileSync(
      script,
      `import { appendFileSync, readFileSync } from 'node:fs';
       appendFileSync(process.argv[2], readFileSync(0, 'utf8'));`,
    );
    const sink: AlertSink = { kind: 'command', argv: [process.execPath, script, out] };
    const dispatcher = new AlertDispatcher(store, [sink]);
    const writer = new BatchWriter(store, { sinks: dispatcher.sinkIds, maxDelayMs: 1 });
    writer.onCommitted(() => dispatcher.wake());
    try {
      dispatcher.start();
      writer.push(failure('vm1', 1, { action: 'reset', actionRequired: true, recursive: true }));
      writer.push(failure('vm2', 2, { recipient: 'hypervisor', action: 'ignore' }));
      writer.flush();
      await until(() => store.outboxCounts().delivered === 2, 'two deliveries');
      const got = readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(got.length, 2);
      assert.deepEqual(
        { ...got[0], raw: undefined, receivedAt: undefined },
        {
          id: 1,
          vm: 'vm1',
          recipient: 'guest',
          action: 'reset',
          actionRequired: true,
          recursive: true,
          timestamp: '2025-11-24T16:00:00.000001Z',
          receivedAt: undefined,
          dialect: 'qemu',
          valid: true,
          error: null,
          explanation:
            '16:00:00.000 vm1 — action-required error in guest memory while an earlier machine check was still being handled; a machine check during a machine check is a triple fault, so QEMU reset the guest',
          raw: undefined,
        },
      );
      assert.equal(got[1]?.vm, 'vm2');
    } finally {
      await dispatcher.stop();
      writer.close();
      store.close();
      cleanup();
    }
  });

  test('a failing program is retried until it succeeds', async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const flag = join(dir, 'fail-count');
    writeFileSync(flag, '2');
    const script = join(dir, 'flaky.mjs');
    // Fails twice, then succeeds.
    writeFileSync(
      script,
      `import { readFileSync, writeFileSync } from 'node:fs';
       const n = Number(readFileSync(process.argv[2], 'utf8'));
       writeFileSync(process.argv[2], String(n - 1));
       process.exit(n > 0 ? 3 : 0);`,
    );
    const sink: AlertSink = { kind: 'command', argv: [process.execPath, script, flag] };
    const errors: string[] = [];
    const dispatcher = new AlertDispatcher(store, [sink], {
      baseDelayMs: 5,
      onFailure: (_s, e) => errors.push(e),
    });
    try {
      store.insert([failure('vm1', 1)], dispatcher.sinkIds);
      dispatcher.start();
      await until(() => store.outboxCounts().delivered === 1, 'delivery after retries');
      assert.equal(errors.length, 2);
      assert.match(errors[0]!, /exited with status 3/);
    } finally {
      await dispatcher.stop();
      store.close();
      cleanup();
    }
  });

  test('a webhook receiver that is down first, then up, loses nothing, even across a restart', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'events.db');
    // Reserve a port, then free it: the receiver is "down" (connection refused).
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const url = `http://127.0.0.1:${port}/hook`;
    const sink: AlertSink = { kind: 'webhook', url };

    // First agent: records 50 failures while the receiver is down, then stops.
    let store = Store.open(path);
    const refused: string[] = [];
    let dispatcher = new AlertDispatcher(store, [sink], {
      baseDelayMs: 5,
      maxDelayMs: 20,
      onFailure: (_s, e) => refused.push(e),
    });
    const writer = new BatchWriter(store, { sinks: [sinkId(sink)] });
    writer.onCommitted(() => dispatcher.wake());
    dispatcher.start();
    for (let i = 0; i < 50; i++) writer.push(failure(`vm${i % 3}`, i));
    writer.close();
    await until(() => refused.length >= 3, 'a few refused deliveries');
    await dispatcher.stop();
    assert.equal(store.outboxCounts().delivered, 0);
    store.close();

    // The receiver comes up; it answers 503 to its first request.
    const received: Record<string, unknown>[] = [];
    let requests = 0;
    const receiver: Server = createServer(async (req, res) => {
      const body = await readBody(req);
      requests++;
      if (requests === 1) {
        res.writeHead(503).end();
        return;
      }
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));

    // A restarted agent resumes from the outbox.
    store = Store.open(path);
    dispatcher = new AlertDispatcher(store, [sink], { baseDelayMs: 5, maxDelayMs: 20 });
    try {
      dispatcher.start();
      await until(() => store.outboxCounts().pending === 0, 'outbox drained');
      assert.equal(received.length, 50);
      assert.deepEqual(
        received.map((r) => r.id),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.equal(received[0]?.vm, 'vm0');
      assert.equal(requests, 51);
      assert.deepEqual(store.outboxCounts(), { pending: 0, delivered: 50 });
    } finally {
      await dispatcher.stop();
      store.close();
      await new Promise<void>((r) => receiver.close(() => r()));
      cleanup();
    }
  });
});
