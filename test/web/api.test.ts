import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toEventRecord } from '../../src/agent/event-record.js';
import { nowMicros } from '../../src/agent/records.js';
import { Store } from '../../src/agent/store.js';
import { ListenError, startDashboard } from '../../src/web/server.js';
import { memfail } from '../agent/child.js';
import {
  failureAt,
  HOST,
  lifecycleAt,
  minutesAgo,
  record,
  serveStore,
  tempDir,
  liveMarks,
} from './fixtures.js';

/** GET with raw control over the path and headers (fetch normalises both). */
function get(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method, headers: { host: url.host, ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function json<T>(base: string, path: string): Promise<T> {
  const res = await get(base, path);
  assert.equal(res.status, 200, `${path}: ${res.body}`);
  return JSON.parse(res.body) as T;
}

describe('dashboard API over a SQLite store', () => {
  const { dir, cleanup } = tempDir('memfail-web-api-');
  const db = join(dir, 'events.db');
  let base = '';
  let close: () => Promise<void> = async () => {};
  const resetAt = minutesAgo(50);
  const fatalAt = minutesAgo(20);

  before(async () => {
    record(db, [
      failureAt('vm1', minutesAgo(26 * 60)), // outside the last 24 hours
      failureAt('vm1', minutesAgo(120)),
      failureAt('vm1', minutesAgo(110), { actionRequired: false }),
      failureAt('vm2', resetAt, { action: 'reset', recursive: true }),
      lifecycleAt('vm2', 'RESET', resetAt + 2_000, { guest: true, reason: 'guest-reset' }),
      failureAt('vm3', fatalAt, { recipient: 'hypervisor', action: 'fatal' }),
      {
        ...lifecycleAt('vm3', 'DISCONNECTED', fatalAt + 5_000, { reason: 'closed' }),
        timestamp: null,
      },
      failureAt('vm1', minutesAgo(5)),
    ]);
    const served = await serveStore(db);
    base = served.url;
    close = served.close;
  });
  after(async () => {
    await close();
    cleanup();
  });

  test('hosts by health, with the reasons', async () => {
    const body = await json<{
      byState: Record<string, number>;
      hosts: { host: string; health: { state: string; reasons: string[] } }[];
    }>(base, '/api/hosts');
    assert.deepEqual(body.byState, { failing: 1, degraded: 0, suspect: 0, healthy: 0, unknown: 0 });
    assert.equal(body.hosts[0]!.host, HOST);
    assert.deepEqual(body.hosts[0]!.health.reasons, [
      '1 failure(s) in the last 24 h made QEMU exit',
      '1 failure(s) in the last 24 h reset a guest',
    ]);
  });

  test('failures over time by action and recipient, in buckets of the range', async () => {
    const s = await json<{
      bucketSeconds: number;
      t: number[];
      byAction: Record<string, number[]>;
      byRecipient: Record<string, number[]>;
      total: number;
    }>(base, '/api/series?range=24h');
    assert.equal(s.bucketSeconds, 900);
    assert.equal(s.total, 5);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.deepEqual(Object.fromEntries(Object.entries(s.byAction).map(([k, v]) => [k, sum(v)])), {
      ignore: 0,
      inject: 3,
      fatal: 1,
      reset: 1,
    });
    assert.deepEqual(
      Object.fromEntries(Object.entries(s.byRecipient).map(([k, v]) => [k, sum(v)])),
      { hypervisor: 1, guest: 4 },
    );
    // The fatal failure sits in the bucket that holds its receipt time.
    const at = s.t.findIndex((t) => t * 1e6 <= fatalAt + 100 && fatalAt + 100 < (t + 900) * 1e6);
    assert.equal(s.byAction.fatal![at], 1);
    assert.equal(s.t.length, s.byAction.inject!.length);
    const week = await json<{ total: number; bucketSeconds: number }>(base, '/api/series?range=7d');
    assert.equal(week.total, 6);
    assert.equal(week.bucketSeconds, 3600);
    const vm = await json<{ total: number }>(base, `/api/series?range=24h&host=${HOST}&vm=vm1`);
    assert.equal(vm.total, 3);
    const from = new Date((fatalAt - 60_000_000) / 1000).toISOString();
    const to = new Date((fatalAt + 60_000_000) / 1000).toISOString();
    const exact = await json<{ total: number; bucketSeconds: number }>(
      base,
      `/api/series?from=${from}&to=${to}`,
    );
    assert.equal(exact.total, 1);
    assert.equal(exact.bucketSeconds, 60);
  });

  test('the hosts and VMs with most failures', async () => {
    assert.deepEqual(await json(base, '/api/top/hosts?range=24h'), [{ host: HOST, failures: 5 }]);
    const vms = await json<{ vm: string; failures: number; severe: number }[]>(
      base,
      '/api/top/vms?range=24h&limit=2',
    );
    assert.deepEqual(
      vms.map((v) => [v.vm, v.failures, v.severe]),
      [
        ['vm1', 3, 0],
        ['vm2', 1, 1],
      ],
    );
    const page2 = await json<{ items: { vm: string }[] }>(
      base,
      `/api/hosts/${HOST}/vms?range=24h&limit=2&offset=2`,
    );
    assert.deepEqual(
      page2.items.map((v) => v.vm),
      ['vm3'],
    );
  });

  test('events are the records of memfail events --json, newest first, paged', async () => {
    const cli = memfail(['events', '--db', db, '--json']);
    assert.equal(await cli.exited, 0);
    const all = (JSON.parse(cli.stdout()) as { id: number }[]).reverse();
    const first = await json<{ items: unknown[]; next: number }>(
      base,
      '/api/events?range=7d&limit=4',
    );
    const rest = await json<{ items: unknown[]; next: number | null }>(
      base,
      `/api/events?range=7d&limit=4&before=${first.next}`,
    );
    assert.equal(rest.next, null);
    assert.deepEqual(
      [...first.items, ...rest.items],
      all.map((r) => ({ host: HOST, ...r })),
    );
    const store = Store.open(db, { mustExist: true });
    try {
      assert.deepEqual(first.items[0], { host: HOST, ...toEventRecord(store.failures().at(-1)!) });
    } finally {
      store.close();
    }
  });

  test('a VM page: explanation, outcome read from the lifecycle, events around it, raw message', async () => {
    type Failures = {
      items: {
        explanation: string;
        outcome: string;
        around: { event: string }[];
        raw: string;
        action: string;
      }[];
      next: number | null;
    };
    const reset = await json<Failures>(base, `/api/hosts/${HOST}/vms/vm2/failures`);
    assert.equal(reset.items.length, 1);
    const r = reset.items[0]!;
    assert.equal(r.outcome, 'guest-reset');
    assert.match(
      r.explanation,
      /vm2 — action-required error in guest memory while an earlier machine check/,
    );
    assert.deepEqual(
      r.around.map((e) => e.event),
      ['RESET'],
    );
    assert.deepEqual(JSON.parse(r.raw).data, {
      recipient: 'guest',
      action: 'reset',
      flags: { 'action-required': true, recursive: true },
    });
    const fatal = await json<Failures>(base, `/api/hosts/${HOST}/vms/vm3/failures`);
    assert.equal(fatal.items[0]!.outcome, 'vm-died');
    const paged = await json<Failures>(base, `/api/hosts/${HOST}/vms/vm1/failures?limit=2`);
    assert.equal(paged.items.length, 2);
    const older = await json<Failures>(
      base,
      `/api/hosts/${HOST}/vms/vm1/failures?limit=2&before=${paged.next}`,
    );
    assert.equal(older.items.length, 2);
    assert.equal(older.next, null);
  });

  test('pages: the app for what exists, 404 for what does not; strict CSP, no inline script', async () => {
    for (const path of ['/', `/hosts/${HOST}`, `/hosts/${HOST}/vms/vm1`]) {
      const res = await get(base, path);
      assert.equal(res.status, 200, path);
      assert.match(
        res.headers['content-security-policy'] as string,
        /script-src 'self'; style-src 'self'/,
      );
      assert.doesNotMatch(res.body, /<script>|<style|\sstyle=|\son\w+=/);
    }
    for (const path of ['/hosts/nohost', `/hosts/${HOST}/vms/nobody`, '/nothing', '/hosts/a/b/c']) {
      assert.equal((await get(base, path)).status, 404, path);
    }
    const js = await get(base, '/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'] as string, /^text\/javascript/);
    assert.equal((await get(base, '/assets/index.html')).status, 404);
  });

  test('bad requests get a clear 4xx and the server carries on', async () => {
    const cases: [string, number, RegExp, Record<string, string>?, string?][] = [
      ['/api/nothing', 404, /no API route/],
      ['/api/series?range=2y', 400, /unknown range '2y'/],
      ['/api/series?from=yesterday&to=2026-01-01T00:00:00Z', 400, /from must be an ISO 8601 time/],
      ['/api/series?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 400, /range is empty/],
      ['/api/series?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 400, /longer than a year/],
      ['/api/series?range=1h&from=2026-01-01T00:00:00Z', 400, /either range or from\/to/],
      ['/api/series?range=1h&range=6h', 400, /range given twice/],
      ['/api/series?vm=vm1', 400, /vm needs host/],
      ['/api/series?colour=red', 400, /unknown query parameter 'colour'/],
      ['/api/top/vms?limit=-1', 400, /limit must be a whole number/],
      ['/api/top/vms?limit=100000', 400, /limit must be a whole number from 0 to 100/],
      ['/api/events?before=abc', 400, /before must be a whole number/],
      ['/api/hosts/nohost', 404, /no host 'nohost'/],
      [`/api/hosts/${HOST}/vms/nobody/failures`, 404, /no VM 'nobody'/],
      [`/api/hosts/${HOST}/vms/%E0%A4%A/failures`, 400, /not valid percent-encoding/],
      [`/api/top/vms?range=${'x'.repeat(3000)}`, 414, /over 2048 characters/],
      ['/', 405, /read-only/, {}, 'POST'],
      ['/api/hosts', 405, /read-only/, {}, 'DELETE'],
      ['/', 400, /Host header must name this machine/, { host: 'attacker.example:80' }],
    ];
    for (const [path, status, message, headers, method] of cases) {
      const res = await get(base, path, headers, method);
      assert.equal(res.status, status, `${method ?? 'GET'} ${path.slice(0, 60)}: ${res.body}`);
      const body = JSON.parse(res.body) as { error: string };
      assert.match(body.error, message, path);
    }
    const huge = await get(base, '/', { 'x-filler': 'a'.repeat(20_000) });
    assert.equal(huge.status, 431);
    assert.equal((await get(base, '/api/hosts')).status, 200);
  });

  test('the live stream announces a new failure within a second', async () => {
    const { marks, contentType, close } = await liveMarks(base);
    assert.match(contentType, /^text\/event-stream/);
    await waitFor(() => marks.length === 1);
    const start = performance.now();
    record(db, [failureAt('vm4', nowMicros())]);
    await waitFor(() => marks.length === 2);
    assert.ok(marks[1]!.failure > marks[0]!.failure);
    assert.ok(marks[1]!.at - start < 1000, `${marks[1]!.at - start} ms`);
    close();
  });
});

describe('dashboard access', () => {
  test('anything but loopback is refused without a token', async () => {
    const { dir, cleanup } = tempDir('memfail-web-tok-');
    const db = join(dir, 'events.db');
    record(db, []);
    try {
      const source = (await import('../../src/web/sqlite-source.js')).SqliteSource.open(db, HOST);
      try {
        await assert.rejects(
          startDashboard({ source, host: '0.0.0.0', port: 0 }),
          (err: unknown) => err instanceof ListenError && /without --token/.test(err.message),
        );
      } finally {
        source.close();
      }
    } finally {
      cleanup();
    }
  });

  test('with a token, every request carries it (bearer, or the cookie set by ?token=)', async () => {
    const { dir, cleanup } = tempDir('memfail-web-tok-');
    const db = join(dir, 'events.db');
    record(db, [failureAt('vm1', minutesAgo(1))]);
    const token = 'correct-horse-battery';
    const served = await serveStore(db, { token });
    try {
      const base = served.url;
      const none = await get(base, '/api/hosts');
      assert.equal(none.status, 401);
      assert.match(JSON.parse(none.body).error, /a token is needed/);
      assert.equal(
        (await get(base, '/api/hosts', { authorization: 'Bearer wrong-token' })).status,
        401,
      );
      assert.equal(
        (await get(base, '/api/hosts', { authorization: `Bearer ${token}x` })).status,
        401,
      );
      assert.equal(
        (await get(base, '/api/hosts', { authorization: `Bearer ${token}` })).status,
        200,
      );
      // With a token the Host header may name the machine however it is reached.
      assert.equal(
        (await get(base, '/api/hosts', { authorization: `Bearer ${token}`, host: 'dash.example' }))
          .status,
        200,
      );
      const login = await get(base, `/?token=${token}&range=7d`);
      assert.equal(login.status, 303);
      assert.equal(login.headers.location, '/?range=7d');
      const cookie = (login.headers['set-cookie'] as string[])[0]!;
      assert.match(cookie, /HttpOnly; SameSite=Strict/);
      const withCookie = await get(base, '/api/hosts', { cookie: cookie.split(';')[0]! });
      assert.equal(withCookie.status, 200);
      assert.equal((await get(base, '/?token=nope')).status, 401);
    } finally {
      await served.close();
      cleanup();
    }
  });
});

function waitFor(check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('gave up waiting'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}
