/**
 * Several processes opening one new database at once (the agent creating it
 * while `memfail events` or a test polls it): each must see the schema
 * migrated exactly once, never fail on a migration another one just ran.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SCHEMA_VERSION } from '../../src/agent/migrations.js';
import { Store } from '../../src/agent/store.js';
import { tempDir } from './fixtures.js';

const STORE = fileURLToPath(new URL('../../src/agent/store.js', import.meta.url));

function openIn(path: string): Promise<{ code: number | null; stderr: string }> {
  const script = `import(${JSON.stringify(STORE)}).then((m) => m.Store.open(${JSON.stringify(path)}).close())`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('processes opening one new database at once all succeed; it is migrated once', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (let round = 0; round < 3; round++) {
      const path = join(dir, `events-${round}.db`);
      const results = await Promise.all(Array.from({ length: 6 }, () => openIn(path)));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const store = Store.open(path, { mustExist: true });
      assert.equal(store.version, SCHEMA_VERSION);
      store.close();
    }
  } finally {
    cleanup();
  }
});
