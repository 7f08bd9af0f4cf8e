/**
 * LibvirtClient against a real libvirtd and real QEMU (TCG): list domains,
 * register for MEMORY_FAILURE / lifecycle / monitor events, inject with
 * DOMAIN_MONITOR_COMMAND, and the daemon's own errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DOMAIN_EVENT_ID,
  domainState,
  formatUuid,
  LibvirtClient,
  type LibvirtEvent,
  LibvirtRemoteError,
  MONITOR_COMMAND_HMP,
  QEMU,
  REMOTE,
  VIR_ERR_NO_DOMAIN,
} from '../../src/libvirt/index.js';
import { waitForGuestVia } from '../../src/qemu/index.js';
import {
  createDomain,
  type LibvirtdLease,
  type TestDomain,
  useLibvirtd,
  virsh,
} from './libvirtd.js';

const AR_MCE = 'mce 0 9 0xbd80000000000000 0x7 0x1000 0x86';

describe('LibvirtClient against libvirtd', { timeout: 240_000 }, () => {
  let daemon: LibvirtdLease;
  const domains: TestDomain[] = [];
  before(async () => {
    daemon = await useLibvirtd();
  });
  after(async () => {
    for (const d of domains) await d.destroy();
    await daemon?.release();
  });

  test('connects, lists domains with their state, and closes cleanly', async () => {
    const dom = await createDomain({ mce: false });
    domains.push(dom);
    const client = new LibvirtClient();
    await client.connect(daemon.socket);
    const { libVer } = await client.call(REMOTE.connectGetLibVersion, undefined);
    assert.ok(libVer >= 6_009_000, `libvirt ${libVer} has MEMORY_FAILURE events`);
    const { domains: list } = await client.call(REMOTE.connectListAllDomains, {
      needResults: 1,
      flags: 0,
    });
    const mine = list.find((d) => d.name === dom.name);
    assert.ok(mine, `${dom.name} listed among ${list.map((d) => d.name).join(', ')}`);
    assert.ok(mine.id > 0);
    const uuid = (await virsh(['domuuid', dom.name])).trim();
    assert.equal(formatUuid(mine.uuid), uuid);
    const { state } = await client.call(REMOTE.domainGetState, { dom: mine, flags: 0 });
    assert.equal(domainState(state), 'running');
    const byName = await client.call(REMOTE.domainLookupByName, { name: dom.name });
    assert.deepEqual(byName.dom, mine);
    await client.close();
    assert.equal((await client.closed).reason, 'closed');
  });

  test('an unknown domain is a typed remote error; the connection stays up', async () => {
    const client = new LibvirtClient();
    await client.connect(daemon.socket);
    await assert.rejects(
      client.call(REMOTE.domainLookupByName, { name: 'memfail-no-such-domain' }),
      (err: unknown) =>
        err instanceof LibvirtRemoteError &&
        err.code === VIR_ERR_NO_DOMAIN &&
        /memfail-no-such-domain/.test(err.message),
    );
    const { libVer } = await client.call(REMOTE.connectGetLibVersion, undefined);
    assert.ok(libVer > 0);
    await client.close();
  });

  test('MEMORY_FAILURE (event 25) and the raw QMP event arrive for an hmp mce injection', async () => {
    const dom = await createDomain({ mce: true });
    domains.push(dom);
    const client = new LibvirtClient();
    const events: LibvirtEvent[] = [];
    // Other test files' domains may fail at the same time on the shared daemon.
    client.on('event', (ev) => {
      if ('dom' in ev.body && ev.body.dom.name === dom.name) events.push(ev);
    });
    await client.connect(daemon.socket);
    const { callbackID: failureCb } = await client.call(
      REMOTE.connectDomainEventCallbackRegisterAny,
      { eventID: DOMAIN_EVENT_ID.memoryFailure, dom: null },
    );
    const { callbackID: monitorCb } = await client.call(QEMU.connectDomainMonitorEventRegister, {
      dom: null,
      event: 'MEMORY_FAILURE',
      flags: 0,
    });
    const { dom: ref } = await client.call(REMOTE.domainLookupByName, { name: dom.name });
    await waitForGuestVia(
      async () =>
        (
          await client.call(QEMU.domainMonitorCommand, {
            dom: ref,
            cmd: 'info registers',
            flags: MONITOR_COMMAND_HMP,
          })
        ).result,
      { mce: true },
    );
    const { result } = await client.call(QEMU.domainMonitorCommand, {
      dom: ref,
      cmd: AR_MCE,
      flags: MONITOR_COMMAND_HMP,
    });
    assert.equal(result.trim(), '');
    const deadline = Date.now() + 20_000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const failure = events.find((e) => e.name === 'memoryFailure');
    const monitor = events.find((e) => e.name === 'monitorEvent');
    assert.ok(failure && failure.name === 'memoryFailure', 'a MEMORY_FAILURE event');
    assert.equal(failure.body.callbackID, failureCb);
    assert.equal(failure.body.dom.name, dom.name);
    // guest (1), inject (1), action-required (flag 1)
    assert.deepEqual([failure.body.recipient, failure.body.action, failure.body.flags], [1, 1, 1]);
    assert.ok(monitor && monitor.name === 'monitorEvent', 'a monitor event');
    assert.equal(monitor.body.callbackID, monitorCb);
    assert.equal(monitor.body.event, 'MEMORY_FAILURE');
    assert.ok(monitor.body.seconds > 1_700_000_000);
    assert.deepEqual(JSON.parse(monitor.body.details ?? 'null'), {
      recipient: 'guest',
      action: 'inject',
      flags: { 'action-required': true, recursive: false },
    });
    await client.call(REMOTE.connectDomainEventCallbackDeregisterAny, { callbackID: failureCb });
    await client.call(QEMU.connectDomainMonitorEventDeregister, { callbackID: monitorCb });
    await client.close();
  });
});
