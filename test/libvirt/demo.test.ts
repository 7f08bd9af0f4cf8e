/**
 * `memfail demo`'s libvirt part: with libvirtd, a guest started through
 * libvirt is hit and its failure recorded through libvirt; without it, the
 * demo says so and still succeeds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { runDemo } from '../../src/demo/run.js';
import { type LibvirtdLease, useLibvirtd } from './libvirtd.js';

const dirs: string[] = [];
let daemon: LibvirtdLease | null = null;
after(async () => {
  await daemon?.release();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'memfail-demo-libvirt-'));
  dirs.push(dir);
  return dir;
}

test('demo with libvirtd: the libvirt guest is hit and recorded through libvirt', {
  timeout: 300_000,
}, async () => {
  daemon = await useLibvirtd();
  const db = join(await tempDir(), 'demo.db');
  let out = '';
  const result = await runDemo({
    db,
    simulatorOnly: false,
    qemuAvailable: true,
    libvirt: true,
    out: (t) => (out += t),
  });
  assert.deepEqual(result.mismatches, []);
  assert.equal(result.ok, true);
  const name = `memfail-demo-${process.pid}`;
  assert.match(out, new RegExp(`started ${name} through libvirt`));
  assert.match(out, new RegExp(`\\[libvirt\\] ${name}: an action-required error`));
  const store = Store.open(db, { mustExist: true });
  try {
    const failures = store.failures({ vm: name });
    assert.equal(failures.length, 1);
    assert.deepEqual(failures[0]?.failure, {
      recipient: 'guest',
      action: 'inject',
      actionRequired: true,
      recursive: false,
    });
    assert.ok(failures[0]?.timestamp !== null, "QEMU's timestamp, from the monitor-event stream");
    const connected = store.lifecycle().find((l) => l.vm === name && l.event === 'CONNECTED');
    assert.equal((connected?.data as { via?: string } | undefined)?.via, 'libvirt');
  } finally {
    store.close();
  }
});

test('demo without libvirtd: the libvirt part is skipped, the demo still succeeds', {
  timeout: 300_000,
}, async () => {
  const dir = await tempDir();
  let out = '';
  const result = await runDemo({
    db: join(dir, 'demo.db'),
    simulatorOnly: false,
    qemuAvailable: true,
    libvirt: true,
    libvirtSocket: join(dir, 'no-libvirtd'),
    out: (t) => (out += t),
  });
  assert.equal(result.ok, true, result.mismatches.join('\n'));
  assert.match(
    out,
    /libvirtd not reachable \(cannot connect to libvirtd at .*no-libvirtd.*\); the libvirt part is skipped/,
  );
});
