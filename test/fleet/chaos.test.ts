/**
 * The fleet under chaos, end to end with real processes: three agents
 * (`memfail watch --publish`) on simulated VMs record over 20,000 memory
 * failures while the test SIGKILLs an agent twice, restarts nats-server,
 * SIGKILLs a collector twice (two `memfail collect` running) and restarts
 * PostgreSQL. At the end PostgreSQL holds exactly the records the agents
 * hold locally, compared key by key: none missing, none doubled.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import type { QmpTimestamp } from '../../src/event/model.js';
import { schemaInfo as qemuSchema } from '../../src/generated/qemu/introspection.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { QmpServer } from '../../src/qmp/server.js';
import { tempDir } from '../agent/fixtures.js';
import { type Child, memfail } from '../agent/child.js';
import { type NatsServer, type PostgresServer, startNats, startPostgres } from './services.js';

const HOSTS = ['h1', 'h2', 'h3'];
const VMS_PER_HOST = 2;
const EVENTS_PER_VM = 3_600; // 21,600 in all
const RATE_PER_VM = 250; // events per second while an agent listens

const tmp = tempDir('memfail-chaos-');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  tmp.cleanup();
});

const KINDS = [
  { recipient: 'guest', action: 'inject', flags: { 'action-required': true, recursive: false } },
  {
    recipient: 'hypervisor',
    action: 'ignore',
    flags: { 'action-required': false, recursive: false },
  },
  { recipient: 'guest', action: 'reset', flags: { 'action-required': true, recursive: true } },
];

/** A VM that sends its failures only while an agent listens, each with its own microsecond. */
async function startVm(path: string, vmIndex: number) {
  let tick = 0;
  const base = 1_764_000_000 + vmIndex * 10_000;
  const clock = (): QmpTimestamp => {
    tick++;
    return { seconds: base + Math.floor(tick / 1_000_000), microseconds: tick % 1_000_000 };
  };
  const server = new QmpServer({ clock });
  server.handle('query-qmp-schema', () => qemuSchema as unknown as Record<string, unknown>[]);
  await server.listen(`unix:${path}`);
  let sent = 0;
  let stopped = false;
  const done = (async () => {
    let last = performance.now();
    while (sent < EVENTS_PER_VM && !stopped) {
      await new Promise((r) => setTimeout(r, 10));
      const now = performance.now();
      const due = Math.min(EVENTS_PER_VM - sent, Math.round(((now - last) * RATE_PER_VM) / 1000));
      if (due === 0) continue;
      last = now;
      for (let i = 0; i < due; i++) {
        if (server.emit('MEMORY_FAILURE', KINDS[sent % KINDS.length]!) === 0) break;
        sent++;
      }
    }
  })();
  cleanups.push(async () => {
    stopped = true;
    await server.close();
  });
  return { address: `unix:${path}`, done, sent: () => sent };
}

function agent(host: string, vms: readonly string[], natsUrl: string): Child {
  return memfail([
    'watch',
    ...vms,
    '--db',
    join(tmp.dir, `${host}.db`),
    '--publish',
    natsUrl,
    '--host',
    host,
    '-q',
  ]);
}

function collector(natsUrl: string, pgUrl: string): Child {
  return memfail(['collect', '--nats', natsUrl, '--pg', pgUrl, '--batch', '500']);
}

async function sigkill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  await child.exited;
}

