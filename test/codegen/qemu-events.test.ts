/**
 * Real events through our validators: a QEMU 7.2 guest that never enabled
 * machine checks gets an injected uncorrected error (HMP `mce`), so QEMU
 * reports MEMORY_FAILURE (guest, reset) and, with -no-reboot, SHUTDOWN
 * before it exits. Each event received must pass the committed generated
 * validators (src/generated/qemu) and the one built from the same QEMU's
 * query-qmp-schema.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validatorFromIntrospection } from '../../src/codegen/from-introspection.js';
import type { Commands, Events } from '../../src/generated/qemu/types.js';
import { describeInvalidEvent, validateEvent } from '../../src/generated/qemu/validators.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';

const QEMU = 'qemu-system-x86_64';
let dir = '';
let qemu: ChildProcess | null = null;

after(() => {
  qemu?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('MEMORY_FAILURE and SHUTDOWN from a real QEMU pass the generated validators', async () => {
  assert.equal(
    spawnSync(QEMU, ['--version']).status,
    0,
    `${QEMU} missing: run \`bash scripts/setup.sh --test\``,
  );
  dir = mkdtempSync(join(tmpdir(), 'memfail-qemu-events-'));
  const sock = join(dir, 'qmp.sock');
  const argv = [
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    '64',
    '-display',
    'none',
    '-nodefaults',
    '-no-reboot',
  ];
  qemu = spawn(QEMU, [...argv, '-qmp', `unix:${sock},server=on,wait=off`], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await sleep(50);

  const client = new QmpClient<Commands, Events>({ validateEvent: describeInvalidEvent });
  const received: QmpEvent<Events>[] = [];
  client.on('event', (ev) => received.push(ev));
  await client.connect(`unix:${sock}`);
  const live = await client.execute('query-qmp-schema');
  // VAL|UC|EN|MISCV|ADDRV|S in bank 9 of CPU 0: an uncorrected, action-optional error.
  const reply = await client.execute('human-monitor-command', {
    'command-line': 'mce 0 9 0xbd00000000000000 0 0 0',
  });
  assert.match(reply, /MCE capability is not enabled/);
  await client.closed; // -no-reboot: QEMU exits after SHUTDOWN

  const names = received.map((e) => e.event);
  assert.deepEqual(names, ['MEMORY_FAILURE', 'SHUTDOWN']);
  const fromLive = validatorFromIntrospection(live);
  for (const ev of received) {
    assert.equal(ev.invalid, undefined, `${ev.event} flagged by the client's validator`);
    const r = validateEvent(ev.event, ev.data);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.ok(fromLive.validateEvent(ev.event, ev.data).ok, ev.event);
  }
  const mf = received[0];
  assert.ok(mf?.event === 'MEMORY_FAILURE');
  assert.deepEqual(mf.data, {
    recipient: 'guest',
    action: 'reset',
    flags: { 'action-required': false, recursive: false },
  });
});
