// Report benchmark: `memfail report` (text and --json) over a database of
// FAILURES memory failures (default 200,000) spread over VMS VMs, with a
// lifecycle event after every 50th failure (RESET, STOP/RESUME, a
// GUEST_PANICKED now and then). Wall time and peak RSS of each command, from
// spawn to exit (/usr/bin/time); the output is checked for the failure count.
// `--whole` also times the former path (every row read into arrays, then
// buildReport and JSON.stringify), for comparison.
//
//   node bench/agent-report.mjs [--failures N] [--vms V] [--whole]
//
// Needs a build (npx tsc -p tsconfig.json).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timed } from './timed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const flag = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const count = Number(flag('--failures', 200_000));
const vmCount = Number(flag('--vms', 10));
const whole = process.argv.includes('--whole');
if (!existsSync(join(root, 'dist/src/agent/store.js'))) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}
const { Store } = await import(join(root, 'dist/src/agent/store.js'));

const KINDS = [
  { recipient: 'guest', action: 'inject', actionRequired: true, recursive: false },
  { recipient: 'guest', action: 'inject', actionRequired: false, recursive: false },
  { recipient: 'hypervisor', action: 'ignore', actionRequired: false, recursive: false },
  { recipient: 'guest', action: 'reset', actionRequired: true, recursive: true },
];
const BASE_US = 1_764_000_000 * 1_000_000;

function fill(path) {
  const store = Store.open(path);
  let batch = [];
  for (let i = 0; i < count; i++) {
    const vm = `vm${i % vmCount}`;
    const us = BASE_US + i * 1000;
    const timestamp = { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
    const f = KINDS[i % 4];
    const data = {
      recipient: f.recipient,
      action: f.action,
      flags: { 'action-required': f.actionRequired, recursive: f.recursive },
    };
    batch.push({
      kind: 'failure',
      vm,
      failure: f,
      error: null,
      timestamp,
      receivedUs: us + 100,
      dialect: 'qemu',
      message: { timestamp, event: 'MEMORY_FAILURE', data },
    });
    if (i % 50 === 49) {
      const event = ['RESET', 'STOP', 'RESUME', 'GUEST_PANICKED'][(i / 50) % 4];
      batch.push({ kind: 'lifecycle', vm, event, timestamp, receivedUs: us + 200, data: {} });
    }
    if (batch.length >= 5000) {
      store.insert(batch);
      batch = [];
    }
  }
  store.insert(batch);
  store.close();
}

const WHOLE = `
const { Store } = await import(process.argv[1] + '/dist/src/agent/store.js');
const { buildReport } = await import(process.argv[1] + '/dist/src/agent/report.js');
const store = Store.open(process.argv[2], { mustExist: true });
const r = buildReport(store.failures({ includeUnreadable: true }), store.lifecycle());
process.stdout.write(JSON.stringify(r, null, 2) + '\\n');
store.close();
`;

const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-report-'));
try {
  const db = join(dir, 'events.db');
  const t0 = performance.now();
  fill(db);
  console.log(
    `database: ${count} failures on ${vmCount} VMs, ${Math.floor(count / 50)} lifecycle events (filled in ${(performance.now() - t0).toFixed(0)} ms)`,
  );
  const bin = join(root, 'bin/memfail.js');
  const cases = [
    ['memfail report', [process.execPath, bin, 'report', '--db', db]],
    ['memfail report --json', [process.execPath, bin, 'report', '--db', db, '--json']],
  ];
  if (whole)
    cases.push([
      'former path: all rows in arrays, buildReport, JSON.stringify',
      [process.execPath, '--input-type=module', '-e', WHOLE, root, db],
    ]);
  console.log('| command | wall (ms) | peak RSS (MiB) |');
  console.log('| --- | ---: | ---: |');
  for (const [name, argv] of cases) {
    const r = await timed(argv);
    const failures =
      name.includes('--json') || name.startsWith('former')
        ? JSON.parse(r.out).overall.failures
        : Number(r.out.match(/^(\d+) memory failures/)?.[1]);
    if (failures !== count) throw new Error(`${name}: reported ${failures}, not ${count}`);
    console.log(`| ${name} | ${r.ms.toFixed(0)} | ${(r.rssKiB / 1024).toFixed(1)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
