/**
 * Issue 10 through the command line: files and modes, a closed or full
 * stdout, gaps after a killed watcher, and `memfail alerts list|retry`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { sinkId } from '../../src/agent/alerts.js';
import { Store } from '../../src/agent/store.js';
import { until } from '../support/wait.js';
import { BIN, memfail } from './child.js';
import { failure, tempDir } from './fixtures.js';
import { startVm } from './qmp-peers.js';

function digest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function run(command: string, args: readonly string[], stdout: number | 'pipe' = 'pipe') {
  const child = spawn(command, args, { stdio: ['ignore', stdout, 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr: err })),
  );
}

describe('files and modes', () => {
  test('a new database is 0600 and its new directories 0700, whatever the umask', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'a', 'b', 'events.db');
      const { code } = await run('sh', [
        '-c',
        `umask 000; exec "${process.execPath}" "${BIN}" watch vm=unix:${join(dir, 'none.sock')} --db "${db}" --once --once-wait 0 -q`,
      ]);
      assert.equal(code, 1); // the VM was never reached
      assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
      for (const file of [db, `${db}-wal`, `${db}-shm`]) {
        if (existsSync(file)) assert.equal(statSync(file).mode & 0o777, 0o600, file);
      }
    } finally {
      cleanup();
    }
  });

  test("read commands and watch refuse an SQLite file that is not memfail's, and leave it as it was", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'other.db');
      const other = new Database(path);
      other.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')");
      other.close();
      const before = digest(path);
      for (const args of [
        ['events', '--db', path],
        ['report', '--db', path],
        ['alerts', 'list', '--db', path],
        ['watch', 'vm=unix:/nonexistent', '--db', path, '--once', '--once-wait', '0'],
      ]) {
        const child = memfail(args);
        assert.equal(await child.exited, 1, args.join(' '));
        assert.match(child.stderr(), /not memfail's/, args.join(' '));
      }
      assert.equal(digest(path), before);
      assert.equal(existsSync(`${path}-wal`), false);
    } finally {
      cleanup();
    }
  });

  test('a read command never migrates: an older database is refused, unchanged', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      Store.open(path).close();
      const db = new Database(path);
      db.pragma('user_version = 5');
      db.pragma('journal_mode = DELETE');
      db.close();
      const before = digest(path);
      const child = memfail(['events', '--db', path]);
      assert.equal(await child.exited, 1);
      assert.match(child.stderr(), /older than this memfail's.*memfail watch/);
      assert.equal(digest(path), before);
    } finally {
      cleanup();
    }
  });

  test('a full stdout: one line on stderr, status 1, no stack trace', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const store = Store.open(path);
      store.insert(Array.from({ length: 50 }, (_, i) => failure('vm', i)));
      store.close();
      const full = openSync('/dev/full', 'w');
      const { code, stderr } = await run(process.execPath, [BIN, 'events', '--db', path], full);
      assert.equal(code, 1);
      assert.equal(stderr, 'memfail: cannot write to standard output (ENOSPC)\n');
    } finally {
      cleanup();
    }
  });

  test('a corrupt database: watch stops at once with a clear error', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      writeFileSync(path, Buffer.alloc(64 * 1024, 0xab));
      const child = memfail(['watch', 'vm=unix:/nonexistent', '--db', path]);
      assert.equal(await child.exited, 1);
      assert.match(child.stderr(), /is not a memfail database/);
      assert.doesNotMatch(child.stderr(), /\n\s+at /);
    } finally {
      cleanup();
    }
  });
});

describe('gaps', () => {
  test('a killed watcher leaves a gap from its last sign of life, shown by the next watch, events and report', async () => {
    const { dir, cleanup } = tempDir();
    const vm = await startVm(join(dir, 'vm.qmp'));
    try {
      const path = join(dir, 'events.db');
      const first = memfail(['watch', `vm1=${vm.address}`, '--db', path]);
      await until(() => /connected to/.test(first.stderr()), 'first watch connected');
      first.process.kill('SIGKILL');
      await first.exited;
      const second = memfail(['watch', `vm1=${vm.address}`, '--db', path]);
      await until(() => /connected to/.test(second.stderr()), 'second watch connected');
      assert.match(second.stderr(), /vm1: watch process \d+ ended without stopping/);
      second.process.kill('SIGTERM');
      assert.equal(await second.exited, 0);
      const events = memfail(['events', '--db', path]);
      assert.equal(await events.exited, 0);
      assert.match(events.stdout(), /vm1 {2}GAP until .*\(agent-killed\)/);
      const report = memfail(['report', '--db', path, '--json']);
      assert.equal(await report.exited, 0);
      const gaps = (JSON.parse(report.stdout()) as { gaps: { vm: string; reason: string }[] }).gaps;
      assert.deepEqual(
        gaps.map((g) => [g.vm, g.reason]),
        [['vm1', 'agent-killed']],
      );
      // A clean stop leaves none.
      const third = memfail(['watch', `vm1=${vm.address}`, '--db', path]);
      await until(() => /connected to/.test(third.stderr()), 'third watch connected');
      assert.doesNotMatch(third.stderr(), /ended without stopping/);
      third.process.kill('SIGTERM');
      assert.equal(await third.exited, 0);
    } finally {
      await vm.server.close();
      cleanup();
    }
  });
});

describe('memfail alerts', () => {
  test('list shows dead letters with their error; retry makes them owed again', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'events.db');
      const sink = sinkId({ kind: 'webhook', url: 'http://127.0.0.1:9/hook' });
      const store = Store.open(path);
      store.insert([failure('vm1', 1), failure('vm1', 2)], [sink]);
      const [a] = store.pendingAlerts([sink], 10);
      store.markFailed(a!.id, 'refused: HTTP 404 Not Found', 0, '2026-12-04T18:00:00.000000Z');
      store.close();
      const list = memfail(['alerts', 'list', '--db', path]);
      assert.equal(await list.exited, 0);
      assert.match(list.stdout(), /DEAD since 2026-12-04T18:00:00.000000Z.*HTTP 404/);
      assert.match(list.stdout(), /owed, next attempt now/);
      const retry = memfail(['alerts', 'retry', '--db', path, '--sink', sink]);
      assert.equal(await retry.exited, 0);
      assert.match(retry.stdout(), /^1 dead alert owed again/);
      const after = Store.openReadOnly(path);
      assert.equal(after.owedAlerts([sink]), 2);
      after.close();
    } finally {
      cleanup();
    }
  });
});
