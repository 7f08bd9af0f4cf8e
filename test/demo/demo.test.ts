import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { DEMO_STEPS } from '../../src/demo/plan.js';
import { runDemo } from '../../src/demo/run.js';
import { findQemu } from '../../src/qemu/launch.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDb(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'memfail-demo-test-'));
  dirs.push(dir);
  return join(dir, 'demo.db');
}

/** What the demo recorded, as (vm, recipient, action, AR, recursive) in order. */
function recorded(db: string): string[] {
  const store = Store.open(db, { mustExist: true });
  try {
    return store
      .failures()
      .map((f) =>
        [
          f.vm,
          f.failure?.recipient,
          f.failure?.action,
          f.failure?.actionRequired,
          f.failure?.recursive,
        ].join(' '),
      );
  } finally {
    store.close();
  }
}

const expected = DEMO_STEPS.map((s) =>
  [s.vm, s.expect.recipient, s.expect.action, s.expect.actionRequired, s.expect.recursive].join(
    ' ',
  ),
);

describe('memfail demo', () => {
  test('covers every outcome QEMU 7.2 can report', () => {
    const outcomes = new Set(
      DEMO_STEPS.map((s) => `${s.expect.recipient}/${s.expect.action}/${s.expect.recursive}`),
    );
    for (const o of [
      'hypervisor/ignore/false',
      'hypervisor/fatal/false',
      'guest/inject/false',
      'guest/inject/true',
      'guest/reset/false',
      'guest/reset/true',
      'guest/ignore/true',
    ]) {
      assert.ok(outcomes.has(o), `the demo lacks ${o}`);
    }
  });

  test('with real QEMU: every step records the expected event, in order', async () => {
    findQemu(); // throws, saying how to install it, when QEMU is missing
    const db = await tempDb();
    let out = '';
    const result = await runDemo({
      db,
      simulatorOnly: false,
      qemuAvailable: true,
      out: (t) => (out += t),
    });
    assert.deepEqual(result.mismatches, []);
    assert.equal(result.ok, true);
    assert.match(out, /web-1 +QEMU /);
    assert.match(out, /db-3 +simulator/);
    assert.deepEqual(recorded(db), expected);
    assert.match(out, /10 memory failures on 4 VMs/);
  });

  test('simulator only, as the CLI runs it: exit 0 and the same events', async () => {
    const db = await tempDb();
    const run = spawnSync(process.execPath, ['bin/memfail.js', 'demo', '--simulator', '--db', db], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Simulator only/);
    assert.match(run.stdout, /\[10\/10\]/);
    assert.deepEqual(recorded(db), expected);
    const count = spawnSync(process.execPath, ['bin/memfail.js', 'events', '--db', db, '--count'], {
      encoding: 'utf8',
    });
    assert.equal(count.stdout.trim(), String(DEMO_STEPS.length));
  });
});
