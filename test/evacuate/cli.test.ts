/** `memfail evacuate`'s command line: the dry run, flag errors; the actor without --act. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { HealthActor } from '../../src/evacuate/act.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { BASE_SECONDS, failure } from '../agent/fixtures.js';
import { runCli } from '../support/cli.js';

const run = (args: string[]) => runCli(args);

function ago(ms: number): number {
  return (Date.now() - ms) * 1000 - BASE_SECONDS * 1_000_000;
}

const dir = mkdtempSync(join(tmpdir(), 'mf-evac-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const dbs = { a: join(dir, 'a.db'), b: join(dir, 'b.db'), c: join(dir, 'c.db') };
const sa = Store.open(dbs.a);
sa.insert([
  failure('v1', ago(3000), { actionRequired: true }),
  failure('v2', ago(2000), { actionRequired: true }),
  failure('v1', ago(1000), { actionRequired: true }),
]);
Store.open(dbs.b).close();
const sc = Store.open(dbs.c);
sc.insert([failure('x', ago(1000), { recursive: true, actionRequired: true, action: 'reset' })]);
sc.close();
const inventory = join(dir, 'hosts.json');
writeFileSync(
  inventory,
  JSON.stringify({
    hosts: {
      a: { db: dbs.a, vms: { v1: { uuid: 'u1' }, v2: { uuid: 'u2' } } },
      b: { db: dbs.b, vms: {} },
      c: { db: dbs.c, vms: {} },
    },
  }),
);
const journal = join(dir, 'journal.db');

describe('memfail evacuate', () => {
  test('--dry-run prints the plan and records nothing', async () => {
    const r = await run(['evacuate', 'a', '--inventory', inventory, '--db', journal, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'a: plan (dry run; nothing is moved or recorded), driver qmp, 2 at a time',
        '  not c: it is degraded (recursive at ' +
          r.stdout.match(/recursive at (\S+) on x/)?.[1] +
          ' on x)',
        '  v1 → b',
        '  v2 → b',
        '',
      ].join('\n'),
    );
    assert.equal(existsSync(journal), false);
  });

  test('--driver libvirt: planned like the others; a host without a libvirt socket is skipped, saying why', async () => {
    const dry = await run([
      'evacuate',
      'a',
      '--inventory',
      inventory,
      '--driver',
      'libvirt',
      '--dry-run',
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /driver libvirt, 2 at a time/);
    const db = join(dir, 'libvirt-journal.db');
    const r = await run([
      'evacuate',
      'a',
      '--inventory',
      inventory,
      '--db',
      db,
      '--driver',
      'libvirt',
    ]);
    assert.match(
      r.stdout,
      /v1: skipped, not running \(memfail cannot reach its libvirtd: no "libvirtSocket" or local "libvirt" URI in the inventory\)/,
    );
    const bad = await run([
      'evacuate',
      'a',
      '--inventory',
      inventory,
      '--driver',
      'libvirt',
      '--exec',
      'x',
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--exec goes with --driver exec/);
  });

  test('flag mistakes', async () => {
    const cases: [string[], RegExp, number][] = [
      [['--driver', 'exec'], /--driver exec needs --exec CMD/, 2],
      [['--exec', 'true'], /--exec goes with --driver exec/, 2],
      [['--parallel', '0'], /--parallel '0' is not a positive integer/, 2],
      [['--to', 'zz'], /--to zz: no such host in/, 1],
      [['--to', 'a'], /--to a: that is the host being evacuated/, 1],
    ];
    for (const [flags, message, code] of cases) {
      const r = await run(['evacuate', 'a', '--inventory', inventory, '--db', journal, ...flags]);
      assert.equal(r.code, code, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const r = await run(['evacuate', 'nope', '--inventory', inventory, '--db', journal]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no host "nope" in/);
  });

  test('exec driver end to end: every step recorded; the second run has nothing to do', async () => {
    const args = ['evacuate', 'a', '--inventory', inventory, '--db', journal, '--driver', 'exec'];
    const r = await run([...args, '--exec', 'sh -c "test {uuid} = u1 -o {uuid} = u2"']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /a: evacuating 2 VMs, driver exec, 2 at a time; why: operator/);
    assert.match(r.stdout, /v1 → b: completed, command exited 0 after \d+ ms/);
    assert.match(r.stdout, /a: evacuated \(2 migrated, 0 skipped, 0 failed\)/);
    const again = await run([...args, '--exec', 'false']);
    assert.equal(again.code, 0);
    assert.equal(again.stdout.split('\n').at(-2), 'a: no VMs to evacuate');
  });
});

describe('the health actor without --act', () => {
  test('logs the verdict and recommends, once; evacuates nothing', async () => {
    const store = Store.open(dbs.a, { mustExist: true });
    const logs: string[] = [];
    const actor = new HealthActor({
      host: 'a',
      policy: DEFAULT_POLICY,
      store,
      act: false,
      log: (l) => logs.push(l),
    });
    actor.start();
    actor.update();
    // update() may defer its judgement (the throttle): stop cancels it before the store goes.
    await actor.stop();
    store.close();
    assert.match(logs[0] ?? '', /^a is failing: 3 action-required failures on 2 VMs in 24 h/);
    assert.match(
      logs[1] ?? '',
      /^recommendation: evacuate a \(failing: 3 action-required failures on 2 VMs in 24 h .*\); run memfail evacuate a --inventory FILE, or watch with --act$/,
    );
    assert.equal(logs.length, 2);
    assert.deepEqual(actor.results, []);
  });
});

describe('a destination that fails during the evacuation', () => {
  test('is judged again before each migration: the next VM goes elsewhere', async () => {
    const { evacuate } = await import('../../src/evacuate/run.js');
    const { ExecDriver } = await import('../../src/evacuate/exec-driver.js');
    const d = mkdtempSync(join(tmpdir(), 'mf-evac-turn-'));
    try {
      const db = (h: string) => join(d, `${h}.db`);
      for (const h of ['a', 'b', 'c']) Store.open(db(h)).close();
      const inv = join(d, 'hosts.json');
      writeFileSync(
        inv,
        JSON.stringify({
          hosts: {
            a: { db: db('a'), vms: { v1: {}, v2: {} } },
            b: { db: db('b'), vms: {} },
            c: { db: db('c'), vms: { busy: {} } },
          },
        }),
      );
      const lines: string[] = [];
      const result = await evacuate({
        host: 'a',
        inventoryPath: inv,
        journalPath: join(d, 'j.db'),
        driver: new ExecDriver({ argv: ['true'] }),
        policy: DEFAULT_POLICY,
        parallel: 1,
        reason: 'operator',
        out: (l) => {
          lines.push(l);
          if (l === '  v1 → b: started') {
            // b fails hard while v1 moves to it.
            const sb = Store.open(db('b'));
            sb.insert([
              failure('z', ago(10), {
                recipient: 'hypervisor',
                action: 'fatal',
                actionRequired: true,
              }),
            ]);
            sb.close();
          }
        },
      });
      assert.deepEqual(result.plan?.moves, [
        { vm: 'v1', dest: 'b' },
        { vm: 'v2', dest: 'b' },
      ]);
      assert.equal(result.outcome, 'done', lines.join('\n'));
      assert.ok(lines.includes('  v2: b is no longer a destination; c instead'), lines.join('\n'));
      assert.ok(lines.includes('  v2 → c: started'));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('the actor under a storm of commits', () => {
  test('judges at a bounded rate, and always judges the last update', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mf-actor-'));
    const store = Store.open(join(d, 's.db'));
    try {
      // A window full of old, harmless failures makes each judgement cost something.
      store.insert(
        Array.from({ length: 5000 }, (_, i) => failure(`vm${i % 50}`, ago(3 * 86_400_000 + i))),
      );
      const logs: string[] = [];
      const actor = new HealthActor({
        host: 'h',
        policy: DEFAULT_POLICY,
        store,
        act: false,
        log: (l) => logs.push(l),
      });
      assert.equal(actor.judgements, 1);
      assert.equal(actor.current.state, 'suspect');
      actor.update(); // right after the constructor's: deferred
      for (let i = 0; i < 100; i++) {
        store.insert([failure(`vm${i % 3}`, ago(1000 - i), { actionRequired: true })]);
        actor.update();
      }
      // Judging 5,000 rows takes milliseconds: the updates right after one wait for the next.
      assert.ok(actor.judgements <= 2, `${actor.judgements} judgements for 101 updates`);
      const started = Date.now();
      while ((actor.current.state as string) !== 'failing' && Date.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(actor.judgements <= 3, `${actor.judgements} judgements`);
      assert.equal(actor.current.state, 'failing', 'the last update was not judged');
      assert.ok(
        logs.some((l) =>
          /^suspect → h is failing: 100 action-required failures on 3 VMs in 24 h/.test(l),
        ),
      );
      await actor.stop();
    } finally {
      store.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
