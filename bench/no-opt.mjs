// Is `--no-opt` (no TurboFan) worth setting at the CLI entry for the schema
// commands? The same compiled check of QEMU 7.2's schema, in fresh processes,
// with and without the flag on node's command line, in alternating runs;
// medians of wall and CPU time.
//
//   npm run build && node bench/no-opt.mjs [--runs N] [SCHEMA]
//
// Both contenders import dist/src/cli/schema-check.js and run
// fastSchemaCheck([SCHEMA]): only the flag differs (no bin/ start-up path).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { haveTime, timed } from './timed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 15;
const schema = args[0] ?? join(root, '.cache/qemu-src/qemu-7.2.0/qapi/qapi-schema.json');
const check = join(root, 'dist/src/cli/schema-check.js');
if (!existsSync(schema) || !existsSync(check)) {
  console.error('needs a build (npm run build) and QEMU 7.2 source (bash scripts/setup.sh --test)');
  process.exit(2);
}

const script =
  `const { fastSchemaCheck } = await import(${JSON.stringify(pathToFileURL(check).href)});` +
  `process.exitCode = fastSchemaCheck([${JSON.stringify(schema)}]);`;
const contenders = {
  'with --no-opt': [process.execPath, '--no-opt', '--input-type=module', '-e', script],
  'TurboFan on': [process.execPath, '--input-type=module', '-e', script],
};
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
const results = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
for (const argv of Object.values(contenders)) await timed(argv, env); // warm-up
for (let i = 0; i < runs; i++) {
  const order = Object.keys(contenders);
  if (i % 2) order.reverse();
  for (const name of order) results[name].push(await timed(contenders[name], env));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`${runs} runs each, alternating; ${schema}`);
console.log('| contender | median wall (ms) | median CPU (ms) |');
console.log('| --- | ---: | ---: |');
const row = {};
for (const [name, rs] of Object.entries(results)) {
  row[name] = { wall: median(rs.map((r) => r.ms)), cpu: median(rs.map((r) => r.cpuMs)) };
  const cpu = haveTime ? row[name].cpu.toFixed(0) : 'n/a';
  console.log(`| ${name} | ${row[name].wall.toFixed(1)} | ${cpu} |`);
}
const a = row['with --no-opt'];
const b = row['TurboFan on'];
console.log(
  `TurboFan on / --no-opt: ${(b.wall / a.wall).toFixed(2)}x wall, ${(b.cpu / a.cpu).toFixed(2)}x CPU`,
);
