/**
 * Real events through our validators: a QEMU 7.2 guest that never enabled
 * machine checks gets an injected uncorrected error (HMP `mce`), so QEMU
 * reports MEMORY_FAILURE (guest, reset) and, with -no-reboot, SHUTDOWN
 * before it exits. Each event received must pass the committed generated
 * validators (src/generated/qemu) and the one built from the same QEMU's
 * query-qmp-schema.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { validatorFromIntrospection } from '../../src/codegen/from-introspection.js';
import type { Commands, Events } from '../../src/generated/qemu/types.js';
import { describeInvalidEvent, validateEvent } from '../../src/generated/qemu/validators.js';
import { plainBootSector } from '../../src/qemu/bootsector.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';

let qemu: QemuHandle | null = null;

after(async () => {
  await qemu?.kill();
});

test('MEMORY_FAILURE and SHUTDOWN from a real QEMU pass the generated validators', async () => {
  // The plain guest never sets CR4.MCE (fails, saying how to install it, without QEMU).
  qemu = await launchQemu({ bootSector: plainBootSector(), noReboot: true });
  const client = new QmpClient<Commands, Events>({ validateEvent: describeInvalidEvent });
  const received: QmpEvent<Events>[] = [];
  client.on('event', (ev) => received.push(ev));
  await client.connect(qemu.qmp[0]!);
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
