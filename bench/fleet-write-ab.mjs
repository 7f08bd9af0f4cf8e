// What a change to the collector's write statement costs: 100,000 failure
// records stored through storeRecords() (the collector's own statements, one
// transaction per batch) by this build and by another build of memfail,
// alternating, into the same private PostgreSQL 15 (default settings: fsync
// on), tables truncated before each; medians compared.
//
//   git archive COMMIT | tar -x -C /tmp/old && ln -s "$PWD/node_modules" /tmp/old/ && (cd /tmp/old && npx tsc -p .)
//   npm run build && node bench/fleet-write-ab.mjs --old /tmp/old [--batch 1000] [--rounds 6]
//
// The schema is this build's (migratePg); an older statement leaves newer tables alone.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { contentCode } from '../dist/src/agent/store-rows.js';
import { storeRecords as storeNew } from '../dist/src/fleet/collector.js';
import { openPg } from '../dist/src/fleet/pg.js';
import { migratePg } from '../dist/src/fleet/pg-schema.js';
import { startPostgres } from '../dist/src/fleet/services.js';

const { values } = parseArgs({
  options: {
    old: { type: 'string' },
    batch: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '6' },
    records: { type: 'string', default: '100000' },
  },
});
if (values.old === undefined) throw new Error('--old DIR: a built checkout of the other memfail');
const { storeRecords: storeOld } = await import(
  join(resolve(values.old), 'dist/src/fleet/collector.js')
);
const N = Number(values.records);
const B = Number(values.batch);
const HOSTS = 4;
const raw = JSON.stringify({
  event: 'MEMORY_FAILURE',
  data: {
    recipient: 'guest',
    action: 'inject',
    flags: { 'action-required': false, recursive: false },
  },
  timestamp: { seconds: 1764000000, microseconds: 1 },
});

function records(round) {
  const out = [];
  for (let i = 0; i < N; i++) {
    const t = 1764000000000000 + i * 1000;
    out.push({
      memfail: 1,
      kind: 'failure',
      host: `h${i % HOSTS}`,
      vm: `vm${i % 7}`,
      content: contentCode({
        recipient: 'guest',
        action: 'inject',
        actionRequired: i % 3 === 0,
        recursive: false,
      }),
      tsSeconds: Math.floor(t / 1e6),
      tsMicros: t % 1e6,
      receivedUs: t,
      dialect: 'qemu',
      raw,
      error: null,
      dedup: `r${round}`,
    });
  }
  return out;
}

const pg = await startPostgres([]);
const sql = openPg(pg.url, 2);
try {
  await migratePg(sql);
  const ms = { this: [], old: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = r % 2 ? ['old', 'this'] : ['this', 'old'];
    for (const who of order) {
      const store = who === 'this' ? storeNew : storeOld;
      await sql.unsafe('TRUNCATE memory_failure, vm_summary');
      await sql.unsafe('TRUNCATE host_summary').catch(() => {});
      const rs = records(r);
      const start = performance.now();
      for (let i = 0; i < N; i += B) await store(sql, rs.slice(i, i + B));
      ms[who].push(performance.now() - start);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const who of ['this', 'old']) {
    console.log(
      `${who.padEnd(4)} ${N} records in batches of ${B}: ${ms[who].map((x) => x.toFixed(0)).join(' ')} ms, median ${median(ms[who]).toFixed(0)}`,
    );
  }
  console.log(`this / old: ${(median(ms.this) / median(ms.old)).toFixed(3)}`);
} finally {
  await sql.end();
  await pg.dispose();
}
