/** QmpClient.pause()/resume(): reading stops and starts again, across reconnects too. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { QmpClient, QmpServer } from '../../src/qmp/index.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'memfail-qmp-pause-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Whether `promise` settles within `ms`. */
async function settles(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
  ]);
}

test('a paused client reads nothing until resumed, and stays paused across a reconnect', async () => {
  const server = new QmpServer();
  const address = `unix:${join(dir, 'vm.qmp')}`;
  await server.listen(address);
  const client = new QmpClient();
  const seen: number[] = [];
  client.on('event', (ev) => seen.push((ev.data as { n: number }).n));
  try {
    await client.connect(address);
    client.pause();
    assert.equal(client.paused, true);
    // Enough to fill the socket buffers: the server is left holding output.
    const big = 'x'.repeat(1000);
    for (let n = 0; n < 2000; n++) server.emit('STOP', { n, big });
    assert.equal(await settles(server.drained(), 200), false, 'the server still holds output');
    const early = seen.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, early, 'no event while paused');
    assert.ok(early < 2000);
    client.resume();
    await until(() => seen.length === 2000, 'every event after resume', 10_000);
    assert.deepEqual(
      seen,
      Array.from({ length: 2000 }, (_, n) => n),
    );

    // Paused before the next connection: it still negotiates, then holds.
    client.pause();
    await client.close();
    await client.connect(address);
    assert.equal(client.state, 'running');
    for (let n = 2000; n < 4000; n++) server.emit('STOP', { n, big });
    assert.equal(await settles(server.drained(), 200), false);
    client.resume();
    await until(() => seen.length === 4000, 'the second connection events', 10_000);
  } finally {
    await client.close();
    await server.close();
  }
});
