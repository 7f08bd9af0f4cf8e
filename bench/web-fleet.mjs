// The dashboard's overview over the fleet database (`memfail serve --pg`):
// each overview API call (timed on the server) against a full read of the
// memory_failure table in the same run, the page's transfer size, and
// `hosts --pg` with every host's health. A private PostgreSQL 15 is started
// in a temporary directory and filled by INSERT … SELECT (bench/web-fleet.ts).
//
//   node bench/web-fleet.mjs [--failures 1000000] [--hosts 10000] [--vms 5] [--days 30] [--repeat 3] [--arrivals 100]
//
// --arrivals: new failures stored (collector's statements) before each timed call.
//
// Needs `npm run build` (imports dist/).
import { parseArgs } from 'node:util';
import { buildFleetDb, measureFleetOverview } from '../dist/bench/web-fleet.js';
import { openPg } from '../dist/src/fleet/pg.js';
import { startPostgres } from '../dist/src/fleet/services.js';

const { values } = parseArgs({
  options: {
    failures: { type: 'string', default: '1000000' },
    hosts: { type: 'string', default: '10000' },
    vms: { type: 'string', default: '5' },
    days: { type: 'string', default: '30' },
    repeat: { type: 'string', default: '3' },
    arrivals: { type: 'string', default: '100' },
  },
});
const pg = await startPostgres(['fsync=off', 'shared_buffers=256MB']);
const sql = openPg(pg.url, 4);
try {
  let start = performance.now();
  await buildFleetDb(
    sql,
    Number(values.failures),
    Number(values.hosts),
    Number(values.vms),
    Number(values.days),
  );
  console.log(
    `fleet database: ${values.failures} failures, ${values.hosts} hosts × ${values.vms} VMs, ${values.days} days, built in ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
  start = performance.now();
  const cost = await measureFleetOverview(sql, Number(values.repeat), {
    hosts: Number(values.hosts),
    vmsPerHost: Number(values.vms),
    arrivals: Number(values.arrivals),
  });
  console.log(`full read of memory_failure: ${cost.rowScanMs.toFixed(0)} ms`);
  for (const c of cost.calls) {
    const pct = ((100 * c.serverMs) / cost.rowScanMs).toFixed(2);
    console.log(
      `  ${c.path.padEnd(36)} ${c.serverMs.toFixed(1).padStart(8)} ms  ${pct.padStart(6)}% of the full read  ${c.bytes} B`,
    );
  }
  console.log(
    `first judging of every host (serve --pg does it once, at start): ${cost.coldJudgingMs.toFixed(0)} ms, ${((100 * cost.coldJudgingMs) / cost.rowScanMs).toFixed(2)}% of the full read`,
  );
  console.log(`new failures stored before each timed call: ${cost.arrivals}`);
  console.log(`overview page with its API answers: ${(cost.pageBytes / 1000).toFixed(1)} kB`);
  console.log(
    `hosts --pg (${cost.hosts} hosts, each judged by the built-in policy): ${cost.hostsMs.toFixed(0)} ms`,
  );
} finally {
  await sql.end();
  await pg.dispose();
}
