/** Whatever the path and query, the server answers 2xx-4xx (never a 500) and stays up. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { failureAt, HOST, minutesAgo, record, serveStore, tempDir } from './fixtures.js';

function status(base: string, path: string): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const ROUTES = [
  '/api/hosts',
  '/api/series',
  '/api/top/hosts',
  '/api/top/vms',
  '/api/events',
  `/api/hosts/${HOST}`,
  `/api/hosts/${HOST}/vms`,
  `/api/hosts/${HOST}/vms/vm1/failures`,
  '/',
  `/hosts/${HOST}`,
];
const PARAMS = ['range', 'from', 'to', 'host', 'vm', 'limit', 'offset', 'before', 'token', 'x'];

test('random paths and query strings never get a 5xx', async () => {
  const { dir, cleanup } = tempDir('memfail-web-fuzz-');
  const db = join(dir, 'events.db');
  record(db, [failureAt('vm1', minutesAgo(3)), failureAt('vm2', minutesAgo(2))]);
  const served = await serveStore(db);
  try {
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        '1h',
        '24h',
        '-1',
        '0',
        '1e9',
        '2026-12-04T00:00:00Z',
        '%',
        '%E0%A4',
        '../..',
      ),
      fc.integer().map(String),
    );
    const query = fc
      .array(fc.tuple(fc.constantFrom(...PARAMS), value), { maxLength: 4 })
      .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
    const segment = fc.oneof(
      fc.constantFrom(...ROUTES),
      fc.string({ maxLength: 20 }).map((s) => `/api/${encodeURIComponent(s)}`),
      fc
        .string({ maxLength: 20 })
        .map((s) => `/hosts/${encodeURIComponent(s)}/vms/${s.replace(/[^\x21-\x7e]/g, '')}`),
    );
    await fc.assert(
      fc.asyncProperty(segment, query, async (path, q) => {
        const code = await status(served.url, q === '' ? path : `${path}?${q}`);
        assert.ok(code >= 200 && code < 500, `${path}?${q} answered ${code}`);
      }),
      { numRuns: 400 },
    );
    assert.equal(await status(served.url, '/api/hosts'), 200);
  } finally {
    await served.close();
    cleanup();
  }
});
