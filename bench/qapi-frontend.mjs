// Stage-1 benchmark: our parser + expression checks against QEMU 7.2's
// parser.py + expr.py on the same schema, each timed inside a fresh (cold)
// process so start-up is excluded and JIT warm-up is included.
//
//   node bench/qapi-frontend.mjs [--runs N] [SCHEMA]
//
// Needs a build (npx tsc -p tsconfig.json) and the fetched QEMU source.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPython } from './python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const qemu = join(root, '.cache/qemu-src/qemu-7.2.0');
const python = peerPython();
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 11;
const schema = args[0] ?? join(qemu, 'qapi/qapi-schema.json');

if (!existsSync(schema) || !existsSync(join(qemu, 'scripts/qapi/parser.py'))) {
  console.error('QEMU 7.2 source missing: run `bash scripts/setup.sh --test`');
  process.exit(2);
}
const ours = join(root, 'dist/src/qapi/parser.js');
if (!existsSync(ours)) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}

const nodeProbe = `
const { parseSchema } = await import(${JSON.stringify(ours)});
const { checkExprs } = await import(${JSON.stringify(join(root, 'dist/src/qapi/expr.js'))});
const t0 = performance.now();
const parsed = parseSchema(process.argv[1]);
const t1 = performance.now();
checkExprs(parsed.exprs);
const t2 = performance.now();
console.log(JSON.stringify({ parseMs: t1 - t0, checkMs: t2 - t1 }));
`;

const contenders = {
  memfail: [
    process.execPath,
    ...(process.env.NODE_FLAGS ? process.env.NODE_FLAGS.split(' ') : []),
    '--input-type=module',
    '-e',
    nodeProbe,
    schema,
  ],
  python: [python, join(root, 'bench/qapi_frontend.py'), join(qemu, 'scripts'), schema],
};

function runOnce(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv[0]} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const samples = { memfail: [], python: [] };
for (let i = 0; i < runs; i++) {
  // Alternate so that machine load affects both alike.
  for (const name of i % 2 ? ['python', 'memfail'] : ['memfail', 'python']) {
    samples[name].push(runOnce(contenders[name]));
  }
}

console.log(`schema: ${schema}; ${runs} cold runs each, alternating`);
console.log('| contender | parse (ms) | expr checks (ms) | total (ms) |');
console.log('| --- | ---: | ---: | ---: |');
const totals = {};
for (const [name, xs] of Object.entries(samples)) {
  const parse = median(xs.map((x) => x.parseMs));
  const check = median(xs.map((x) => x.checkMs));
  totals[name] = median(xs.map((x) => x.parseMs + x.checkMs));
  console.log(
    `| ${name} | ${parse.toFixed(1)} | ${check.toFixed(1)} | ${totals[name].toFixed(1)} |`,
  );
}
console.log(
  `speed-up (python / memfail, median total): ${(totals.python / totals.memfail).toFixed(2)}x`,
);
