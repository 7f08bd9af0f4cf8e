// Whole-process benchmark: `memfail schema check` against QEMU 7.2's own
// Python front end building the same checked schema, in alternating runs.
//
//   node bench/qapi-check.mjs [--runs N] [--python PATH] [--inherit-env] [SCHEMA]
//
// Every contender runs with the environment of a fresh login (PATH, HOME,
// LANG) unless --inherit-env: a build sandbox's variables bill one runtime
// and not the other (NODE_EXTRA_CA_CERTS makes node parse a CA bundle before
// any script runs, ~40 ms here; PYTHONDONTWRITEBYTECODE makes Python compile
// QEMU's generator modules afresh on every run).
//
// Needs a build (npx tsc -p tsconfig.json) and the fetched QEMU source. It
// (re)makes dist/src/check-bundle.mjs first, as `npm run build` does, so that
// memfail runs the way a built install does.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCheckBundle } from '../scripts/bundle-check.mjs';
import { peerPython, pythonVersion } from './python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const qemu = join(root, '.cache/qemu-src/qemu-7.2.0');
const python = peerPython();
const args = process.argv.slice(2);
const inheritAt = args.indexOf('--inherit-env');
const inheritEnv = inheritAt >= 0;
if (inheritEnv) args.splice(inheritAt, 1);
const env = inheritEnv
  ? process.env
  : { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', LANG: 'C.UTF-8' };
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 15;
const schema = args[0] ?? join(qemu, 'qapi/qapi-schema.json');

if (!existsSync(schema) || !existsSync(join(qemu, 'scripts/qapi/schema.py'))) {
  console.error('QEMU 7.2 source missing: run `bash scripts/setup.sh --test`');
  process.exit(2);
}
if (!existsSync(join(root, 'dist/src/cli/main.js'))) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}

const bundled = writeCheckBundle(join(root, 'dist'));

const TIME = '/usr/bin/time';
const haveTime = existsSync(TIME);

const contenders = {
  memfail: [process.execPath, join(root, 'bin/memfail.js'), 'schema', 'check', schema],
  python: [python, join(root, 'bench/qapi_check.py'), join(qemu, 'scripts'), schema],
  // Not contenders: the floors, each runtime starting and exiting with nothing to do.
  'node -e 0': [process.execPath, '-e', '0'],
  'python -c pass': [python, '-c', 'pass'],
};
const ORDER = Object.keys(contenders);

/** One run: wall time in ms, CPU time (user + system, all threads) in ms, peak RSS in KiB. */
function runOnce(argv) {
  const cmd = haveTime ? [TIME, '-f', '%M %U %S', ...argv] : argv;
  const start = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  if (!haveTime) return { ms, cpuMs: Number.NaN, rssKiB: r.resourceUsage?.maxRSS ?? Number.NaN };
  const [rss, user, sys] = (r.stderr.trim().split('\n').at(-1) ?? '').split(' ').map(Number);
  return { ms, cpuMs: (user + sys) * 1000, rssKiB: rss };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// One warm-up each (page cache, pyc files), then alternate so load affects both alike.
for (const name of ORDER) runOnce(contenders[name]);
const samples = Object.fromEntries(ORDER.map((name) => [name, []]));
for (let i = 0; i < runs; i++) {
  for (const name of i % 2 ? [...ORDER].reverse() : ORDER) {
    samples[name].push(runOnce(contenders[name]));
  }
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, xs]) => [
    name,
    {
      medianMs: median(xs.map((x) => x.ms)),
      medianCpuMs: median(xs.map((x) => x.cpuMs)),
      peakRssKiB: Math.max(...xs.map((x) => x.rssKiB)),
    },
  ]),
);
const ratio = summary.python.medianMs / summary.memfail.medianMs;
console.log(`schema: ${schema}`);
console.log(`memfail: node ${process.version}, check path bundled from ${bundled} modules`);
console.log(`python: ${pythonVersion(python)} (${python})`);
console.log(`environment: ${inheritEnv ? 'inherited' : 'fresh login (PATH, HOME, LANG only)'}`);
console.log(
  `runs: ${runs} each, alternating; RSS via ${haveTime ? '/usr/bin/time -f %M' : 'resourceUsage().maxRSS'}`,
);
console.log('| contender | median wall (ms) | median CPU (ms) | peak RSS (MiB) |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, s] of Object.entries(summary)) {
  const cpu = Number.isNaN(s.medianCpuMs) ? 'n/a' : s.medianCpuMs.toFixed(0);
  console.log(
    `| ${name} | ${s.medianMs.toFixed(1)} | ${cpu} | ${(s.peakRssKiB / 1024).toFixed(1)} |`,
  );
}
console.log(`speed-up, wall (python / memfail median): ${ratio.toFixed(2)}x`);
console.log(
  `speed-up, CPU: ${(summary.python.medianCpuMs / summary.memfail.medianCpuMs).toFixed(2)}x`,
);
// What each spends above its runtime's bare start: the part a program controls.
const work = (name, floor) => summary[name].medianMs - summary[floor].medianMs;
console.log(
  `speed-up, wall above each runtime's bare start: ${(work('python', 'python -c pass') / work('memfail', 'node -e 0')).toFixed(2)}x ` +
    `(${work('python', 'python -c pass').toFixed(0)} ms vs ${work('memfail', 'node -e 0').toFixed(0)} ms)`,
);
