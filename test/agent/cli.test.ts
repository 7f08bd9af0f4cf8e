import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { parseSince } from '../../src/cli/agent-read.js';
import { failure, invalidFailure, lifecycle, tempDir } from './fixtures.js';
import { runCli } from '../support/cli.js';

const run = (args: string[]) => runCli(args);

function seeded(dir: string): string {
  const path = join(dir, 'events.db');
  const store = Store.open(path);
  store.insert([
    failure('vm1', 1_000_000, { action: 'inject', actionRequired: true }),
    failure('vm2', 2_000_000, { recipient: 'hypervisor', action: 'fatal', actionRequired: true }),
    lifecycle('vm2', 'DISCONNECTED', 2_100_000, { reason: 'eof' }),
    failure('vm1', 3_000_000, { action: 'reset', actionRequired: true, recursive: true }),
    invalidFailure('vm1', 4_000_000, { event: 'MEMORY_FAILURE', data: { recipient: 'moon' } }),
  ]);
  store.close();
  return path;
}

describe('memfail events', () => {
  test('--json prints the contract fields with canonical values', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = seeded(dir);
      const r = await run(['events', '--db', db, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const records = JSON.parse(r.stdout) as Record<string, unknown>[];
      assert.equal(records.length, 3);
      assert.deepEqual(
        records.map(({ vm, recipient, action, actionRequired, recursive, timestamp }) => ({
          vm,
          recipient,
          action,
          actionRequired,
          recursive,
          timestamp,
        })),
        [
          {
            vm: 'vm1',
            recipient: 'guest',
            action: 'inject',
            actionRequired: true,
            recursive: false,
            timestamp: '2025-11-24T16:00:01.000000Z',
          },
          {
            vm: 'vm2',
            recipient: 'hypervisor',
            action: 'fatal',
            actionRequired: true,
            recursive: false,
            timestamp: '2025-11-24T16:00:02.000000Z',
          },
          {
            vm: 'vm1',
            recipient: 'guest',
            action: 'reset',
            actionRequired: true,
            recursive: true,
            timestamp: '2025-11-24T16:00:03.000000Z',
          },
        ],
      );
    } finally {
      cleanup();
    }
  });

  test('--vm, --since, --count and --all filter', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = seeded(dir);
      assert.equal((await run(['events', '--db', db, '--count'])).stdout, '3\n');
      assert.equal((await run(['events', '--db', db, '--count', '--all'])).stdout, '4\n');
      assert.equal((await run(['events', '--db', db, '--count', '--vm', 'vm1'])).stdout, '2\n');
      const since = await run(['events', '--db', db, '--since', '2025-11-24T16:00:02Z']);
      assert.equal(since.code, 0);
      assert.deepEqual(since.stdout.trim().split('\n'), [
        '2025-11-24T16:00:02.000000Z  vm2  hypervisor fatal  action-required',
        '2025-11-24T16:00:03.000000Z  vm1  guest reset  action-required recursive',
      ]);
      const all = await run(['events', '--db', db, '--all', '--vm', 'vm1']);
      assert.match(all.stdout, /INVALID {2}'data\.recipient'/);
    } finally {
      cleanup();
    }
  });

  test('a missing database is exit 1 with a clear message, and is not created', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'nope.db');
      const r = await run(['events', '--db', db]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no database at .*nope\.db/);
      const again = await run(['report', '--db', db]);
      assert.equal(again.code, 1);
      assert.equal((await run(['events', '--db', db])).code, 1);
    } finally {
      cleanup();
    }
  });

  test('a corrupt database is exit 1 and left as it was', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'bad.db');
      writeFileSync(db, 'x'.repeat(4096));
      const r = await run(['report', '--db', db]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a memfail database/);
    } finally {
      cleanup();
    }
  });

  test('a bad --since is a usage error', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = await run(['events', '--db', seeded(dir), '--since', 'yesterday']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--since 'yesterday'/);
    } finally {
      cleanup();
    }
  });

  test('parseSince reads ISO 8601 and ages', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    assert.equal(parseSince('15m', now).toISOString(), '2026-01-01T11:45:00.000Z');
    assert.equal(parseSince('2d', now).toISOString(), '2025-12-30T12:00:00.000Z');
    assert.equal(parseSince('2026-01-01T10:00:00Z').toISOString(), '2026-01-01T10:00:00.000Z');
  });
});

describe('memfail report', () => {
  test('text and JSON agree on the numbers', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = seeded(dir);
      const text = await run(['report', '--db', db]);
      assert.equal(text.code, 0);
      assert.match(text.stdout, /^3 memory failures on 2 VMs/);
      assert.match(text.stdout, /vm2: 1 memory failure,/);
      assert.match(text.stdout, /vm-died +16:00:02\.000 vm2 — /);
      const json = await run(['report', '--db', db, '--json']);
      const r = JSON.parse(json.stdout) as {
        overall: { failures: number; invalid: number; byOutcome: Record<string, number> };
      };
      assert.equal(r.overall.failures, 3);
      assert.equal(r.overall.invalid, 1);
      assert.equal(r.overall.byOutcome['vm-died'], 1);
    } finally {
      cleanup();
    }
  });
});

