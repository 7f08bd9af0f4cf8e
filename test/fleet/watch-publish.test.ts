/**
 * `memfail watch --publish` as a user runs it, NATS not there yet: it says
 * so (without the password), counts the backlog in its metrics, and
 * publishes everything once NATS comes up.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { memfail, until } from '../agent/child.js';
import { tempDir } from '../agent/fixtures.js';
import { QEMU_INJECT, startVm } from '../agent/qmp-peers.js';
import { freePort, type NatsServer, startNats } from './services.js';

const tmp = tempDir('memfail-watch-publish-');
let nats: NatsServer | null = null;
after(async () => {
  await nats?.dispose();
  tmp.cleanup();
});

async function scrape(url: string): Promise<number | null> {
  const text = await (await fetch(url)).text();
  const m = /^memfail_fleet_backlog_events (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

test('watch --publish with NATS down: log line, backlog metric, drained when NATS is up', async () => {
  const port = await freePort();
  const vm = await startVm(join(tmp.dir, 'vm.sock'));
  const child = memfail([
    'watch',
    `vm1=${vm.address}`,
    '--db',
    join(tmp.dir, 'w.db'),
    '--publish',
    `nats://ops:hunter2@127.0.0.1:${port}`,
    '--host',
    'host-w',
    '--metrics',
    '127.0.0.1:0',
  ]);
  try {
    await until(() => /metrics at http/.test(child.stderr()), 'the metrics address');
    const url = /metrics at (http:\/\/\S+)/.exec(child.stderr())![1]!;
    await vm.nextClient();
    for (let i = 0; i < 3; i++) vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
    await until(
      () => new RegExp(`NATS nats://127.0.0.1:${port} unreachable`).test(child.stderr()),
      'the unreachable line',
    );
    // 3 failures and the CONNECTED event wait on disk.
    let backlog: number | null = null;
    const deadline = Date.now() + 20_000;
    while (backlog !== 4 && Date.now() < deadline) {
      backlog = await scrape(url);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(backlog, 4);

    nats = await startNats(['--user', 'ops', '--pass', 'hunter2'], port);
    const deadline2 = Date.now() + 30_000;
    while ((await scrape(url)) !== 0 && Date.now() < deadline2) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await scrape(url), 0);
    const nc = await connect({ servers: nats.url, user: 'ops', pass: 'hunter2' });
    const info = await (await jetstreamManager(nc)).streams.info('MEMFAIL');
    assert.equal(info.state.messages, 4);
    assert.deepEqual(info.config.subjects, ['memfail.>']);
    await nc.close();
  } finally {
    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0, child.stderr());
    await vm.server.close();
  }
  assert.doesNotMatch(child.stderr(), /hunter2/);
  assert.match(child.stderr(), /publishing as host host-w to nats:\/\/127\.0\.0\.1:\d+\n/);
});
