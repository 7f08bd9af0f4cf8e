// The drill as a benchmark: `memfail demo --evacuate` N times (two counter
// guests on host-a, three action-required failures tip it to failing, the
// agent evacuates both to host-b live). Reports, per run, on QEMU's own
// clocks: the tipping MEMORY_FAILURE event → the first MIGRATION (setup)
// event, and the downtime QEMU reports for each migration (query-migrate).
// Beside it, the floor the first figure cannot go below: starting a
// destination QEMU with -incoming until its QMP socket answers.
//
//   node bench/evacuate.mjs [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEvacuationDemo } from '../dist/src/demo/evacuate.js';
import { launchVm, vmFiles } from '../dist/src/evacuate/qmp-driver.js';
import { QmpClient } from '../dist/src/qmp/client.js';

const runsAt = process.argv.indexOf('--runs');
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 5;

const tip = [];
const downtime = [];
for (let i = 0; i < runs; i++) {
  const r = await runEvacuationDemo({ out: () => {} });
  if (!r.ok || r.tipToMigrationMs === null) throw new Error(`run ${i + 1} did not evacuate`);
  tip.push(r.tipToMigrationMs);
  downtime.push(...r.downtimeMs);
}

// The floor: a destination QEMU from spawn to a negotiated QMP connection.
const floor = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'mf-bench-'));
  const files = vmFiles(dir, 'v');
  const args = ['-machine', 'pc', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-m', '64'];
  const t0 = performance.now();
  const child = launchVm(dir, 'v', args, true);
  const client = new QmpClient();
  for (;;) {
    try {
      await client.connect(files.qmp);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  floor.push(performance.now() - t0);
  await client.close();
  child.ref(); // launchVm detaches it: wait for it here
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)];
  return `median ${med.toFixed(1)} ms, min ${s[0].toFixed(1)}, max ${s.at(-1).toFixed(1)} (n=${s.length})`;
};
console.log(`tipping failure → first migration start:  ${stats(tip)}`);
console.log(`  floor: destination QEMU spawn → QMP up: ${stats(floor)}`);
console.log(`migration downtime (QEMU's figure):       ${stats(downtime)}`);
