import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestError } from '../../src/web/errors.js';
import { provisionalHealth } from '../../src/web/health.js';
import { parseListen } from '../../src/web/listen.js';
import { parseRange } from '../../src/web/range.js';
import { isLoopback } from '../../src/web/server.js';

const NOW = Date.parse('2026-12-04T12:00:00Z') * 1000;
const q = (s: string) => new URLSearchParams(s);

describe('time ranges', () => {
  test('presets end now; buckets keep a chart at most 200 points', () => {
    assert.deepEqual(parseRange(q(''), NOW), {
      fromUs: NOW - 86_400_000_000,
      toUs: NOW,
      bucketSeconds: 900,
    });
    assert.equal(parseRange(q('range=1h'), NOW).bucketSeconds, 60);
    assert.equal(parseRange(q('range=7d'), NOW).bucketSeconds, 3_600);
    assert.equal(parseRange(q('range=30d'), NOW).bucketSeconds, 21_600);
    const r = parseRange(q('from=2026-11-30T23:00:00Z&to=2026-12-01T00:30:00.5+01:00'), NOW);
    assert.equal(r.fromUs, Date.parse('2026-11-30T23:00:00Z') * 1000);
    assert.equal(r.toUs, Date.parse('2026-11-30T23:30:00.500Z') * 1000);
  });

  test('bad ranges are RequestErrors (400) that say what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['range=1y', /unknown range '1y'/],
      ['range=toString', /unknown range 'toString'/],
      ['from=2026-12-01', /from and to go together/],
      ['from=2026-12-01&to=2026-12-02', /from must be an ISO 8601 time/],
      ['from=2026-12-02T00:00Z&to=2026-12-01T00:00Z', /range is empty/],
    ];
    for (const [query, message] of cases) {
      assert.throws(
        () => parseRange(q(query), NOW),
        (err: unknown) =>
          err instanceof RequestError && err.status === 400 && message.test(err.message),
        query,
      );
    }
  });
});

describe('provisional host health', () => {
  const facts = (lastDay: Partial<Record<'ignore' | 'inject' | 'fatal' | 'reset', number>>) => ({
    host: 'h',
    vms: 1,
    lastFailure: null,
    lastDay: { ignore: 0, inject: 0, fatal: 0, reset: 0, ...lastDay },
  });
  test('healthy without failures, degraded when absorbed, failing when a VM died or reset', () => {
    assert.equal(provisionalHealth(facts({})).state, 'healthy');
    assert.deepEqual(provisionalHealth(facts({ inject: 2, ignore: 1 })), {
      state: 'degraded',
      reasons: ['3 failure(s) in the last 24 h, all absorbed (injected or ignored)'],
    });
    assert.deepEqual(provisionalHealth(facts({ inject: 5, reset: 1 })).state, 'failing');
    assert.equal(provisionalHealth(facts({ fatal: 1 })).reasons.length, 1);
  });
});

describe('listening', () => {
  test('--listen forms; loopback names', () => {
    assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.throws(() => parseListen('host:99999'), /invalid --listen address/);
    assert.throws(() => parseListen(':80'), /invalid --listen address/);
    for (const h of ['127.0.0.1', '127.9.9.9', '::1', 'localhost']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'localhost.example', '']) {
      assert.ok(!isLoopback(h), h);
    }
  });
});
