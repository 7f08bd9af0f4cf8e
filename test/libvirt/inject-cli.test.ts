/**
 * `memfail inject --libvirt DOMAIN` against a real libvirtd and QEMU: the
 * machine check goes in through DOMAIN_MONITOR_COMMAND and QEMU's events come
 * back through libvirt; bad combinations are usage errors.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createDomain,
  type LibvirtdLease,
  type TestDomain,
  useLibvirtd,
  virsh,
  waitGuestReady,
} from './libvirtd.js';
import { runCli } from '../support/cli.js';

const run = (args: string[]) => runCli(args);

let daemon: LibvirtdLease;
let dom: TestDomain | null = null;
before(async () => {
  daemon = await useLibvirtd();
});
after(async () => {
  await dom?.destroy();
  await daemon?.release();
});

test('inject --libvirt: the guest path through libvirtd, events read back through it', {
  timeout: 120_000,
}, async () => {
  dom = await createDomain({ mce: true });
  await waitGuestReady(dom.name, true);
  const first = await run(['inject', '--libvirt', dom.name, '--preset', 'ar', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const out = JSON.parse(first.stdout) as {
    domain: { name: string; uuid: string };
    sent: string;
    monitorText: string | null;
    events: { event: string; data: unknown }[];
  };
  assert.equal(out.domain.name, dom.name);
  assert.equal(out.domain.uuid, (await virsh(['domuuid', dom.name])).trim());
  assert.match(out.sent, /^mce 0 9 0xbd80000000000134 0x7 0x1000 0x/);
  assert.equal(out.monitorText, null);
  assert.deepEqual(
    out.events.filter((e) => e.event === 'MEMORY_FAILURE').map((e) => e.data),
    [
      {
        recipient: 'guest',
        action: 'inject',
        flags: { 'action-required': true, recursive: false },
      },
    ],
  );

  // By UUID, as text: the second machine check is recursive, and QEMU says so.
  const second = await run(['inject', '--libvirt', out.domain.uuid, '--preset', 'ar']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /through libvirt: mce 0 9/);
  assert.match(second.stdout, /monitor: CPU 0: Previous MCE still in progress/);
  assert.match(
    second.stdout,
    /event MEMORY_FAILURE \{.*"recipient":"guest","action":"reset"\}\n.*triple fault, so QEMU reset the guest/,
  );
});

test('inject --libvirt: an unknown domain and a host fault are clear errors', async () => {
  const missing = await run(['inject', '--libvirt', 'memfail-no-such-domain', '--preset', 'ar']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /DOMAIN_LOOKUP_BY_NAME: Domain not found.*memfail-no-such-domain/);
  const host = await run(['inject', '--libvirt', 'x', '--host', 'AR']);
  assert.equal(host.code, 2);
  assert.match(host.stderr, /host-side faults \(--host\) need memfail sim/);
  const both = await run(['inject', 'unix:/x', '--libvirt', 'x', '--preset', 'ar']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either an address or --libvirt DOMAIN/);
});
