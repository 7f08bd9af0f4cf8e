/** `memfail demo --fleet` end to end, as a user runs it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memfail } from '../agent/child.js';

test('demo --fleet: three hosts publish, one collector stores, hosts and report read PostgreSQL', async () => {
  const demo = memfail(['demo', '--fleet']);
  assert.equal(await demo.exited, 0, demo.stderr());
  const out = demo.stdout();
  assert.match(out, /18 of 18 stored/);
  for (const host of ['rack1-host1', 'rack1-host2', 'rack2-host1']) {
    assert.match(out, new RegExp(`^${host}\\s+2\\s+6\\s+0\\s+\\d{4}-`, 'm'));
  }
  assert.match(out, /^18 memory failures on 6 VMs/m);
  assert.match(out, /outcomes: {5}guest-handled 6, hypervisor-ignored 6, guest-reset 6/);
});
