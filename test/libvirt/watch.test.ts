/**
 * Acceptance for `memfail watch --libvirt`, against a real libvirtd and real
 * QEMU: one agent process watches libvirt (two guests at start, MCE-ready and
 * not, a third created later) and, through QMP, a plain QEMU guest given the
 * same scripted injections. The libvirt records must equal the QMP path's;
 * libvirtd is restarted mid-run: the watch reconnects, the gap is recorded,
 * and the failures after it are recorded too.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { hmp, waitForGuest } from '../../src/qemu/guest.js';
import { mceBootSector } from '../../src/qemu/bootsector.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient } from '../../src/qmp/client.js';
import { type Child, memfail, until } from '../agent/child.js';
import { tempDir } from '../agent/fixtures.js';
import {
  createDomain,
  type LibvirtdLease,
  restartLibvirtd,
  type TestDomain,
  useLibvirtd,
  virsh,
  waitGuestReady,
} from './libvirtd.js';

const AR = 'mce 0 9 0xbd80000000000000 0x7 0x1000 0x86';

let daemon: LibvirtdLease;
const domains: TestDomain[] = [];
let plain: QemuHandle | null = null;
let watch: Child | null = null;
const tmp = tempDir('memfail-libvirt-watch-');

before(async () => {
  daemon = await useLibvirtd();
});

after(async () => {
  watch?.process.kill('SIGKILL');
  for (const d of domains) await d.destroy();
  await plain?.kill();
  await daemon?.release();
  tmp.cleanup();
});

function canonical(store: Store, vm: string) {
  return store
    .failures()
    .filter((f) => f.vm === vm)
    .map((f) => ({
      recipient: f.failure?.recipient,
      action: f.failure?.action,
      actionRequired: f.failure?.actionRequired,
      recursive: f.failure?.recursive,
      dialect: f.dialect,
      valid: f.valid,
      hasQemuTimestamp: f.timestamp !== null,
    }));
}

function rows(db: string, pick: (s: Store) => number): number {
  try {
    const s = Store.open(db, { mustExist: true });
    const n = pick(s);
    s.close();
    return n;
  } catch {
    return 0;
  }
}

/**
 * Injects through virsh. QEMU answers a delivered machine check with nothing,
 * and says why when it resets the guest instead.
 */
async function injectVirsh(
  domain: string,
  expect: 'delivered' | 'recursive' | 'no-mce' = 'delivered',
): Promise<void> {
  const out = (await virsh(['qemu-monitor-command', domain, '--hmp', AR])).trim();
  const want = {
    delivered: /^$/,
    recursive: /Previous MCE still in progress/,
    'no-mce': /MCE capability is not enabled/,
  }[expect];
  assert.match(out, want, `mce on ${domain}`);
}

