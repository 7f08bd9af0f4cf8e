// Ingest benchmark: COUNT MEMORY_FAILURE events from one fast QMP endpoint,
//   memfail: `memfail watch vm=SOCK --db DB --once` — validates, maps to the
//            canonical model and durably commits every event (SQLite, WAL);
//   python:  QEMU 7.2's own client (python/qemu/qmp) merely receiving them.
// Wall time from spawn to exit, alternating runs, fresh database each run.
//
//   node bench/agent-ingest.mjs [--events N] [--runs R] [--durability normal|full]
//
// Needs a build (npx tsc -p tsconfig.json) and the fetched QEMU source.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { eventStream, serveEvents } from './agent-emitter.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pythonPath = join(root, '.cache/qemu-src/qemu-7.2.0/python');
const flag = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const count = Number(flag('--events', 200_000));
const runs = Number(flag('--runs', 3));
const durability = flag('--durability', 'normal');

if (!existsSync(join(pythonPath, 'qemu/qmp/qmp_client.py'))) {
  console.error('QEMU 7.2 source missing: run `bash scripts/setup.sh --test`');
  process.exit(2);
}
if (!existsSync(join(root, 'dist/src/cli/main.js'))) {
  console.error('no build: run `npx tsc -p tsconfig.json`');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-ingest-'));
const sock = join(dir, 'vm.qmp');
const stream = eventStream(count);
const emitter = serveEvents(stream);
await emitter.listen(sock);

function run(argv, env = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => {
      const ms = performance.now() - start;
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      else resolve({ ms, out });
    });
  });
}

const contenders = {
  async memfail(i) {
    const db = join(dir, `run${i}.db`);
    const { ms } = await run([
      process.execPath,
      join(root, 'bin/memfail.js'),
      'watch',
      `vm=unix:${sock}`,
      '--db',
      db,
      '--once',
      '-q',
      '--durability',
      durability,
    ]);
    const conn = new Database(db, { readonly: true });
    const { n, uniq } = conn
      .prepare(
        'SELECT count(*) AS n, count(DISTINCT ts_seconds * 1000000 + ts_micros) AS uniq FROM memory_failure',
      )
      .get();
    conn.close();
    if (n !== count || uniq !== count)
      throw new Error(`memfail recorded ${n} rows (${uniq} distinct), not ${count}`);
    return { ms, got: n };
  },
  async python() {
    const { ms, out } = await run(
      ['python3', join(root, 'bench/agent_receive.py'), sock, String(count)],
      {
        PYTHONPATH: pythonPath,
      },
    );
    const got = Number(out.trim());
    if (got !== count) throw new Error(`qemu.qmp received ${got}, not ${count}`);
    return { ms, got };
  },
};

const samples = { memfail: [], python: [] };
try {
  for (let i = 0; i < runs; i++) {
    for (const name of i % 2 ? ['python', 'memfail'] : ['memfail', 'python']) {
      samples[name].push(await contenders[name](i));
    }
  }
} finally {
  await emitter.close();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log(
  `events: ${count} per run; runs: ${runs} each, alternating; memfail durability: ${durability}`,
);
console.log('| contender | what it does | median wall (ms) | events/s | all present |');
console.log('| --- | --- | ---: | ---: | --- |');
const what = {
  memfail: 'watch --once: validate, canonicalise, commit to SQLite',
  python: 'qemu.qmp QMPClient: receive only',
};
for (const [name, xs] of Object.entries(samples)) {
  const ms = median(xs.map((x) => x.ms));
  console.log(
    `| ${name} | ${what[name]} | ${ms.toFixed(0)} | ${Math.round(count / (ms / 1000))} | yes (${count}) |`,
  );
}
const ratio = median(samples.python.map((x) => x.ms)) / median(samples.memfail.map((x) => x.ms));
console.log(`speed-up (python / memfail median): ${ratio.toFixed(2)}x`);
