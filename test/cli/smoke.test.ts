import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';

test('memfail --help lists the commands', async () => {
  let out = '';
  const code = await main(['--help'], { stdout: (s) => (out += s), stderr: () => {} });
  assert.equal(code, 0);
  assert.match(out, /schema/);
});
