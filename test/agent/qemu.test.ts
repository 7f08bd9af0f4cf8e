/**
 * Against real QEMU 7.2: the boot-sector guest with machine checks enabled
 * takes two action-required injections — the first is injected, the second
 * (while the first is still being handled) is a triple fault, so QEMU resets
 * the guest; with -no-reboot it emits SHUTDOWN and exits at once. `memfail
 * watch --once` must record both failures and the SHUTDOWN all the same.
 * Needs qemu-system-x86_64 (bash scripts/setup.sh --test); fails without it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { dialectFromSchema } from '../../src/agent/dialect-probe.js';
import { buildReport } from '../../src/agent/report.js';
import { Store } from '../../src/agent/store.js';
import { mceBootSector } from '../../src/qemu/bootsector.js';
import { AR_MCE, injectMce, waitForGuest } from '../../src/qemu/guest.js';
import { launchQemu } from '../../src/qemu/launch.js';
import { QmpClient } from '../../src/qmp/client.js';
import { until } from '../support/wait.js';
import { memfail } from './child.js';
import { tempDir } from './fixtures.js';

function connectedRows(db: string): number {
  try {
    const s = Store.open(db, { mustExist: true });
    const n = s.lifecycle().filter((l) => l.event === 'CONNECTED').length;
    s.close();
    return n;
  } catch {
    return 0;
  }
}

test('real QEMU: both injected failures and the SHUTDOWN are recorded though QEMU exits right after', async () => {
  const { dir, cleanup } = tempDir('memfail-qemu-agent-');
  const db = join(dir, 'events.db');
  const vm = await launchQemu({ bootSector: mceBootSector(), noReboot: true, qmpSockets: 2 });
  const watch = memfail(['watch', `guest=${vm.qmp[0]!.path}`, '--db', db, '--once']);
  const driver = new QmpClient();
  try {
    await until(() => connectedRows(db) === 1, 'the agent connected to QEMU');
    await driver.connect(vm.qmp[1]!);
    // The agent learns the dialect the same way, through QEMU's masked type names.
    assert.equal(dialectFromSchema(await driver.execute('query-qmp-schema')), 'qemu');
    // What QEMU itself wrote for each MEMORY_FAILURE, as the driver's monitor got it.
    const sent: string[] = [];
    driver.on('event', (ev) => sent.push(ev.raw ?? ''), { names: ['MEMORY_FAILURE'] });
    await waitForGuest(driver, { mce: true });
    await injectMce(driver, AR_MCE);
    // The guest's handler never returns: the second machine check is recursive.
    await injectMce(driver, AR_MCE).catch(() => {
      // QEMU may exit before it answers: that is the point of this test.
    });
    const exit = await vm.exited;
    assert.equal(exit.code, 0, vm.stderr());
    assert.equal(await watch.exited, 0, watch.stderr());

    const store = Store.open(db, { mustExist: true });
    const failures = store.failures();
    const lifecycle = store.lifecycle();
    const report = buildReport(store.failures({ includeUnreadable: true }), lifecycle);
    store.close();
    // QEMU's own text (its writer, its member order), kept as layout 3 and rebuilt byte for byte.
    assert.equal(sent.length, 2);
    assert.deepEqual(
      failures.map((f) => f.raw),
      sent,
    );
    const raw = new Database(db, { readonly: true });
    assert.deepEqual(raw.prepare('SELECT layout, raw_text FROM memory_failure ORDER BY id').all(), [
      { layout: 3, raw_text: null },
      { layout: 3, raw_text: null },
    ]);
    raw.close();
    assert.deepEqual(
      failures.map((f) => [f.failure, f.dialect, f.valid]),
      [
        [
          { recipient: 'guest', action: 'inject', actionRequired: true, recursive: false },
          'qemu',
          true,
        ],
        [
          { recipient: 'guest', action: 'reset', actionRequired: true, recursive: true },
          'qemu',
          true,
        ],
      ],
    );
    assert.deepEqual(
      lifecycle.map((l) => [l.event, l.event === 'CONNECTED' ? null : l.data]),
      [
        ['CONNECTED', null],
        ['SHUTDOWN', { guest: true, reason: 'guest-reset' }],
        ['DISCONNECTED', { reason: 'eof' }],
      ],
    );
    assert.match(String((lifecycle[0]!.data as { qemu: string }).qemu), /^7\.2\./);
    assert.deepEqual(
      report.vms.map((v) => v.accounts.map((a) => a.outcome)),
      [['guest-handled', 'guest-reset']],
    );
  } finally {
    await driver.close();
    await vm.kill();
    if (watch.process.exitCode === null) watch.process.kill('SIGKILL');
    cleanup();
  }
});
