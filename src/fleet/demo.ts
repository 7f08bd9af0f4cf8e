/**
 * `memfail demo --fleet`: the fleet on one machine. A private nats-server
 * (JetStream) and PostgreSQL 15 in temporary directories; three simulated
 * hosts, each with two simulated VMs and its own agent process
 * (`memfail watch --publish --host`); one collector; a round of memory
 * failures on every VM; then `memfail hosts --pg` and `memfail report --pg`.
 * Everything it started is stopped and removed at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportTextAsync } from '../agent/report.js';
import { presetFault } from '../hypervisor/faults.js';
import { inject } from '../qemu/inject.js';
import type { GuestFault, HostFault } from '../hypervisor/mca.js';
import { SimulatedVm } from '../hypervisor/simulator.js';
import { unixAddress } from '../qmp/address.js';
import { QmpClient } from '../qmp/client.js';
import { Collector } from './collector.js';
import { DEFAULT_STREAM, parseNatsUrl } from './nats.js';
import { openPg } from './pg.js';
import { DEFAULT_POLICY } from '../health/policy.js';
import { fleetHosts, fleetReportSource, formatHosts } from './pg-read.js';
import { type NatsServer, type PostgresServer, startNats, startPostgres } from './services.js';

const BIN = fileURLToPath(new URL('../../../bin/memfail.js', import.meta.url));
const HOSTS = ['rack1-host1', 'rack1-host2', 'rack2-host1'];
const VMS = ['web', 'db'];
const PAGE = 0x7f000n;

/** One round per VM: what each fault is, and the fault. */
const ROUND: readonly { what: string; fault: GuestFault | HostFault }[] = [
  { what: 'action-optional machine check', fault: presetFault('ao', 0, PAGE) },
  {
    what: "host-side AO error in QEMU's own memory",
    fault: { kind: 'host', code: 'AO', address: 0x1000n, inGuestRam: false },
  },
  { what: 'action-required machine check', fault: presetFault('ar', 0, PAGE + 0x1000n) },
];

export interface FleetDemoResult {
  readonly ok: boolean;
  readonly failures: number;
}

export async function runFleetDemo(out: (text: string) => void): Promise<FleetDemoResult> {
  const dir = await mkdtemp(join(tmpdir(), 'memfail-fleet-demo-'));
  const stops: (() => Promise<void>)[] = [];
  try {
    out('Starting a private nats-server (JetStream) and PostgreSQL 15 in temporary directories\n');
    const nats: NatsServer = await startNats();
    stops.push(() => nats.dispose());
    const pg: PostgresServer = await startPostgres();
    stops.push(() => pg.dispose());
    out(`  NATS        ${nats.url}\n  PostgreSQL  ${pg.url}\n\n`);

    const sql = openPg(pg.url, 2);
    stops.push(() => sql.end({ timeout: 2 }));
    const collector = new Collector(parseNatsUrl(nats.url), sql, {
      stream: DEFAULT_STREAM,
      log: (line) => out(`  collector: ${line}\n`),
    });
    await collector.start();
    stops.push(() => collector.stop());
    out('One collector: memfail collect --nats … --pg …\n');

    const injectors: { host: string; vm: string; client: QmpClient }[] = [];
    for (const host of HOSTS) {
      const args: string[] = [];
      for (const name of VMS) {
        const vm = new SimulatedVm({ dialect: 'qemu', guest: 'stuck', noReboot: false });
        const address = await vm.listen(unixAddress(join(dir, `${host}-${name}.qmp`)));
        const client = new QmpClient();
        await client.connect(address);
        injectors.push({ host, vm: name, client });
        stops.push(async () => {
          await client.close().catch(() => {});
          if (!vm.exiting) await vm.shutdown('host-qmp-quit').catch(() => {});
        });
        args.push(`${name}=unix:${join(dir, `${host}-${name}.qmp`)}`);
      }
      const db = join(dir, `${host}.db`);
      const agent = spawnAgent([...args, '--db', db, '--publish', nats.url, '--host', host, '-q']);
      stops.push(() => stopChild(agent));
      out(`Host ${host}: agent watching ${VMS.join(', ')}, publishing as ${host}\n`);
    }
    // Failures before an agent is connected would go unseen: wait until every
    // agent's CONNECTED events have come through the fleet (the pipeline works, too).
    const vms = HOSTS.length * VMS.length;
    const ready = Date.now() + 30_000;
    for (;;) {
      const [row] = await sql`SELECT count(DISTINCT (host, vm)) AS n FROM lifecycle
        WHERE kind = 'CONNECTED'`;
      if (Number(row?.n ?? 0) >= vms) break;
      if (Date.now() > ready) throw new Error('the agents did not connect within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    out('\nInjecting memory failures on every VM of every host\n');
    let expected = 0;
    for (const step of ROUND) {
      for (const { host, vm, client } of injectors) {
        const outcome = await inject(client, step.fault, { settleMs: 0 });
        const events = outcome.events.filter((e) => e.event === 'MEMORY_FAILURE').length;
        expected += events;
        out(`  ${host}/${vm}: ${step.what}\n`);
      }
    }

    out(`\nWaiting for all ${expected} failures to reach PostgreSQL\n`);
    const deadline = Date.now() + 60_000;
    let stored = 0;
    while (Date.now() < deadline) {
      const [row] = await sql`SELECT count(*) AS n FROM memory_failure`;
      stored = Number(row?.n ?? 0);
      if (stored >= expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    out(`  ${stored} of ${expected} stored\n\n$ memfail hosts --pg ${pg.url}\n`);
    out(formatHosts(await fleetHosts(sql, DEFAULT_POLICY)));
    out(`\n$ memfail report --pg ${pg.url}\n`);
    let report = '';
    for await (const piece of reportTextAsync(fleetReportSource(sql))) report += piece;
    out(report);
    return { ok: stored === expected && expected > 0, failures: stored };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnAgent(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'watch', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
