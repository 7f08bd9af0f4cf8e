// The dashboard's overview on a large store: each overview API call (timed on
// the server) against two full-table scans of the same store in the same run,
// and the page's transfer size. The store is generated straight into SQLite
// (bench/web-store.ts); it is one host, so --vms spreads the failures over VMs.
//
//   node bench/web-overview.mjs [--failures 1000000] [--vms 10000] [--days 30] [--repeat 3]
//
// Needs `npm run build` (imports dist/).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureOverview } from '../dist/bench/web-scale.js';
import { buildScaleStore } from '../dist/bench/web-store.js';

const { values } = parseArgs({
  options: {
    failures: { type: 'string', default: '1000000' },
    vms: { type: 'string', default: '10000' },
    days: { type: 'string', default: '30' },
    repeat: { type: 'string', default: '3' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-web-'));
try {
  const db = join(dir, 'scale.db');
  let start = performance.now();
  buildScaleStore(db, Number(values.failures), Number(values.vms), Number(values.days));
  const buildMs = performance.now() - start;
  const mib = statSync(db).size / 2 ** 20;
  console.log(
    `store: ${values.failures} failures, ${values.vms} VMs, ${values.days} days, ${mib.toFixed(0)} MiB, built in ${(buildMs / 1000).toFixed(1)} s`,
  );
  start = performance.now();
  const cost = await measureOverview(db, Number(values.repeat));
  console.log(
    `full read of the table (every row's stored columns): ${cost.rowScanMs.toFixed(0)} ms`,
  );
  console.log(
    `count over the table, no index (SQLite alone):        ${cost.countScanMs.toFixed(0)} ms`,
  );
  console.log('| call (range 24h) | server ms | of full read | of count scan | bytes |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const c of cost.calls) {
    console.log(
      `| ${c.path} | ${c.serverMs.toFixed(1)} | ${((100 * c.serverMs) / cost.rowScanMs).toFixed(2)}% | ${((100 * c.serverMs) / cost.countScanMs).toFixed(0)}% | ${c.bytes} |`,
    );
  }
  console.log(`overview page with its data: ${cost.pageBytes} bytes`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
