// Fleet benchmark: one `memfail watch --once` agent watching N simulated VMs
// (memfail's QMP-speaking QEMU 7.2 simulator, half in each dialect), each of
// which takes three memory failures — hypervisor AO (ignored), guest AR
// (injected), hypervisor AR (fatal: the VM exits right after its event).
// Reports the agent's peak RSS (/usr/bin/time -f %M) and checks that every
// VM's three failures were recorded.
//
//   node bench/agent-fleet.mjs [--vms N]
//
// Needs a build (npx tsc -p tsconfig.json).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--vms');
const count = at >= 0 ? Number(process.argv[at + 1]) : 1000;
if (!existsSync(join(root, 'dist/src/hypervisor/simulator.js'))) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}
const { SimulatedVm } = await import(join(root, 'dist/src/hypervisor/simulator.js'));
const { presetFault } = await import(join(root, 'dist/src/hypervisor/faults.js'));

const dir = mkdtempSync(join(tmpdir(), 'memfail-fleet-'));
const db = join(dir, 'events.db');
const vms = Array.from(
  { length: count },
  (_, i) => new SimulatedVm({ dialect: i % 2 ? 'seed' : 'qemu' }),
);
await Promise.all(vms.map((vm, i) => vm.listen(`unix:${join(dir, `vm${i}.sock`)}`)));

const TIME = '/usr/bin/time';
const argv = [
  process.execPath,
  join(root, 'bin/memfail.js'),
  'watch',
  ...vms.map((_, i) => `vm${i}=unix:${join(dir, `vm${i}.sock`)}`),
  '--db',
  db,
  '--once',
  '-q',
];
const started = performance.now();
const agent = spawn(
  existsSync(TIME) ? TIME : argv[0],
  existsSync(TIME) ? ['-f', '%M', ...argv] : argv.slice(1),
  {
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let stderr = '';
agent.stderr.on('data', (c) => (stderr += c));
const exited = new Promise((resolve) => agent.on('close', (code) => resolve(code)));

function query(sql) {
  if (!existsSync(db)) return null;
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return conn.prepare(sql).get();
  } catch {
    return null;
  } finally {
    conn.close();
  }
}

// Every VM connected (the agent records CONNECTED once negotiated).
for (;;) {
  const row = query("SELECT count(DISTINCT vm) AS n FROM lifecycle WHERE kind = 'CONNECTED'");
  if (row?.n === count) break;
  if (performance.now() - started > 120_000)
    throw new Error(`only ${row?.n} VMs connected: ${stderr}`);
  await new Promise((r) => setTimeout(r, 50));
}
const connectedMs = performance.now() - started;

const injected = performance.now();
for (const vm of vms) {
  vm.inject({ kind: 'host', code: 'AO', address: 0x1000n, inGuestRam: false });
  vm.inject(presetFault('ar', 0, 0x2000n));
  vm.inject({ kind: 'host', code: 'AR', address: 0x3000n, inGuestRam: false });
}
const statuses = await Promise.all(vms.map((vm) => vm.exited));
const code = await exited;
const doneMs = performance.now() - injected;
if (code !== 0) throw new Error(`agent exited ${code}: ${stderr}`);

const peakKiB = Number(stderr.trim().split('\n').at(-1));
const rows = query(
  'SELECT count(*) AS n, count(DISTINCT vm) AS vms FROM memory_failure WHERE valid = 1',
);
const perVm = query(
  'SELECT min(n) AS lo, max(n) AS hi FROM (SELECT count(*) AS n FROM memory_failure GROUP BY vm)',
);
rmSync(dir, { recursive: true, force: true });

const ok = rows.n === 3 * count && rows.vms === count && perVm.lo === 3 && perVm.hi === 3;
console.log(
  `VMs: ${count} (simulated, half qemu / half seed dialect), one agent: memfail watch --once`,
);
console.log('| measure | value |');
console.log('| --- | ---: |');
console.log(`| all VMs connected after (ms, from spawn) | ${connectedMs.toFixed(0)} |`);
console.log(
  `| last VM's events committed, agent exited (ms, from first injection) | ${doneMs.toFixed(0)} |`,
);
console.log(`| agent peak RSS (MiB) | ${(peakKiB / 1024).toFixed(1)} |`);
console.log(`| failures recorded (valid) | ${rows.n} of ${3 * count} |`);
console.log(`| VMs with exactly 3 recorded | ${perVm.lo === 3 && perVm.hi === 3 ? count : 'NO'} |`);
console.log(
  `| VM exit statuses (fatal → 1) | ${statuses.every((s) => s === 1) ? 'all 1' : statuses.join(',')} |`,
);
if (!ok) {
  console.error('FAILED: not every event was recorded');
  process.exit(1);
}
