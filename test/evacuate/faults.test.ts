/**
 * Evacuation under faults, with real QEMU: the destination dies mid-migration,
 * the source dies mid-migration, memfail itself is SIGKILLed mid-evacuation
 * and run again. Each ends recorded and explained, with the VM running on
 * one host at most (never two), and the evacuation resumes or says what is left.
 * Migrations are slowed (max-bandwidth) so that "mid-migration" lasts seconds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Journal } from '../../src/evacuate/journal.js';
import { QmpDriver, vmFiles } from '../../src/evacuate/qmp-driver.js';
import { type EvacuateOptions, evacuate } from '../../src/evacuate/run.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { readCounter } from '../../src/qemu/counter.js';
import { AR_MCE, injectMce } from '../../src/qemu/guest.js';
import { memfail, until } from '../agent/child.js';
import { alive, makeHosts, status, type TestHosts } from './hosts.js';

const SLOW = 100_000; // bytes/s: a few seconds for the counter guest

function pidOf(hosts: TestHosts, host: string, vm: string): number {
  return Number(readFileSync(vmFiles(hosts.runDir(host), vm).pid, 'utf8'));
}

function inventoryHost(hosts: TestHosts, vm: string): string[] {
  const inv = JSON.parse(readFileSync(hosts.inventory, 'utf8')) as {
    hosts: Record<string, { vms: Record<string, unknown> }>;
  };
  return Object.entries(inv.hosts)
    .filter(([, h]) => vm in h.vms)
    .map(([name]) => name);
}

function options(hosts: TestHosts, lines: string[], onLine?: (l: string) => void): EvacuateOptions {
  return {
    host: 'host-a',
    inventoryPath: hosts.inventory,
    journalPath: hosts.journal,
    driver: new QmpDriver({ maxBandwidth: SLOW }),
    policy: DEFAULT_POLICY,
    parallel: 1,
    reason: 'operator',
    out: (l) => {
      lines.push(l);
      onLine?.(l);
    },
  };
}

describe('evacuation faults (real QEMU)', () => {
  let hosts: TestHosts;
  beforeEach(async () => {
    hosts = makeHosts(['host-a', 'host-b']);
    await hosts.startVm('host-a', 'web-1');
  });
  afterEach(() => hosts.cleanup());

  test('the destination dies mid-migration: failed and why, the VM runs on on host-a; a rerun completes', async () => {
    const lines: string[] = [];
    let killed = false;
    const result = await evacuate(
      options(hosts, lines, (l) => {
        if (!killed && l.endsWith('migration active')) {
          killed = true;
          setTimeout(() => process.kill(pidOf(hosts, 'host-b', 'web-1'), 'SIGKILL'), 300);
        }
      }),
    );
    assert.equal(result.outcome, 'incomplete', lines.join('\n'));
    assert.deepEqual(result.left, ['web-1']);
    const detail = result.failed[0]?.detail ?? '';
    assert.match(
      detail,
      /^the migration failed \(the destination QEMU ended: SIGKILL\); the VM runs on its source \[runs on: source\]$/,
    );
    const a = await hosts.control('host-a', 'web-1');
    assert.equal(await status(a), 'running');
    const count = await readCounter(a);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await readCounter(a)) > count, 'the guest stopped counting on host-a');
    assert.equal(alive(vmFiles(hosts.runDir('host-b'), 'web-1').pid), false);
    assert.deepEqual(inventoryHost(hosts, 'web-1'), ['host-a']);
    await a.close();

    const j = Journal.open(hosts.journal);
    const [first] = j.evacuations('host-a');
    assert.equal(first?.state, 'incomplete');
    j.close();

    const again = await evacuate({ ...options(hosts, lines), driver: new QmpDriver() });
    assert.equal(again.outcome, 'done', lines.join('\n'));
    assert.deepEqual(inventoryHost(hosts, 'web-1'), ['host-b']);
    const b = await hosts.control('host-b', 'web-1');
    assert.ok((await readCounter(b)) >= count);
  });

  test('the source dies mid-migration: failed and why; the incomplete copy is stopped, so no host runs two', async () => {
    const lines: string[] = [];
    let killed = false;
    const result = await evacuate(
      options(hosts, lines, (l) => {
        if (!killed && l.endsWith('migration active')) {
          killed = true;
          setTimeout(() => process.kill(pidOf(hosts, 'host-a', 'web-1'), 'SIGKILL'), 300);
        }
      }),
    );
    assert.equal(result.outcome, 'incomplete', lines.join('\n'));
    assert.match(
      result.failed[0]?.detail ?? '',
      /^the source QEMU went away during the migration \(QMP connection eof\); the destination's incomplete copy was stopped, so the VM runs nowhere \[runs on: nowhere\]$/,
    );
    await until(
      () => !alive(vmFiles(hosts.runDir('host-b'), 'web-1').pid),
      'the incomplete destination to be gone',
      5000,
    );
    // (Killed, it lingers as a zombie until this process reaps it: poll.)
    await until(
      () => !alive(vmFiles(hosts.runDir('host-a'), 'web-1').pid),
      'the source to be gone',
      5000,
    );
    assert.deepEqual(inventoryHost(hosts, 'web-1'), ['host-a']);
    const out = lines.join('\n');
    assert.match(
      out,
      /host-a: evacuation incomplete \(0 migrated, 0 skipped, 1 failed; left on host-a: web-1\)/,
    );
  });

  test('watch --act is SIGKILLed mid-evacuation; started again, it resumes and finishes the evacuation', async () => {
    await hosts.startVm('host-a', 'web-2');
    const dir = vmFiles(hosts.runDir('host-a'), 'x').watch.replace('x.watch.qmp', '');
    const args = [
      'watch',
      `web-1=unix:${dir}web-1.watch.qmp`,
      `web-2=unix:${dir}web-2.watch.qmp`,
      '--db', hosts.db('host-a'),
      '--host', 'host-a',
      '--act',
      '--inventory', hosts.inventory,
      '--journal', hosts.journal,
      '--max-bandwidth', String(SLOW),
    ]; // biome-ignore format: flag and value on one line
    const first = memfail(args);
    try {
      await until(
        () => /web-2: connected/.test(first.stderr()) && /web-1: connected/.test(first.stderr()),
        'connected',
        20_000,
      );
      const ops1 = await hosts.control('host-a', 'web-1');
      const ops2 = await hosts.control('host-a', 'web-2');
      await injectMce(ops1, AR_MCE);
      await injectMce(ops2, AR_MCE);
      await injectMce(ops1, AR_MCE);
      await ops1.close();
      await ops2.close();
      await until(
        () => first.stderr().includes('migration active'),
        'a migration under way',
        20_000,
      );
    } finally {
      first.process.kill('SIGKILL');
    }
    assert.equal(await first.exited, 'SIGKILL');
    const j = Journal.open(hosts.journal);
    assert.equal(j.evacuations('host-a')[0]?.state, 'running');
    j.close();

    const second = memfail(args);
    try {
      await until(
        () => /host-a: evacuat(ed|ion incomplete)/.test(second.stderr()),
        'the evacuation to end',
        60_000,
      );
      const log = second.stderr();
      assert.match(
        log,
        /health: resuming evacuation 1 of host-a; why: health failing: 3 action-required failures on 2 VMs in 24 h/,
      );
      assert.match(log, /host-a: evacuated \(2 migrated, 0 skipped, 0 failed\)/);
      assert.deepEqual(inventoryHost(hosts, 'web-1'), ['host-b']);
      assert.deepEqual(inventoryHost(hosts, 'web-2'), ['host-b']);
      for (const vm of ['web-1', 'web-2']) {
        await until(
          () => !alive(vmFiles(hosts.runDir('host-a'), vm).pid),
          `${vm} gone from host-a`,
          5000,
        );
        assert.equal(await status(await hosts.control('host-b', vm)), 'running');
      }
    } finally {
      second.process.kill('SIGTERM');
      await second.exited;
    }
  });

  test('memfail is SIGKILLed mid-migration; run again, it finds the migration QEMU finished and completes the step', async () => {
    const a = await hosts.control('host-a', 'web-1');
    const before = await readCounter(a);
    await a.close();
    const args = [
      'evacuate', 'host-a',
      '--inventory', hosts.inventory,
      '--db', hosts.journal,
      '--max-bandwidth', String(SLOW),
    ]; // biome-ignore format: flag and value on one line
    const first = memfail(args);
    await until(
      () => first.stdout().includes('migration active'),
      'the migration to start',
      20_000,
    );
    first.process.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    // Both QEMUs are still there: the migration goes on without memfail.
    assert.equal(alive(vmFiles(hosts.runDir('host-a'), 'web-1').pid), true);
    assert.equal(alive(vmFiles(hosts.runDir('host-b'), 'web-1').pid), true);
    const j = Journal.open(hosts.journal);
    const [ev] = j.evacuations('host-a');
    assert.equal(ev?.state, 'running');
    assert.equal(j.steps(ev!.id)[0]?.state, 'started');
    j.close();

    const second = memfail(args);
    assert.equal(await second.exited, 0, second.stdout() + second.stderr());
    const out = second.stdout();
    assert.match(out, /host-a: resuming evacuation 1; why: operator/);
    assert.match(out, /host-a: evacuated \(1 migrated, 0 skipped, 0 failed\)/);
    const j2 = Journal.open(hosts.journal);
    const step = j2.steps(1)[0];
    assert.equal(step?.state, 'completed');
    assert.match(
      step?.detail ?? '',
      /^the migration had completed while memfail was stopped; source stopped$/,
    );
    j2.close();
    await until(
      () => !alive(vmFiles(hosts.runDir('host-a'), 'web-1').pid),
      'the source to quit',
      5000,
    );
    assert.deepEqual(inventoryHost(hosts, 'web-1'), ['host-b']);
    const b = await hosts.control('host-b', 'web-1');
    assert.equal(await status(b), 'running');
    assert.ok((await readCounter(b)) >= before);

    const third = memfail(args);
    assert.equal(await third.exited, 0);
    assert.match(third.stdout(), /host-a: no VMs to evacuate/);
  });
});
