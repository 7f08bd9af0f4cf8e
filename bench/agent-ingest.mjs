// Ingest benchmark: COUNT MEMORY_FAILURE events from one fast QMP endpoint,
//   memfail:         `memfail watch vm=SOCK --db DB --once` — validates, maps to
//                    the canonical model and durably commits every event
//                    (SQLite, WAL), then exits when the endpoint hangs up;
//   memfail-receive: memfail's QmpClient merely receiving them (reference: the
//                    floor the agent stands on, bench/agent-receive.mjs);
//   floor:           a node script that only counts the lines (reference:
//                    reading the stream at all, bench/agent-floor.mjs);
//   python:          QEMU 7.2's own client (python/qemu/qmp) merely receiving them.
// Wall and CPU time from spawn to exit (/usr/bin/time), alternating runs,
// fresh database each run; every memfail run is checked for all COUNT rows,
// then its database deleted and `sync` run (untimed), so that no run pays
// for the write-back of the one before.
//
//   node bench/agent-ingest.mjs [--events N] [--runs R] [--durability normal|full] [--python PATH] [--baseline DIR]
//
// --baseline DIR: also run another built checkout's `memfail watch --once`
// (contender "baseline"), alternating with this one: a change against the
// code before it, in the same run.
//
// Needs a build (npx tsc -p tsconfig.json) and the fetched QEMU source.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { BASE_SECONDS, eventStream, serveEvents } from './agent-emitter.mjs';
import { peerPython, pythonVersion } from './python.mjs';
import { timed as run } from './timed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pythonPath = join(root, '.cache/qemu-src/qemu-7.2.0/python');
const python = peerPython();
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
const lines = stream.toString().split('\r\n');
const emitter = serveEvents(stream);
await emitter.listen(sock);

function checkReceived(r, who) {
  const got = Number(r.out.trim());
  if (got !== count) throw new Error(`${who} received ${got}, not ${count}`);
  return r;
}

const baseline = flag('--baseline', undefined);

/** `memfail watch --once` of the checkout at `tree`, checked for every row and raw message. */
async function watchOnce(tree, i) {
  {
    const db = join(dir, `run${i}-${tree === root ? 'this' : 'baseline'}.db`);
    const r = await run([
      process.execPath,
      join(tree, 'bin/memfail.js'),
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
        'SELECT count(*) AS n, count(DISTINCT ts_seconds * 1000000 + ts_micros) AS uniq FROM memory_failure WHERE valid = 1',
      )
      .get();
    // The raw message is the line as sent, byte for byte (first, middle, last event).
    const rawOf = conn
      .prepare('SELECT raw FROM memory_failure WHERE ts_seconds = ? AND ts_micros = ?')
      .pluck();
    const sent = (i) => [BASE_SECONDS + Math.floor(i / 1_000_000), i % 1_000_000];
    const wrong = [0, count >> 1, count - 1].filter((i) => rawOf.get(...sent(i)) !== lines[i]);
    conn.close();
    // The next run must not pay for this one's writes: drop the database and
    // let the kernel write back what it still holds, outside any timing.
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    execFileSync('sync');
    if (n !== count || uniq !== count) {
      throw new Error(`memfail recorded ${n} rows (${uniq} distinct), not ${count}`);
    }
    if (wrong.length > 0)
      throw new Error(`raw message of event(s) ${wrong} differs from the line sent`);
    return r;
  }
}

const contenders = {
  memfail: (i) => watchOnce(root, i),
  ...(baseline === undefined ? {} : { baseline: (i) => watchOnce(baseline, i) }),
  async 'memfail-receive'() {
    const argv = [process.execPath, join(root, 'bench/agent-receive.mjs'), sock, String(count)];
    return checkReceived(await run(argv), 'QmpClient');
  },
  async floor() {
    const argv = [process.execPath, join(root, 'bench/agent-floor.mjs'), sock, String(count)];
    return checkReceived(await run(argv), 'floor');
  },
  async python() {
    const argv = [python, join(root, 'bench/agent_receive.py'), sock, String(count)];
    return checkReceived(await run(argv, { PYTHONPATH: pythonPath }), 'qemu.qmp');
  },
};

const samples = {
  memfail: [],
  ...(baseline === undefined ? {} : { baseline: [] }),
  'memfail-receive': [],
  floor: [],
  python: [],
};
const order = Object.keys(samples);
try {
  for (let i = 0; i < runs; i++) {
    for (const name of i % 2 ? [...order].reverse() : order) {
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
const med = (name, key) => median(samples[name].map((x) => x[key]));
const what = {
  memfail: 'watch --once: validate, canonicalise, commit to SQLite',
  baseline: `the same, by ${baseline}`,
  'memfail-receive': 'memfail QmpClient: receive only (reference)',
  floor: 'node: connect, negotiate, count lines (reference)',
  python: 'qemu.qmp QMPClient: receive only',
};
console.log(
  `events: ${count} per run; runs: ${runs} each, alternating; memfail durability: ${durability}; ` +
    `node ${process.version}, ${pythonVersion(python)} (${python})`,
);
console.log(
  '| contender | what it does | median wall (ms) | median CPU (ms) | events/s (wall) | peak RSS (MiB) |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const name of order) {
  const ms = med(name, 'ms');
  const rss = Math.max(...samples[name].map((x) => x.rssKiB)) / 1024;
  console.log(
    `| ${name} | ${what[name]} | ${ms.toFixed(0)} | ${med(name, 'cpuMs').toFixed(0)} | ${Math.round(count / (ms / 1000))} | ${rss.toFixed(1)} |`,
  );
}
console.log(
  `all ${count} rows present in every memfail database, raw messages as sent (checked after each run)`,
);
console.log(
  `speed-up, python / memfail: ${(med('python', 'ms') / med('memfail', 'ms')).toFixed(2)}x wall, ` +
    `${(med('python', 'cpuMs') / med('memfail', 'cpuMs')).toFixed(2)}x CPU`,
);
if (baseline !== undefined) {
  console.log(
    `this / baseline: ${(med('memfail', 'ms') / med('baseline', 'ms')).toFixed(3)} wall, ` +
      `${(med('memfail', 'cpuMs') / med('baseline', 'cpuMs')).toFixed(3)} CPU; ` +
      `python / baseline: ${(med('python', 'ms') / med('baseline', 'ms')).toFixed(2)}x wall`,
  );
}