async function stopGently(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  await child.exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function localKeys(host: string): string[] {
  const db = new Database(join(tmp.dir, `${host}.db`), { readonly: true });
  try {
    const keys: string[] = [];
    for (const r of db
      .prepare('SELECT vm, ts_seconds, ts_micros, dedup FROM memory_failure')
      .iterate() as Iterable<Record<string, unknown>>) {
      keys.push(`f|${host}|${r.vm}|${r.ts_seconds}|${r.ts_micros}|${r.dedup}`);
    }
    for (const r of db
      .prepare('SELECT vm, kind, ts_seconds, ts_micros, received_us, dedup FROM lifecycle')
      .iterate() as Iterable<Record<string, unknown>>) {
      const dedup = r.dedup ?? `received:${r.received_us}`;
      keys.push(`l|${host}|${r.vm}|${r.kind}|${r.ts_seconds}|${r.ts_micros}|${dedup}`);
    }
    return keys;
  } finally {
    db.close();
  }
}

async function fleetKeys(sql: Sql): Promise<string[]> {
  const keys: string[] = [];
  for (const r of await sql`SELECT host, vm, ts_seconds, ts_micros, dedup FROM memory_failure`) {
    keys.push(`f|${r.host}|${r.vm}|${r.ts_seconds}|${r.ts_micros}|${r.dedup}`);
  }
  for (const r of await sql`SELECT host, vm, kind, ts_seconds, ts_micros, dedup FROM lifecycle`) {
    keys.push(`l|${r.host}|${r.vm}|${r.kind}|${r.ts_seconds}|${r.ts_micros}|${r.dedup}`);
  }
  return keys;
}

test('chaos: agents, nats-server, collectors and PostgreSQL die; PostgreSQL ends with exactly the local records', async (t) => {
  const nats: NatsServer = await startNats();
  cleanups.push(() => nats.dispose());
  const pg: PostgresServer = await startPostgres(['fsync=off']);
  cleanups.push(() => pg.dispose());
  const sql = openPg(pg.url);
  cleanups.push(() => sql.end({ timeout: 1 }));

  const vmArgs: Record<string, string[]> = {};
  const vms: Awaited<ReturnType<typeof startVm>>[] = [];
  let n = 0;
  for (const host of HOSTS) {
    vmArgs[host] = [];
    for (let i = 0; i < VMS_PER_HOST; i++) {
      const vm = await startVm(join(tmp.dir, `${host}-vm${i}.sock`), n++);
      vms.push(vm);
      vmArgs[host]!.push(`vm${i}=${vm.address}`);
    }
  }
  const agents: Record<string, Child> = {};
  for (const host of HOSTS) agents[host] = agent(host, vmArgs[host]!, nats.url);
  const collectors = [collector(nats.url, pg.url), collector(nats.url, pg.url)];
  const everyChild = () => [...Object.values(agents), ...collectors];
  cleanups.push(async () => {
    for (const c of everyChild()) await stopGently(c);
  });

  const restartAgent = async (host: string) => {
    await sigkill(agents[host]!);
    await sleep(500);
    agents[host] = agent(host, vmArgs[host]!, nats.url);
  };
  const restartCollector = async (i: number) => {
    await sigkill(collectors[i]!);
    await sleep(500);
    collectors[i] = collector(nats.url, pg.url);
  };

  await sleep(2000);
  await restartAgent('h1');
  await sleep(1500);
  await nats.stop();
  await sleep(2000);
  await nats.start();
  await sleep(1500);
  await restartCollector(0);
  await sleep(1500);
  await pg.stop();
  await sleep(2000);
  await pg.start();
  await sleep(1500);
  await restartAgent('h2');
  await sleep(1500);
  await restartCollector(1);

  await Promise.all(vms.map((v) => v.done));
  const emitted = vms.reduce((s, v) => s + v.sent(), 0);
  assert.equal(emitted, HOSTS.length * VMS_PER_HOST * EVENTS_PER_VM);

  // Everything each agent committed reaches PostgreSQL while everything runs.
  const expected = () => HOSTS.flatMap(localKeys);
  const deadline = Date.now() + 90_000;
  let local = expected();
  let fleet = await fleetKeys(sql);
  while (fleet.length !== local.length && Date.now() < deadline) {
    await sleep(500);
    local = expected();
    fleet = await fleetKeys(sql);
  }
  const failures = local.filter((k) => k.startsWith('f|')).length;
  assert.ok(failures >= 20_000, `only ${failures} failures recorded locally`);
  assert.equal(new Set(fleet).size, fleet.length, 'a record is doubled in PostgreSQL');
  const fleetSet = new Set(fleet);
  const missing = local.filter((k) => !fleetSet.has(k));
  const localSet = new Set(local);
  const extra = fleet.filter((k) => !localSet.has(k));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} records missing in PostgreSQL`);
  assert.deepEqual(
    extra.slice(0, 5),
    [],
    `${extra.length} records in PostgreSQL not recorded locally`,
  );
  assert.equal(fleet.length, local.length);
  t.diagnostic(`${failures} failures and ${local.length - failures} lifecycle events, key for key`);

  for (const c of everyChild()) await stopGently(c);
  for (const c of collectors) assert.equal(await c.exited, 0, c.stderr());
});
