/** `memfail demo --evacuate` end to end on real QEMU, through the CLI. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Io } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

test('memfail demo --evacuate: host-a judged failing, both guests moved live to host-b', async () => {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  };
  const code = await main(['demo', '--evacuate'], io);
  assert.equal(code, 0, stdout + stderr);
  assert.match(
    stdout,
    /health {4}degraded → host-a is failing: 3 action-required failures on 2 VMs in 24 h/,
  );
  assert.match(stdout, /health {4}host-a: evacuated \(2 migrated, 0 skipped, 0 failed\)/);
  const onA = Number(/counter on host-a just before the third failure: (\d+)/.exec(stdout)?.[1]);
  const onB = Number(/counter on host-b: (\d+)/.exec(stdout)?.[1]);
  assert.ok(onB >= onA && onA > 0, `${onA} on host-a, ${onB} on host-b`);
  assert.match(stdout, /inventory now: host-a \[\], host-b \[web-\d, web-\d\]/);
  assert.match(
    stdout,
    /from the tipping failure to the first migration: [\d.]+ ms \(QEMU's clocks\); downtime \d+, \d+ ms/,
  );
  assert.match(stdout, /host-a evacuated live\.\n$/);
});

test('memfail demo on real QEMU ends with the host-health part: judged failing, guests moved live', async () => {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  };
  const code = await main(['demo', '--no-libvirt'], io);
  assert.equal(code, 0, stdout + stderr);
  // The recording part first, then acting on failures.
  const report = stdout.indexOf('memory failures recorded in');
  const health = stdout.indexOf('Host health and evacuation');
  assert.ok(report > 0 && health > report, 'the evacuation part follows the report');
  assert.match(stdout, /health {4}host-a: evacuated \(2 migrated, 0 skipped, 0 failed\)/);
  assert.match(stdout, /host-a evacuated live\.\n/);
  assert.match(stdout, /See it in a browser: memfail serve --db \S+\n$/);
});
