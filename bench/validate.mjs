// MEMORY_FAILURE validation cost: JSON.parse of QMP event messages (the
// floor) vs JSON.parse + the generated validator, and + the interpreted
// validator built from introspection, in alternating rounds; medians.
//
//   node bench/validate.mjs [--events N] [--rounds R]
//
// Needs a build (npx tsc -p tsconfig.json).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const events = opt('--events', 200_000);
const rounds = opt('--rounds', 7);

const generatedPath = join(root, 'dist/src/generated/qemu/validators.js');
if (!existsSync(generatedPath)) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}
const { validateEvent } = await import(generatedPath);
const { schemaInfo } = await import(join(root, 'dist/src/generated/qemu/introspection.js'));
const { validatorFromIntrospection } = await import(
  join(root, 'dist/src/codegen/from-introspection.js')
);
const interpreted = validatorFromIntrospection(schemaInfo);

// The four outcomes QEMU 7.2 can report, as it frames them on the wire.
const outcomes = [
  ['hypervisor', 'ignore', false, false],
  ['hypervisor', 'fatal', true, false],
  ['guest', 'inject', true, false],
  ['guest', 'reset', true, true],
];
const lines = outcomes.map(([recipient, action, ar, rec], i) =>
  JSON.stringify({
    event: 'MEMORY_FAILURE',
    data: { recipient, action, flags: { 'action-required': ar, recursive: rec } },
    timestamp: { seconds: 1767225600 + i, microseconds: 123456 },
  }),
);
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0) / lines.length;

let sink = 0;
const contenders = {
  'JSON.parse': () => {
    for (let i = 0; i < events; i++) sink += JSON.parse(lines[i & 3]).timestamp.microseconds;
  },
  'JSON.parse + generated validateEvent': () => {
    for (let i = 0; i < events; i++) {
      const msg = JSON.parse(lines[i & 3]);
      const r = validateEvent(msg.event, msg.data);
      if (!r.ok) throw new Error(r.message);
      sink += msg.timestamp.microseconds;
    }
  },
  'JSON.parse + interpreted (from introspection)': () => {
    for (let i = 0; i < events; i++) {
      const msg = JSON.parse(lines[i & 3]);
      const r = interpreted.validateEvent(msg.event, msg.data);
      if (!r.ok) throw new Error(r.message);
      sink += msg.timestamp.microseconds;
    }
  },
};

const times = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
for (const run of Object.values(contenders)) run(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(contenders)) {
    const t0 = performance.now();
    run();
    times[name].push(performance.now() - t0);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = median(times['JSON.parse']);
console.log(
  `MEMORY_FAILURE messages: ${events} per round, ${rounds} rounds, ~${Math.round(bytes)} bytes each`,
);
console.log(`node ${process.version}; median per round\n`);
console.log('| contender | events/s | ms/round | vs JSON.parse |');
console.log('| --- | ---: | ---: | ---: |');
for (const name of Object.keys(contenders)) {
  const ms = median(times[name]);
  const rate = Math.round((events / ms) * 1000).toLocaleString('en-US');
  console.log(`| ${name} | ${rate} | ${ms.toFixed(1)} | ${(ms / floor).toFixed(2)}x |`);
}
if (sink === 0) console.log('');
