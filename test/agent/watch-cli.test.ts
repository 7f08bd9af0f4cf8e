/**
 * `memfail watch` as a user runs it (a child process) against simulated VMs:
 * many at once, with --once, --on-event and --metrics; and a graceful SIGTERM.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { buildReport } from '../../src/agent/report.js';
import { presetFault } from '../../src/hypervisor/faults.js';
import { SimulatedVm } from '../../src/hypervisor/simulator.js';
import { until } from '../support/wait.js';
import { memfail } from './child.js';
import { tempDir } from './fixtures.js';

const VMS = 6;

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

function metric(body: string, line: string): number | null {
  const found = body.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}

describe('memfail watch (child process)', () => {
  test('many simulated VMs at once: events recorded, alerts run, metrics served, exits when all are gone', async () => {
    const { dir, cleanup } = tempDir('memfail-watch-cli-');
    // Even VMs: hypervisor failures (the second is fatal: QEMU exits 1).
    // Odd VMs: a guest that never returns from its handler, with -no-reboot (seed dialect).
    const vms = Array.from(
      { length: VMS },
      (_, i) =>
        new SimulatedVm(
          i % 2 === 0 ? { dialect: 'qemu' } : { dialect: 'seed', guest: 'stuck', noReboot: true },
        ),
    );
    await Promise.all(vms.map((vm, i) => vm.listen(`unix:${join(dir, `vm${i}.qmp`)}`)));
    const db = join(dir, 'events.db');
    const out = join(dir, 'alerts.jsonl');
    const script = join(dir, 'append.mjs');
    writeFileSync(
      script,
      `import { appendFileSync, readFileSync } from 'node:fs';
       appendFileSync(process.argv[2], readFileSync(0, 'utf8'));`,
    );
    const watch = memfail([
      'watch',
      ...vms.map((_, i) => `vm${i}=unix:${join(dir, `vm${i}.qmp`)}`),
      '--db',
      db,
      '--once',
      '--metrics',
      '127.0.0.1:0',
      '--on-event',
      `${process.execPath} ${script} ${out}`,
    ]);
    try {
      let url = '';
      await until(() => {
        url = /metrics at (\S+)/.exec(watch.stderr())?.[1] ?? '';
        return url !== '';
      }, 'the metrics address');
      // Connected means negotiated: wait until the agent holds every VM.
      await until(
        () => (watch.stderr().match(/: connected to /g) ?? []).length === VMS,
        'all VMs connected',
      );
      let body = await scrape(url);
      for (let i = 0; i < VMS; i++)
        assert.equal(metric(body, `memfail_vm_connected{vm="vm${i}"}`), 1);

      vms.forEach((vm, i) => {
        if (i % 2 === 0)
          vm.inject({ kind: 'host', code: 'AO', address: 0x1000n, inGuestRam: false });
        else vm.inject(presetFault('ar', 0, 0x1000n));
      });
      await until(() => {
        const s = Store.open(db, { mustExist: true });
        const n = s.countFailures();
        s.close();
        return n === VMS;
      }, 'the first failure of every VM');
      body = await scrape(url);
      assert.equal(
        metric(
          body,
          'memfail_memory_failures_total{vm="vm0",recipient="hypervisor",action="ignore",action_required="false"}',
        ),
        1,
      );
      assert.equal(
        metric(
          body,
          'memfail_memory_failures_total{vm="vm1",recipient="guest",action="inject",action_required="true"}',
        ),
        1,
      );
      assert.equal(metric(body, 'memfail_ingest_lag_seconds_count'), VMS);

      // Second failures: every VM exits right after its last event.
      vms.forEach((vm, i) => {
        if (i % 2 === 0)
          vm.inject({ kind: 'host', code: 'AR', address: 0x2000n, inGuestRam: false });
        else vm.inject(presetFault('ar', 0, 0x2000n));
      });
      assert.deepEqual(
        await Promise.all(vms.map((vm) => vm.exited)),
        vms.map((_, i) => (i % 2 === 0 ? 1 : 0)),
      );
      assert.equal(await watch.exited, 0, watch.stderr());

      const store = Store.open(db, { mustExist: true });
      const report = buildReport(store.failures({ includeUnreadable: true }), store.lifecycle());
      store.close();
      assert.equal(report.overall.failures, 2 * VMS);
      assert.equal(report.overall.invalid, 0);
      for (const v of report.vms) {
        const i = Number(v.vm.slice(2));
        assert.deepEqual(
          v.accounts.map((a) => [a.failure.recipient, a.failure.action, a.outcome]),
          i % 2 === 0
            ? [
                ['hypervisor', 'ignore', 'hypervisor-ignored'],
                ['hypervisor', 'fatal', 'vm-died'],
              ]
            : [
                ['guest', 'inject', 'guest-handled'],
                ['guest', 'reset', 'guest-reset'],
              ],
          v.vm,
        );
      }
      // One alert per failure, each a JSON line with the event's fields.
      const alerts = readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { vm: string; action: string; explanation: string });
      assert.equal(alerts.length, 2 * VMS);
      assert.equal(alerts.filter((a) => a.action === 'fatal').length, VMS / 2);
      assert.ok(alerts.every((a) => a.explanation.includes(a.vm)));
    } finally {
      if (watch.process.exitCode === null) watch.process.kill('SIGKILL');
      await Promise.all(vms.map((vm) => vm.close()));
      cleanup();
    }
  });

  test('SIGTERM commits what is pending, records the agent stopping, and exits 0', async () => {
    const { dir, cleanup } = tempDir('memfail-watch-cli-');
    const vm = new SimulatedVm({ guest: 'linux' });
    const sock = join(dir, 'vm.qmp');
    await vm.listen(`unix:${sock}`);
    const db = join(dir, 'events.db');
    const watch = memfail(['watch', `solo=${sock}`, '--db', db]);
    try {
      await until(() => watch.stderr().includes('connected to'), 'the connection');
      vm.inject(presetFault('ar', 0, 0x1000n));
      vm.inject(presetFault('ao', 0, 0x3000n));
      await until(() => {
        const s = Store.open(db, { mustExist: true });
        const n = s.countFailures();
        s.close();
        return n === 2;
      }, 'both failures');
      watch.process.kill('SIGTERM');
      assert.equal(await watch.exited, 0, watch.stderr());
      assert.match(watch.stderr(), /SIGTERM: committing what is pending and stopping/);
      const store = Store.open(db, { mustExist: true });
      const events = store.lifecycle({ vm: 'solo' }).map((l) => [l.event, l.data]);
      assert.deepEqual(events.at(-1), ['DISCONNECTED', { reason: 'agent-stopped' }]);
      store.close();
      // The VM outlives the agent.
      assert.equal(vm.exiting, false);
    } finally {
      if (watch.process.exitCode === null) watch.process.kill('SIGKILL');
      await vm.close();
      cleanup();
    }
  });
});