test('watch --libvirt records what the QMP path records, follows new domains and survives a libvirtd restart', {
  timeout: 300_000,
}, async () => {
  const db = join(tmp.dir, 'events.db');
  const ready = await createDomain({ mce: true });
  const notReady = await createDomain({ mce: false });
  domains.push(ready, notReady);
  plain = await launchQemu({ bootSector: mceBootSector(), qmpSockets: 2 });
  const driver = new QmpClient();
  await driver.connect(plain.qmp[1]!);

  watch = memfail([
    'watch',
    '--db',
    db,
    `qmp-guest=${plain.qmp[0]!.path}`,
    '--libvirt',
    'qemu:///system',
  ]);
  await until(
    () => /connected to libvirtd/.test(watch!.stderr()),
    'the agent connected to libvirtd',
    30_000,
  );
  await until(
    () => rows(db, (s) => s.lifecycle().filter((l) => l.event === 'CONNECTED').length) >= 3,
    'CONNECTED for both domains and the QMP guest',
  );
  const store0 = Store.open(db, { mustExist: true });
  const connected = store0
    .lifecycle()
    .filter((l) => l.event === 'CONNECTED' && l.vm === ready.name);
  store0.close();
  assert.equal(connected.length, 1);
  const uuid = (await virsh(['domuuid', ready.name])).trim();
  assert.equal(dataOf(connected[0]).uuid, uuid, 'the domain UUID is recorded');

  // The same script on the QMP guest and on the MCE-ready libvirt guest.
  await waitForGuest(driver, { mce: true });
  assert.equal((await hmp(driver, AR)).trim(), '');
  assert.match(await hmp(driver, AR), /Previous MCE still in progress/);
  await waitGuestReady(ready.name, true);
  await injectVirsh(ready.name);
  await injectVirsh(ready.name, 'recursive');
  // The guest that never enabled machine checks is reset.
  await waitGuestReady(notReady.name, false);
  await injectVirsh(notReady.name, 'no-mce');

  // A domain created after the agent started.
  const later = await createDomain({ mce: true });
  domains.push(later);
  await waitGuestReady(later.name, true);
  await injectVirsh(later.name);
  await until(
    () => rows(db, (s) => s.countFailures({ vm: later.name })) === 1,
    'the later domain failure',
    20_000,
  );

  // libvirtd goes away and comes back; QEMU keeps running.
  await restartLibvirtd();
  await until(
    () => /reconnected to libvirtd/.test(watch!.stderr()),
    'the agent reconnected',
    60_000,
  );
  await injectVirsh(later.name, 'recursive'); // the guest is reset
  // Other test files may run domains on the same libvirtd: count ours.
  const ours = ['qmp-guest', ready.name, notReady.name, later.name];
  const ourFailures = (s: Store) => ours.reduce((n, vm) => n + s.countFailures({ vm }), 0);
  await until(() => rows(db, ourFailures) === 7, 'all seven failures', 20_000);

  watch.process.kill('SIGTERM');
  assert.equal(await watch.exited, 0, watch.stderr());
  await driver.close();

  const store = Store.open(db, { mustExist: true });
  try {
    const qmp = canonical(store, 'qmp-guest');
    assert.deepEqual(qmp, [
      {
        recipient: 'guest',
        action: 'inject',
        actionRequired: true,
        recursive: false,
        dialect: 'qemu',
        valid: true,
        hasQemuTimestamp: true,
      },
      {
        recipient: 'guest',
        action: 'reset',
        actionRequired: true,
        recursive: true,
        dialect: 'qemu',
        valid: true,
        hasQemuTimestamp: true,
      },
    ]);
    assert.deepEqual(canonical(store, ready.name), qmp, 'libvirt guest = QMP guest');
    assert.deepEqual(canonical(store, later.name), qmp, 'later guest, across the restart');
    assert.deepEqual(canonical(store, notReady.name), [
      {
        recipient: 'guest',
        action: 'reset',
        actionRequired: true,
        recursive: false,
        dialect: 'qemu',
        valid: true,
        hasQemuTimestamp: true,
      },
    ]);
    // One failure, one row: libvirt's own event was matched with QEMU's.
    assert.equal(ourFailures(store), 7);
    const raw = store.failures().find((f) => f.vm === ready.name)?.raw ?? '';
    assert.match(
      raw,
      /^\{"timestamp":\{"seconds":\d+,"microseconds":\d+\},"event":"MEMORY_FAILURE","data":\{.*"recipient":"guest"/,
    );

    const life = store.lifecycle().filter((l) => ours.includes(l.vm));
    const gap = life.filter(
      (l) => l.event === 'DISCONNECTED' && dataOf(l).reason === 'libvirtd-lost',
    );
    assert.deepEqual(
      gap.map((l) => l.vm).sort(),
      [ready.name, notReady.name, later.name].sort(),
      'the gap is recorded for every running domain',
    );
    const back = life.filter((l) => l.event === 'CONNECTED' && dataOf(l).reconnected);
    assert.deepEqual(back.map((l) => l.vm).sort(), [ready.name, notReady.name, later.name].sort());
    const started = life.find((l) => l.vm === later.name && l.event === 'CONNECTED');
    assert.deepEqual(
      {
        event: dataOf(started).event,
        detail: dataOf(started).detail,
      },
      { event: 'started', detail: 'booted' },
    );
    // QEMU's own RESET after each reset, from the monitor stream, as on the QMP path.
    assert.ok(life.some((l) => l.vm === ready.name && l.event === 'RESET' && l.timestamp !== null));
    assert.ok(life.some((l) => l.vm === 'qmp-guest' && l.event === 'RESET'));
  } finally {
    store.close();
  }
  assert.match(watch.stderr(), /lost libvirtd .*reconnecting/);
});

function dataOf(l: { data: unknown } | undefined): Record<string, unknown> {
  const data = l?.data;
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
}
