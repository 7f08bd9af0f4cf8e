// Peak memory of `memfail schema check|introspect|gen` on a large generated
// schema, side by side with QEMU 7.2's own Python front end doing the same
// work on the same file: `check` against building QAPISchema
// (bench/qapi_check.py), `introspect` against its introspection generator
// (bench/qapi_introspect.py, writing qapi-introspect.c), `gen` against
// scripts/qapi-gen.py writing all of QEMU's C (types, visitors, commands,
// events, introspection). Peak RSS by /usr/bin/time -f %M, one run each
// (memory does not vary run to run the way time does); `node -e 0` and
// `python -c pass` give each runtime's floor.
//
//   npm run build && node bench/schema-memory.mjs [--mb 30] [--before DIR] [--python-gen] [--skip-python] [--python PATH]
//
// QEMU's qapi-gen.py is left out unless --python-gen: its output grows by
// string concatenation on attributes (quadratic in CPython): 53 s for a
// 2 MB schema here, hours for 30 MB. --skip-python runs memfail alone (the
// Python check and introspection of 30 MB take minutes).
// --before DIR adds an older memfail build (a checkout of it with `npm run
// build` done) as a contender on the same file. The schema comes from
// test/qapi/large-schema.ts (dist/test/qapi/large-schema.js): documented
// enums, structs, unions, alternates, commands and events, as QEMU writes
// them; both front ends accept it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPython, pythonVersion } from './python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const qemu = join(root, '.cache/qemu-src/qemu-7.2.0');
const python = peerPython();
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const mb = Number(option('--mb', '30'));
const before = option('--before', null);
const pythonGenAt = args.indexOf('--python-gen');
const pythonGen = pythonGenAt >= 0;
if (pythonGen) args.splice(pythonGenAt, 1);
const skipAt = args.indexOf('--skip-python');
const skipPython = skipAt >= 0;
if (skipPython) args.splice(skipAt, 1);

const TIME = '/usr/bin/time';
if (!existsSync(TIME)) {
  console.error('needs /usr/bin/time (Debian package time)');
  process.exit(2);
}
if (!existsSync(join(qemu, 'scripts/qapi-gen.py'))) {
  console.error('QEMU 7.2 source missing: run `bash scripts/setup.sh --test`');
  process.exit(2);
}
const generator = join(root, 'dist/test/qapi/large-schema.js');
if (!existsSync(generator)) {
  console.error('no build: run `npm run build`');
  process.exit(2);
}
const { writeLargeSchema } = await import(generator);

const work = mkdtempSync(join(tmpdir(), 'memfail-schema-memory-'));
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/',
  LANG: 'C.UTF-8',
};

/** One run: wall seconds and peak RSS in MiB; fails loudly if the command does. */
function measure(argv) {
  const start = performance.now();
  const r = spawnSync(TIME, ['-f', '%M', ...argv], { encoding: 'utf8', env, maxBuffer: 1 << 30 });
  const s = (performance.now() - start) / 1000;
  if (r.status !== 0)
    throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rss = Number(r.stderr.trim().split('\n').at(-1)) / 1024;
  return { s, rss };
}

try {
  const schema = writeLargeSchema(work, mb * 1e6);
  const bytes = statSync(schema).size;
  const out = (name) => join(work, name);
  const memfail = (bin, name) => ({
    check: [process.execPath, bin, 'schema', 'check', schema],
    introspect: [process.execPath, bin, 'schema', 'introspect', schema],
    gen: [process.execPath, bin, 'schema', 'gen', schema, '-o', out(`${name}-gen`)],
  });
  const contenders = {
    memfail: memfail(join(root, 'bin/memfail.js'), 'memfail'),
    ...(before ? { 'memfail (before)': memfail(join(before, 'bin/memfail.js'), 'before') } : {}),
    python: {
      check: [python, join(root, 'bench/qapi_check.py'), join(qemu, 'scripts'), schema],
      introspect: [
        python,
        join(root, 'bench/qapi_introspect.py'),
        join(qemu, 'scripts'),
        schema,
        work,
      ],
      gen: [python, join(qemu, 'scripts/qapi-gen.py'), '-o', out('python-gen'), schema],
    },
  };
  const floors = {
    node: measure([process.execPath, '-e', '0']).rss,
    python: measure([python, '-c', 'pass']).rss,
  };
  const floorOf = (name) => (name === 'python' ? floors.python : floors.node);
  const results = {};
  for (const command of ['check', 'introspect', 'gen']) {
    for (const [name, argv] of Object.entries(contenders)) {
      if (name === 'python' && (skipPython || (command === 'gen' && !pythonGen))) continue;
      results[`${name} ${command}`] = measure(argv[command]);
      process.stderr.write(
        `${name} ${command}: ${results[`${name} ${command}`].rss.toFixed(0)} MiB\n`,
      );
    }
  }
  const mib = bytes / (1 << 20);
  console.log(`schema: generated, ${bytes} bytes (${mib.toFixed(1)} MiB), one file`);
  console.log(`memfail: node ${process.version}; python: ${pythonVersion(python)} (${python})`);
  console.log(
    `floors (peak RSS): node -e 0 ${floors.node.toFixed(1)} MiB, python -c pass ${floors.python.toFixed(1)} MiB`,
  );
  console.log(
    '| command | contender | wall (s) | peak RSS (MiB) | above floor (MiB) | above floor / schema size |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const command of ['check', 'introspect', 'gen']) {
    for (const name of Object.keys(contenders)) {
      const r = results[`${name} ${command}`];
      if (!r) continue;
      const above = r.rss - floorOf(name);
      console.log(
        `| ${command} | ${name} | ${r.s.toFixed(1)} | ${r.rss.toFixed(0)} | ${above.toFixed(0)} | ${(above / mib).toFixed(1)}x |`,
      );
    }
  }
  for (const command of ['check', 'introspect', 'gen']) {
    const ours = results[`memfail ${command}`].rss;
    const theirs = results[`python ${command}`]?.rss;
    const vsPython = theirs
      ? `python / memfail peak RSS ${(theirs / ours).toFixed(2)}x`
      : 'python not run';
    const was = before
      ? `; memfail before / now ${(results[`memfail (before) ${command}`].rss / ours).toFixed(2)}x`
      : '';
    console.log(`${command}: ${vsPython}${was}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
