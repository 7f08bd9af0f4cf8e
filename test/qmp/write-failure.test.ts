/**
 * A write that fails because the peer is gone (EPIPE) must not cost what the
 * peer sent before it went: a VM that reports a fatal MEMORY_FAILURE and
 * exits while we are writing to it.
 *
 * Each test drives a real unix-socket peer in this process, and makes it
 * send and close synchronously just before the client writes, so that the
 * client's write fails while the peer's last bytes are still unread in the
 * kernel: no timing is involved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { QmpClient, QmpConnectionError, type QmpEvent } from '../../src/qmp/index.js';
import type { LooseEvents } from '../../src/qmp/message.js';

const dir = mkdtempSync(join(tmpdir(), 'memfail-qmp-epipe-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] },
};
const FATAL = {
  event: 'MEMORY_FAILURE',
  data: {
    recipient: 'guest',
    action: 'fatal',
    flags: { 'action-required': true, recursive: false },
  },
  timestamp: { seconds: 1700000000, microseconds: 1 },
};

/** A QMP peer that answers qmp_capabilities and gives the test its socket. */
async function peer(): Promise<{ server: Server; path: string; socket: Promise<Socket> }> {
  const path = join(dir, `p${count++}.sock`);
  let resolveSocket!: (s: Socket) => void;
  const socket = new Promise<Socket>((r) => {
    resolveSocket = r;
  });
  const server = createServer((s) => {
    s.write(`${JSON.stringify(GREETING)}\r\n`);
    let buffer = '';
    s.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = JSON.parse(buffer.slice(0, nl)) as { execute?: string; id?: unknown };
        buffer = buffer.slice(nl + 1);
        if (line.execute === 'qmp_capabilities') {
          s.write(`${JSON.stringify({ return: {}, id: line.id })}\r\n`);
          resolveSocket(s);
        }
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, path, socket };
}

/** Sends `lines` and closes the peer's socket at once (both returns are synchronous). */
function sendAndVanish(s: Socket, lines: readonly object[]): void {
  for (const l of lines) s.write(`${JSON.stringify(l)}\r\n`);
  s.destroy();
}

describe('a write that fails because the peer is gone', () => {
  test('the event sent before the peer closed is delivered; the command fails clearly', async () => {
    const { server, path, socket } = await peer();
    const client = new QmpClient();
    const events: QmpEvent<LooseEvents>[] = [];
    client.on('event', (ev) => events.push(ev));
    await client.connect(`unix:${path}`);
    const s = await socket;
    sendAndVanish(s, [FATAL]);
    // The peer's socket is closed and its event unread here: this write hits EPIPE.
    const failed = client.execute('query-status').then(
      () => assert.fail('a command to a closed peer cannot succeed'),
      (err: unknown) => err,
    );
    const info = await client.closed;
    assert.equal(events.length, 1, 'the event sent before the close is delivered');
    assert.equal(events[0]?.event, 'MEMORY_FAILURE');
    assert.deepEqual(events[0]?.data, FATAL.data);
    assert.equal(info.reason, 'eof');
    assert.match(String(info.error?.message), /EPIPE/);
    const err = await failed;
    assert.ok(err instanceof QmpConnectionError, String(err));
    assert.equal(err.code, 'disconnected');
    assert.match(err.message, /query-status/);
    assert.match(err.message, /EPIPE/);
    assert.equal(client.state, 'idle');
    server.close();
  });

  test('events are delivered before pending commands fail; commands after the failure fail at once', async () => {
    const { server, path, socket } = await peer();
    const client = new QmpClient();
    const order: string[] = [];
    client.on('event', (ev) => order.push(`event ${(ev.data as { n: number }).n}`));
    client.on('disconnect', (info) => order.push(`disconnect ${info.reason}`));
    await client.connect(`unix:${path}`);
    const s = await socket;
    const many = Array.from({ length: 50 }, (_, n) => ({
      event: 'STOP',
      data: { n },
      timestamp: { seconds: 1, microseconds: n },
    }));
    sendAndVanish(s, many);
    const first = client.execute('query-status').catch((err: Error) => {
      order.push('query-status failed');
      return err;
    });
    // The first write's failure is known by the time its callback ran.
    await new Promise((r) => setImmediate(r));
    const second = await client.execute('query-name').then(
      () => null,
      (err: Error) => err,
    );
    assert.ok(second instanceof QmpConnectionError);
    assert.match(second.message, /query-name/);
    await client.closed;
    await first;
    const delivered = order.filter((o) => o.startsWith('event '));
    assert.deepEqual(
      delivered,
      many.map((m) => `event ${m.data.n}`),
      'every event, in order',
    );
    const lastEvent = order.lastIndexOf('event 49');
    assert.ok(order.indexOf('disconnect eof') > lastEvent, order.join(', '));
    assert.ok(order.indexOf('query-status failed') > lastEvent, order.join(', '));
    server.close();
  });

  test('the client connects again after a write failure', async () => {
    const { server, path, socket } = await peer();
    const client = new QmpClient();
    await client.connect(`unix:${path}`);
    sendAndVanish(await socket, []);
    await client.execute('query-status').catch(() => {});
    await client.closed;
    server.close();
    const again = await peer();
    await client.connect(`unix:${again.path}`);
    assert.equal(client.state, 'running');
    await client.close();
    again.server.close();
  });
});
