import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { memfail, until } from '../agent/child.js';
import { tempDir } from './fixtures.js';

test('memfail demo --serve ends with the dashboard address and serves until Ctrl-C', async () => {
  const { dir, cleanup } = tempDir('memfail-web-demo-');
  const demo = memfail([
    'demo',
    '--simulator',
    '--db',
    join(dir, 'demo.db'),
    '--serve',
    '--listen',
    '127.0.0.1:0',
  ]);
  try {
    await until(() => /Dashboard: http\S+/.test(demo.stdout()), 'the dashboard address', 120_000);
    const url = /Dashboard: (http\S+)/.exec(demo.stdout())![1]!;
    const vms = (await (await fetch(new URL('/api/top/vms?range=1h&limit=100', url))).json()) as {
      vm: string;
      failures: number;
    }[];
    assert.equal(
      vms.reduce((n, v) => n + v.failures, 0),
      10,
    );
    assert.equal((await fetch(url)).status, 200);
  } finally {
    demo.process.kill('SIGINT');
  }
  assert.equal(await demo.exited, 0, demo.stderr());
  cleanup();
});

test('memfail demo without --serve says how to see the recording', async () => {
  const { dir, cleanup } = tempDir('memfail-web-demo-');
  const db = join(dir, 'demo.db');
  const demo = memfail(['demo', '--simulator', '--db', db]);
  assert.equal(await demo.exited, 0, demo.stderr());
  assert.ok(demo.stdout().trimEnd().endsWith(`See it in a browser: memfail serve --db ${db}`));
  cleanup();
});
