/**
 * `memfail demo --evacuate`: the health and evacuation part, on real QEMU.
 * Two "hosts" on this machine (each a set of QEMU processes and its own
 * store): host-a runs two counter guests. The agent watches them, the policy
 * judges host-a after each failure; three action-required failures on its
 * two VMs make it failing, and the agent live-migrates both guests to
 * host-b. The counter read on host-b carries on from host-a's: the running
 * guest moved, not a copy that rebooted. bench/evacuate.mjs runs this too.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriter } from '../agent/batch.js';
import { Store } from '../agent/store.js';
import { parseVmArguments, Watcher } from '../agent/watcher.js';
import { explain } from '../event/explain.js';
import { HealthActor } from '../evacuate/act.js';
import { Journal } from '../evacuate/journal.js';
import { launchVm, QmpDriver, vmFiles } from '../evacuate/qmp-driver.js';
import { DEFAULT_POLICY } from '../health/policy.js';
import { counterBootSector, readCounter } from '../qemu/counter.js';
import { AR_MCE, injectMce } from '../qemu/guest.js';
import { QmpClient } from '../qmp/client.js';

export interface EvacuationDemoOptions {
  readonly out: (text: string) => void;
}

export interface EvacuationDemoResult {
  readonly ok: boolean;
  /** QEMU's clock: the tipping MEMORY_FAILURE to the first MIGRATION (setup) event. */
  readonly tipToMigrationMs: number | null;
  /** QEMU's own downtime figure per migrated VM. */
  readonly downtimeMs: readonly number[];
  readonly countOnA: number;
  readonly countOnB: number;
}

const VMS = ['web-1', 'web-2'] as const;
const FLOPPY_BYTES = 1_474_560;