describe('memfail report --within', () => {
  test('a lifecycle event later than the window is not the outcome', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'events.db');
      const store = Store.open(db);
      // An injected MCE, and the guest resetting 0.1 s later.
      store.insert([
        failure('vm', 1_000_000, { action: 'inject', actionRequired: true }),
        lifecycle('vm', 'RESET', 1_100_000, { guest: true, reason: 'guest-reset' }),
      ]);
      store.close();
      const outcomes = async (...within: string[]) => {
        const r = await run(['report', '--db', db, '--json', ...within]);
        assert.equal(r.code, 0, r.stderr);
        const { overall } = JSON.parse(r.stdout) as {
          overall: { byOutcome: Record<string, number> };
        };
        return [overall.byOutcome['guest-reset'], overall.byOutcome['guest-handled']];
      };
      assert.deepEqual(await outcomes(), [1, 0]);
      assert.deepEqual(await outcomes('--within', '0.2'), [1, 0]);
      assert.deepEqual(await outcomes('--within', '0.05'), [0, 1]);
      const text = await run(['report', '--db', db, '--within', '0.05']);
      assert.match(text.stdout, /guest-handled +16:00:01\.000 vm — /);
    } finally {
      cleanup();
    }
  });

  test('a window that is not a positive number of seconds is a usage error (exit 2)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = seeded(dir);
      for (const bad of ['0', '-5', 'soon', '', 'Infinity']) {
        const r = await run(['report', '--db', db, '--within', bad]);
        assert.equal(r.code, 2, `--within '${bad}'`);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /--within '.*' is not a positive number of seconds/);
      }
    } finally {
      cleanup();
    }
  });
});

describe('memfail watch arguments', () => {
  test('bad NAME=ADDRESS, --metrics, --webhook or --on-event are usage errors (exit 2)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'w.db');
      for (const args of [
        ['watch', 'novalue', '--db', db],
        ['watch', 'a=tcp:host', '--db', db],
        ['watch', 'a=/x', 'a=/y', '--db', db],
        ['watch', 'a=/x', '--db', db, '--metrics', 'nope'],
        ['watch', 'a=/x', '--db', db, '--webhook', 'ftp://x/'],
        ['watch', 'a=/x', '--db', db, '--on-event', "notify 'unclosed"],
      ]) {
        const r = await run(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /memfail: /);
      }
    } finally {
      cleanup();
    }
  });

  test('--once: a VM that never comes up within --once-wait is named, exit 1', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'w.db');
      const args = [
        'watch',
        `ghost=${join(dir, 'none.qmp')}`,
        '--db',
        db,
        '--once',
        '--once-wait',
        '0.2',
      ];
      const r = await run(args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /never reached: ghost/);
      assert.match(r.stderr, /recorded 0 new memory failures/);
    } finally {
      cleanup();
    }
  });

  test('alerts an earlier run owes to sinks not configured now are named, even with -q', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'w.db');
      const store = Store.open(db);
      store.insert([failure('vm', 1), failure('vm', 2)], ['webhook:http://old.example/hook']);
      store.insert([failure('vm', 3)], ['command:["true"]']);
      store.close();
      const ghost = `ghost=${join(dir, 'none.qmp')}`;
      const r = await run(['watch', ghost, '--db', db, '--once', '--once-wait', '0.1', '-q']);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /2 alerts still owed to webhook:http:\/\/old\.example\/hook from an earlier run; kept in .*w\.db until a watch with --webhook http:\/\/old\.example\/hook delivers them/,
      );
      assert.match(
        r.stderr,
        /1 alert still owed to command:\["true"\] .* --on-event for \["true"\]/,
      );
      // A sink configured again is not warned about: it delivers what it is owed.
      const again = await run([
        'watch',
        ghost,
        '--db',
        db,
        '--once',
        '--once-wait',
        '0.1',
        '-q',
        '--on-event',
        'true',
      ]);
      assert.doesNotMatch(again.stderr, /owed to command/);
      assert.match(again.stderr, /2 alerts still owed to webhook/);
      const after = Store.open(db, { mustExist: true });
      assert.deepEqual(after.pendingBySink(), [
        { sink: 'webhook:http://old.example/hook', pending: 2 },
      ]);
      after.close();
    } finally {
      cleanup();
    }
  });

  test('a database that cannot be used is exit 1, before any VM is contacted', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'bad.db');
      writeFileSync(db, 'y'.repeat(4096));
      const r = await run(['watch', `a=${join(dir, 'none.qmp')}`, '--db', db, '--once', '-q']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a memfail database/);
    } finally {
      cleanup();
    }
  });
});
