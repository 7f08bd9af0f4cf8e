import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { memfail, until } from '../agent/child.js';
import { failureAt, minutesAgo, record, tempDir } from './fixtures.js';

describe('memfail serve', () => {
  test('serves the dashboard on loopback, says where, and stops on SIGTERM', async () => {
    const { dir, cleanup } = tempDir('memfail-web-cli-');
    const db = join(dir, 'events.db');
    record(db, [failureAt('vm1', minutesAgo(3))]);
    const serve = memfail(['serve', '--db', db, '--listen', '127.0.0.1:0', '--host', 'rack7']);
    try {
      await until(() => /dashboard at http:\/\/127\.0\.0\.1:\d+\//.test(serve.stderr()), 'the URL');
      const url = /dashboard at (\S+)/.exec(serve.stderr())![1]!;
      const res = await fetch(new URL('/api/top/hosts', url));
      assert.deepEqual(await res.json(), [{ host: 'rack7', failures: 1 }]);
    } finally {
      serve.process.kill('SIGTERM');
    }
    assert.equal(await serve.exited, 0);
    cleanup();
  });

  test('judges the host with the health policy, as memfail health does; --policy changes it', async () => {
    const { dir, cleanup } = tempDir('memfail-web-cli-');
    const db = join(dir, 'events.db');
    // Three action-required failures on two VMs within the hour: the built-in
    // policy's "failing" rule.
    record(db, [
      failureAt('vm1', minutesAgo(30)),
      failureAt('vm2', minutesAgo(20)),
      failureAt('vm1', minutesAgo(10)),
    ]);
    const strict = join(dir, 'policy.json');
    writeFileSync(
      strict,
      JSON.stringify({ rules: [{ state: 'suspect', kind: 'any', atLeast: 1, within: '1h' }] }),
    );
    const verdicts: unknown[] = [];
    for (const extra of [[], ['--policy', strict]]) {
      const serve = memfail([
        'serve',
        '--db',
        db,
        '--listen',
        '127.0.0.1:0',
        '--host',
        'h',
        ...extra,
      ]);
      try {
        await until(() => /dashboard at (\S+)/.test(serve.stderr()), 'the URL');
        const url = /dashboard at (\S+)/.exec(serve.stderr())![1]!;
        const body = (await (await fetch(new URL('/api/hosts/h', url))).json()) as {
          health: { state: string; reasons: string[] };
        };
        verdicts.push(body.health);
      } finally {
        serve.process.kill('SIGTERM');
      }
      assert.equal(await serve.exited, 0);
    }
    const [builtIn, custom] = verdicts as { state: string; reasons: string[] }[];
    assert.equal(builtIn!.state, 'failing');
    assert.match(builtIn!.reasons[0]!, /3 action-required failures on 2 VMs/);
    assert.equal(custom!.state, 'suspect');
    const bad = memfail(['serve', '--db', db, '--policy', join(dir, 'none.json')]);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr(), /none\.json/);
    cleanup();
  });

  test('refuses a non-loopback address without --token, a bad --listen, a missing database', async () => {
    const { dir, cleanup } = tempDir('memfail-web-cli-');
    const db = join(dir, 'events.db');
    record(db, []);
    const open = memfail(['serve', '--db', db, '--listen', '0.0.0.0:0']);
    assert.equal(await open.exited, 1);
    assert.match(open.stderr(), /refusing to serve on 0\.0\.0\.0 without --token/);
    const bad = memfail(['serve', '--db', db, '--listen', 'here:port']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr(), /invalid --listen address 'here:port'/);
    const short = memfail(['serve', '--db', db, '--token', 'abc']);
    assert.equal(await short.exited, 2);
    assert.match(short.stderr(), /--token must be at least 8 characters/);
    const missing = memfail(['serve', '--db', join(dir, 'none.db'), '--listen', '127.0.0.1:0']);
    assert.equal(await missing.exited, 1);
    assert.match(missing.stderr(), /no database at .*none\.db/);
    cleanup();
  });
});