export async function runEvacuationDemo(
  options: EvacuationDemoOptions,
): Promise<EvacuationDemoResult> {
  const { out } = options;
  const dir = mkdtempSync(join(tmpdir(), 'mf-demo-'));
  const runA = join(dir, 'host-a');
  const runB = join(dir, 'host-b');
  mkdirSync(runA);
  mkdirSync(runB);
  const dbA = join(dir, 'host-a.db');
  const dbB = join(dir, 'host-b.db');
  Store.open(dbB).close();
  const inventory = join(dir, 'hosts.json');
  const clients: QmpClient[] = [];
  const store = Store.open(dbA);
  const writer = new BatchWriter(store, { maxDelayMs: 5, minCommitIntervalMs: 0 });
  let watcher: Watcher | null = null;
  let actor: HealthActor | null = null;
  try {
    const vms: Record<string, unknown> = {};
    for (const vm of VMS) {
      const image = join(dir, `${vm}.img`);
      writeFileSync(image, counterBootSector());
      truncateSync(image, FLOPPY_BYTES);
      const qemu = [
        '-machine', 'pc', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config',
        '-m', '64', '-drive', `file=${image},format=raw,if=floppy`,
      ]; // biome-ignore format: flag and value on one line
      launchVm(runA, vm, qemu, false);
      vms[vm] = { qmp: `unix:${vmFiles(runA, vm).qmp}`, qemu };
    }
    writeFileSync(
      inventory,
      JSON.stringify({
        hosts: {
          'host-a': { db: dbA, runDir: runA, vms },
          'host-b': { db: dbB, runDir: runB, vms: {} },
        },
      }),
    );
    out('Two hosts on this machine, each a set of QEMU processes with its own store:\n');
    out('  host-a  web-1, web-2: guests that count timer ticks in RAM and handle machine checks\n');
    out('  host-b  empty, healthy\n\n');

    // Our own view of the guests (the ops sockets): injections, counters, QEMU's event times.
    const ops = new Map<string, QmpClient>();
    for (const vm of VMS) ops.set(vm, await connectWhenUp(vmFiles(runA, vm).ops, clients));
    let tipAt: number | null = null;
    let migrationAt: number | null = null;
    const eventMs = (ev: { timestamp: { seconds: number; microseconds: number } }) =>
      ev.timestamp.seconds * 1000 + ev.timestamp.microseconds / 1000;
    for (const client of ops.values()) {
      client.on(
        'event',
        (ev) => {
          const status = (ev.data as { status?: string }).status;
          if (status === 'setup' && migrationAt === null) migrationAt = eventMs(ev);
        },
        { names: ['MIGRATION'] },
      );
    }

    writer.onCommitted((batch) => {
      for (const obs of batch.observations) {
        if (obs.kind === 'failure' && obs.failure !== null) {
          const when = obs.timestamp ?? new Date(obs.receivedUs / 1000);
          out(`  recorded  ${explain(obs.failure, { vm: obs.vm, timestamp: when })}\n`);
        }
      }
      if (batch.result.newFailureIds.length > 0) actor?.update();
    });
    watcher = new Watcher(
      parseVmArguments(VMS.map((vm) => `${vm}=unix:${vmFiles(runA, vm).watch}`)),
      writer,
      { backoffInitialMs: 20, backoffMaxMs: 200 },
    );
    watcher.start();
    actor = new HealthActor({
      host: 'host-a',
      policy: DEFAULT_POLICY,
      store,
      act: true,
      evacuation: {
        inventoryPath: inventory,
        journalPath: join(dir, 'journal.db'),
        driver: new QmpDriver(),
        drainLimit: 1,
        parallel: 2,
      },
      log: (line) => out(`  health    ${line}\n`),
    });
    await until(() => connectedAll(store), 'the agent to connect to both guests');
    actor.start();

    const web1 = ops.get('web-1')!;
    await until(async () => (await readCounter(web1)) >= 10, 'web-1 to count');
    out(`\nweb-1's counter on host-a: ${await readCounter(web1)}\n\n`);
    const inject = async (vm: string, what: string, tipping = false) => {
      out(`[inject] ${vm}: action-required machine check (${what})\n`);
      const client = ops.get(vm)!;
      const seen = new Promise<void>((resolve) => {
        const off = client.on(
          'event',
          (ev) => {
            if (tipping) tipAt = eventMs(ev);
            off();
            resolve();
          },
          { names: ['MEMORY_FAILURE'] },
        );
      });
      await injectMce(client, AR_MCE);
      await seen;
      await until(() => store.countFailures({ vm }) > 0, `the failure on ${vm} recorded`);
    };
    await inject('web-1', 'a bad page under web-1');
    await inject('web-2', 'another VM on the same host');
    await until(() => actor!.current.state === 'degraded', 'host-a degraded');
    const countOnA = await readCounter(web1);
    out(`\nweb-1's counter on host-a just before the third failure: ${countOnA}\n`);
    await inject('web-1', 'the third: 3 action-required failures on 2 VMs within 24 h', true);
    await until(() => actor!.results.length > 0, 'the evacuation to finish', 60_000);
    const result = actor.results[0]!;

    const onB = await connectWhenUp(vmFiles(runB, 'web-1').ops, clients);
    const countOnB = await readCounter(onB);
    out(
      `\nweb-1's counter on host-b: ${countOnB} (host-a's was ${countOnA}: the running guest moved, it did not reboot)\n`,
    );
    const journal = Journal.open(join(dir, 'journal.db'));
    const downtimeMs = journal
      .evacuations('host-a')
      .flatMap((e) => journal.steps(e.id))
      .map((s) => /downtime (\d+) ms/.exec(s.detail)?.[1])
      .filter((d): d is string => d !== undefined)
      .map(Number);
    journal.close();
    const inv = JSON.parse(readFileSync(inventory, 'utf8')) as {
      hosts: Record<string, { vms: Record<string, unknown> }>;
    };
    out(
      `inventory now: host-a [${Object.keys(inv.hosts['host-a']!.vms).join(', ')}], host-b [${Object.keys(inv.hosts['host-b']!.vms).join(', ')}]\n`,
    );
    const tip: number | null = tipAt;
    const mig: number | null = migrationAt;
    const tipToMigrationMs =
      tip !== null && mig !== null ? Math.round((mig - tip) * 10) / 10 : null;
    if (tipToMigrationMs !== null) {
      out(
        `from the tipping failure to the first migration: ${tipToMigrationMs} ms (QEMU's clocks); downtime ${downtimeMs.join(', ')} ms\n`,
      );
    }
    const ok =
      result.outcome === 'done' && countOnB >= countOnA && result.completed.length === VMS.length;
    return { ok, tipToMigrationMs, downtimeMs, countOnA, countOnB };
  } finally {
    await actor?.stop();
    await watcher?.stop();
    writer.close();
    store.close();
    for (const c of clients) await c.close();
    for (const runDir of [runA, runB]) {
      for (const vm of VMS) killPid(vmFiles(runDir, vm).pid);
    }
    await new Promise((r) => setTimeout(r, 100));
    rmSync(dir, { recursive: true, force: true });
  }
}

function connectedAll(store: Store): boolean {
  return VMS.every((vm) => store.lifecycle({ vm }).some((l) => l.event === 'CONNECTED'));
}

async function connectWhenUp(path: string, clients: QmpClient[]): Promise<QmpClient> {
  const client = new QmpClient();
  await until(
    () =>
      client.connect(path).then(
        () => true,
        () => false,
      ),
    `QEMU at ${path}`,
  );
  clients.push(client);
  return client;
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the demo gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function killPid(pidFile: string): void {
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  } catch {
    // not started, or gone
  }
}
