/**
 * The libvirt driver against real daemons: the system libvirtd (host-a,
 * shared with other tests through libvirtd.ts) and a second libvirtd of our
 * own in its own mount namespace with another host UUID (host-b). A counter
 * guest migrates peer-to-peer from A to B through `memfail evacuate --driver
 * libvirt`: it runs on B and not on A, and its count carries on. Before,
 * a migration to A itself is refused by libvirt and recorded as a failure
 * with the VM still on its source.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MigrationJob } from '../../src/evacuate/driver.js';
import { loadInventory } from '../../src/evacuate/inventory.js';
import { Journal } from '../../src/evacuate/journal.js';
import { LibvirtDriver } from '../../src/evacuate/libvirt-driver.js';
import { COUNTER_ADDRESS, counterBootSector } from '../../src/qemu/counter.js';
import { domainXml } from '../../src/qemu/domain-xml.js';
import { type LibvirtdLease, useLibvirtd, virsh } from '../libvirt/libvirtd.js';
import { REPO_ROOT } from '../qapi/qemu-source.js';
import { type SecondLibvirtd, startSecondLibvirtd } from '../libvirt/second-libvirtd.js';
import { runCli } from '../support/cli.js';

const run = (args: string[]) => runCli(args);

async function counterAt(uri: string | null, name: string): Promise<number> {
  const args = ['qemu-monitor-command', name, '--hmp', `xp /1wx ${COUNTER_ADDRESS}`];
  const out = uri === null ? await virsh(args) : await virshUri(uri, args);
  const m = /:\s*0x([0-9a-fA-F]+)/.exec(out);
  if (!m) throw new Error(`unexpected xp output: ${out.trim()}`);
  return Number.parseInt(m[1]!, 16);
}

async function virshUri(uri: string, args: string[]): Promise<string> {
  const { virshAt } = await import('../libvirt/second-libvirtd.js');
  return virshAt(uri, args);
}

async function waitCounting(uri: string | null, name: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const n = await counterAt(uri, name).catch(() => 0);
    if (n > 5) return n;
    if (Date.now() > deadline) throw new Error(`${name} does not count (${n})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('libvirt driver: peer-to-peer live migration between two real libvirtds', () => {
  let lease: LibvirtdLease;
  let b: SecondLibvirtd;
  let dir: string;
  const made: string[] = [];

  before(async () => {
    lease = await useLibvirtd();
    b = await startSecondLibvirtd();
    dir = await mkdtemp(join(tmpdir(), 'memfail-mig-'));
    const floppy = Buffer.alloc(1_474_560);
    counterBootSector().copy(floppy);
    await writeFile(join(dir, 'boot.img'), floppy);
  });

  after(async () => {
    for (const name of made) {
      await virsh(['destroy', name]).catch(() => {});
      await b?.virsh(['destroy', name]).catch(() => {});
      await b?.virsh(['undefine', name]).catch(() => {});
    }
    await b?.stop();
    await lease?.release();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A counter guest on A (transient), counting. */
  async function counterGuest(tag: string): Promise<{ name: string; uuid: string }> {
    const name = `memfail-${tag}${process.pid}`;
    const uuid = randomUUID();
    made.push(name);
    await writeFile(
      join(dir, `${tag}.xml`),
      domainXml(name, join(dir, 'boot.img'), { uuid, readonlyDisk: true }),
    );
    await virsh(['create', join(dir, `${tag}.xml`)]);
    await waitCounting(null, name);
    return { name, uuid };
  }

  function inventory(
    file: string,
    vm: { name: string; uuid: string },
    dest: { libvirt: string; migrateUri?: string },
  ): string {
    const path = join(dir, file);
    writeFileSync(
      path,
      JSON.stringify({
        hosts: {
          'host-a': { libvirt: 'qemu:///system', vms: { [vm.name]: { uuid: vm.uuid } } },
          'host-b': dest,
        },
      }),
    );
    return path;
  }

  const evacuateArgs = (inv: string, db: string) => [
    'evacuate',
    'host-a',
    '--inventory',
    inv,
    '--db',
    db,
    '--driver',
    'libvirt',
    '--to',
    'host-b',
  ];

  function onlyStep(db: string) {
    const journal = Journal.open(db);
    try {
      const ev = journal.evacuations('host-a')[0]!;
      return { step: journal.steps(ev.id)[0]!, log: journal.entries(ev.id) };
    } finally {
      journal.close();
    }
  }

  test('a migration to the same host: libvirt refuses, the failure is recorded, the VM stays', async () => {
    const vm = await counterGuest('same');
    // A peer URI through the remote driver (libvirtd opens qemu:///system, or one
    // without ?socket=, in-process: that fails before the same-host check).
    const inv = inventory('same.json', vm, {
      libvirt: 'qemu+unix:///system?socket=/var/run/libvirt/libvirt-sock',
    });
    const db = join(dir, 'same.db');
    const r = await run(evacuateArgs(inv, db));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAILED: libvirt refused or failed the migration: .*same host/i);
    const { step } = onlyStep(db);
    assert.equal(step.state, 'failed');
    assert.match(
      step.detail,
      /same host.*running on host-a, host-b is the same libvirtd \[runs on: source\]$/i,
    );
    assert.match(await virsh(['domstate', vm.name]), /running/);
    assert.ok(vm.name in loadInventory(inv).hosts['host-a']!.vms);
  });

  test('a destination whose daemon is down: recorded, the VM keeps running on A', async () => {
    const vm = await counterGuest('down');
    const inv = inventory('down.json', vm, {
      libvirt: `qemu+unix:///system?socket=${dir}/no-daemon/libvirt-sock`,
    });
    const db = join(dir, 'down.db');
    const r = await run(evacuateArgs(inv, db));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const { step } = onlyStep(db);
    assert.equal(step.state, 'failed');
    assert.match(step.detail, /libvirt refused or failed the migration: .*no-daemon/);
    assert.match(step.detail, /running on host-a, host-b unreachable .*\[runs on: source\]$/);
    assert.match(await virsh(['domstate', vm.name]), /running/);
  });

  test('memfail evacuate --driver libvirt: the guest runs on B, not on A, still counting', async () => {
    const vm = await counterGuest('mig');
    const before = await counterAt(null, vm.name);
    const inv = inventory('hosts.json', vm, {
      libvirt: b.uri,
      migrateUri: `unix://${dir}/{vm}.mig`,
    });
    const db = join(dir, 'journal.db');
    const r = await run(evacuateArgs(inv, db));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`${vm.name}: peer-to-peer to qemu\\+unix:///system\\?socket=`),
    );
    assert.match(
      r.stdout,
      /→ host-b: completed, migrated to host-b by libvirt peer-to-peer in \d+ ms, downtime \d+ ms/,
    );
    assert.match(r.stdout, /host-a: evacuated \(1 migrated, 0 skipped, 0 failed\)/);

    // On B, running; on A, gone (transient there, and UNDEFINE_SOURCE); B keeps it defined.
    assert.match(await b.virsh(['domstate', vm.name]), /running/);
    await assert.rejects(virsh(['domstate', vm.name]), /failed to get domain|not found/i);
    assert.match(await b.virsh(['dominfo', vm.name]), /Persistent:\s+yes/);
    const afterCount = await counterAt(b.uri, vm.name);
    assert.ok(afterCount >= before, `count went from ${before} to ${afterCount}: restarted?`);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await counterAt(b.uri, vm.name)) > afterCount, 'the guest keeps counting on B');

    const moved = loadInventory(inv);
    assert.deepEqual(Object.keys(moved.hosts['host-a']!.vms), []);
    assert.equal(moved.hosts['host-b']!.vms[vm.name]?.uuid, vm.uuid);
    const again = await run(evacuateArgs(inv, db));
    assert.equal(again.code, 0);
    assert.match(again.stdout, /host-a: no VMs to evacuate/);

    // recover() after the fact: running on B only, so a step would settle as completed.
    const hosts = loadInventory(inv).hosts;
    const job: MigrationJob = {
      vm: vm.name,
      from: 'host-a',
      to: 'host-b',
      spec: { uuid: vm.uuid },
      source: hosts['host-a']!,
      dest: hosts['host-b']!,
    };
    const res = await new LibvirtDriver().recover(job, () => {});
    assert.equal(res.ok, true, res.detail);
    assert.equal(res.runsOn, 'destination');
    assert.match(res.detail, /absent from host-a, running on host-b/);
    const back = await new LibvirtDriver().recover(
      { ...job, from: 'host-b', to: 'host-a', source: job.dest, dest: job.source },
      () => {},
    );
    assert.equal(back.ok, false);
    assert.equal(back.runsOn, 'source');
    assert.match(back.detail, /running on host-b, absent from host-a/);
  });

  test('memfail SIGKILLed mid-migration: the next run settles the step, the VM on one host', async () => {
    const vm = await counterGuest('kill');
    const inv = inventory('kill.json', vm, {
      libvirt: b.uri,
      migrateUri: `unix://${dir}/{vm}.mig`,
    });
    const db = join(dir, 'kill.db');
    // Hold the migration mid-way: B's daemon stopped, A's PERFORM waits on it.
    const bPid = b.pid();
    assert.ok(bPid !== null);
    process.kill(bPid, 'SIGSTOP');
    let child: ReturnType<typeof spawn> | undefined;
    try {
      child = spawn(
        process.execPath,
        [join(REPO_ROOT, 'bin/memfail.js'), ...evacuateArgs(inv, db)],
        {
          stdio: 'ignore',
        },
      );
      const deadline = Date.now() + 30_000;
      for (;;) {
        const seen = existsSync(db) ? onlyStepOrNull(db) : null;
        if (seen?.log.some((e) => /peer-to-peer to/.test(e.detail))) break;
        if (Date.now() > deadline) throw new Error('the evacuation did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    } finally {
      process.kill(bPid, 'SIGCONT');
    }
    assert.equal(onlyStep(db).step.state, 'started');

    const r = await run(evacuateArgs(inv, db));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /host-a: resuming evacuation/);
    assert.match(r.stdout, /host-a: evacuated \(1 migrated, 0 skipped, 0 failed\)/);
    const { step, log } = onlyStep(db);
    assert.equal(step.state, 'completed');
    assert.ok(
      log.some((e) => /^found: /.test(e.detail)),
      log.map((e) => e.detail).join(' | '),
    );
    assert.match(await b.virsh(['domstate', vm.name]), /running/);
    await assert.rejects(virsh(['domstate', vm.name]), /failed to get domain|not found/i);
  });

  function onlyStepOrNull(db: string) {
    try {
      return onlyStep(db);
    } catch {
      return null;
    }
  }
});
