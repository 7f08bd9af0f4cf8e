/**
 * `tls://`: a real nats-server that requires TLS (a certificate made here
 * with openssl), trusted the way Node trusts a private CA (NODE_EXTRA_CA_CERTS).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { BIN } from '../agent/child.js';
import { tempDir } from '../agent/fixtures.js';
import { QEMU_INJECT, startVm } from '../agent/qmp-peers.js';
import { type NatsServer, startNats } from './services.js';

const tmp = tempDir('memfail-tls-');
let nats: NatsServer | null = null;
after(async () => {
  await nats?.dispose();
  tmp.cleanup();
});

test('watch --publish tls://… publishes over TLS to a server that requires it', async () => {
  const cert = join(tmp.dir, 'cert.pem');
  const key = join(tmp.dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  nats = await startNats(['--tls', '--tlscert', cert, '--tlskey', key]);
  // A plain connection is refused: the server requires TLS.
  await assert.rejects(connect({ servers: nats.url, tls: null, reconnect: false }));

  const vm = await startVm(join(tmp.dir, 'vm.sock'));
  const child = spawn(
    process.execPath,
    [
      BIN,
      'watch',
      `vm1=${vm.address}`,
      '--db',
      join(tmp.dir, 't.db'),
      '--publish',
      `tls://127.0.0.1:${nats.port}`,
      '--host',
      'host-tls',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_EXTRA_CA_CERTS: cert } },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise((r) => child.on('close', r));
  try {
    await vm.nextClient();
    vm.server.emit('MEMORY_FAILURE', QEMU_INJECT);
    const nc = await connect({ servers: nats.url, tls: { caFile: cert } });
    const jsm = await jetstreamManager(nc);
    // The failure and the agent's CONNECTED event.
    let messages = 0;
    const deadline = Date.now() + 30_000;
    while (messages < 2 && Date.now() < deadline) {
      try {
        messages = (await jsm.streams.info('MEMFAIL')).state.messages;
      } catch {
        // not created yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(messages, 2, stderr);
    await nc.close();
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    await vm.server.close();
  }
  assert.match(stderr, /publishing as host host-tls to tls:\/\/127\.0\.0\.1:\d+/);
});
