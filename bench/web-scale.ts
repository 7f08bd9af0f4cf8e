/**
 * What the dashboard's overview costs on a large store, measured in one run
 * beside two full-table scans of the same store: reading every row's stored
 * columns (what any listing of the table does), and SQLite's own
 * count over the table (the cheapest scan there is). Each overview API call
 * is timed on the server (ServeOptions.onTiming), after one warm-up call.
 */
import Database from 'better-sqlite3';
import { type ServeOptions, startDashboard } from '../src/web/server.js';
import { SqliteSource } from '../src/web/sqlite-source.js';

export const OVERVIEW_CALLS = [
  '/api/hosts',
  '/api/series?range=24h',
  '/api/top/hosts?range=24h&limit=10',
  '/api/top/vms?range=24h&limit=10',
] as const;

/** One overview call: server-side time (best of the repeats) and response size. */
export interface OverviewCall {
  readonly path: string;
  readonly serverMs: number;
  readonly bytes: number;
}

export interface OverviewCost {
  /** Reading every row's stored columns, ms. */
  readonly rowScanMs: number;
  /** SELECT count(*), sum(length(vm)) over the table, not through an index, ms. */
  readonly countScanMs: number;
  /** Per call: server-side time (best of `repeat`) and response size. */
  readonly calls: readonly OverviewCall[];
  /** Everything the overview page loads: HTML, script, style and its API answers. */
  readonly pageBytes: number;
}

export async function measureOverview(path: string, repeat = 3): Promise<OverviewCost> {
  const db = new Database(path, { readonly: true });
  let rowScanMs: number;
  let countScanMs: number;
  try {
    let start = performance.now();
    let rows = 0;
    const all = db
      .prepare(
        `SELECT id, vm, content, ts_seconds, ts_micros, received_us, dialect, layout, raw_text, error, dedup
         FROM memory_failure`,
      )
      .raw();
    for (const _ of all.iterate()) rows++;
    rowScanMs = performance.now() - start;
    start = performance.now();
    db.prepare('SELECT count(*), sum(length(vm)) FROM memory_failure NOT INDEXED').get();
    countScanMs = performance.now() - start;
    if (rows === 0) throw new Error(`${path} holds no failures`);
  } finally {
    db.close();
  }

  const source = SqliteSource.open(path, 'bench-host');
  try {
    return { rowScanMs, countScanMs, ...(await timeOverviewCalls({ source }, repeat)) };
  } finally {
    source.close();
  }
}

/**
 * Each overview call timed on the server (best of `repeat` after a warm-up),
 * `before` run ahead of every request, and the page's transfer with them.
 */
export async function timeOverviewCalls(
  served: Pick<ServeOptions, 'source' | 'health'>,
  repeat: number,
  before: () => Promise<unknown> = async () => {},
): Promise<{ calls: OverviewCall[]; pageBytes: number }> {
  const timings = new Map<string, number[]>();
  const dashboard = await startDashboard({
    ...served,
    host: '127.0.0.1',
    port: 0,
    onTiming: (p, ms) => timings.set(p, [...(timings.get(p) ?? []), ms]),
  });
  try {
    const calls: OverviewCall[] = [];
    let pageBytes = 0;
    for (const asset of ['/', '/assets/app.js', '/assets/app.css']) {
      pageBytes += (await (await fetch(new URL(asset, dashboard.url))).arrayBuffer()).byteLength;
    }
    for (const call of OVERVIEW_CALLS) {
      const route = call.split('?')[0]!;
      let bytes = 0;
      for (let i = 0; i <= repeat; i++) {
        await before();
        const res = await fetch(new URL(call, dashboard.url));
        if (res.status !== 200) throw new Error(`${call}: HTTP ${res.status}`);
        bytes = (await res.arrayBuffer()).byteLength;
      }
      const times = timings.get(route)!.slice(1); // the first was the warm-up
      calls.push({ path: call, serverMs: Math.min(...times), bytes });
      pageBytes += bytes;
    }
    return { calls, pageBytes };
  } finally {
    await dashboard.close();
  }
}
