// What loading `memfail schema check`'s code costs, three ways, each in fresh
// processes, alternating; medians of the time from start to loaded:
//
//   modules   dist/src/cli/schema-check.js and its ~20 modules
//   bundle    dist/src/check-bundle.mjs after bin's freshness check by size
//             and mtime (a build in place)
//   hashed    the bundle after the check by size and SHA-256, the path an npm
//             install takes (npm sets every mtime to 1985)
//
//   npm run build && node bench/check-load.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = `${join(root, 'dist')}/`;
const at = process.argv.indexOf('--runs');
const runs = at >= 0 ? Number(process.argv[at + 1]) : 21;

const url = (path) => JSON.stringify(pathToFileURL(dist + path).href);
const manifest = `JSON.parse(readFileSync(${JSON.stringify(`${dist}src/check-bundle.json`)}, 'utf8')).inputs`;
const scripts = {
  modules: `await import(${url('src/cli/schema-check.js')});`,
  bundle:
    `const { readFileSync, statSync } = await import('node:fs');` +
    `for (const [f, size, mtimeMs] of ${manifest}) { const st = statSync(${JSON.stringify(dist)} + f); if (st.size !== size || st.mtimeMs !== mtimeMs) throw new Error('stale: ' + f); }` +
    `await import(${url('src/check-bundle.mjs')});`,
  hashed:
    `const { readFileSync, statSync } = await import('node:fs');` +
    `const { createHash } = await import('node:crypto');` +
    `for (const [f, size, , sha] of ${manifest}) { const b = readFileSync(${JSON.stringify(dist)} + f); if (b.length !== size || createHash('sha256').update(b).digest('hex') !== sha) throw new Error('stale: ' + f); }` +
    `await import(${url('src/check-bundle.mjs')});`,
};
const timed = (body) =>
  `const t0 = performance.now(); ${body} process.stdout.write(String(performance.now() - t0));`;

const times = Object.fromEntries(Object.keys(scripts).map((k) => [k, []]));
const order = Object.keys(scripts);
for (let i = -1; i < runs; i++) {
  for (const name of i % 2 ? order : [...order].reverse()) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', timed(scripts[name])], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
    if (i >= 0) times[name].push(Number(r.stdout)); // i = -1: warm-up
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${runs} fresh processes each, alternating; time to load the check`);
console.log('| way | median (ms) |\n| --- | ---: |');
for (const [name, xs] of Object.entries(times))
  console.log(`| ${name} | ${median(xs).toFixed(1)} |`);
console.log(
  `modules / hashed: ${(median(times.modules) / median(times.hashed)).toFixed(2)}x; ` +
    `hashed / bundle: ${(median(times.hashed) / median(times.bundle)).toFixed(2)}x`,
);
