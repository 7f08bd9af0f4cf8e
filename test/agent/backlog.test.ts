/**
 * While the database cannot take events (here: SQLite's own "database or
 * disk is full" error, raised by the store for as long as the test says),
 * the agent's backlog stays bounded: the writer tells its sources to pause
 * at maxPending and the watcher stops reading the VMs' sockets. Once the
 * store is back, every event the VMs sent is recorded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AcceptWatcher } from '../../src/agent/accept-source.js';
import { BatchWriter } from '../../src/agent/batch.js';
import { Store } from '../../src/agent/store.js';
import { parseVmArgument, Watcher } from '../../src/agent/watcher.js';
import { parseAddress } from '../../src/qmp/address.js';
import { QmpServer } from '../../src/qmp/server.js';
import { until, within } from '../support/wait.js';
import { failure, tempDir } from './fixtures.js';
import { QEMU_INJECT } from './qmp-peers.js';

/** A real store whose inserts fail as a full disk does while `down` is set. */
function storeWithOutage(path: string) {
  const store = Store.open(path);
  const state = { down: false, attempts: 0 };
  const flaky = Object.create(store) as Store;
  flaky.insert = (observations, sinks) => {
    state.attempts++;
    if (state.down) throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
    return store.insert(observations, sinks);
  };
  return { store, flaky, state };
}

describe('the writer while the database is unavailable', () => {
  test('says full at maxPending and drained at half; keeps everything; does not retry on every push', async () => {
    const { dir, cleanup } = tempDir('memfail-backlog-');
    const { store, flaky, state } = storeWithOutage(join(dir, 'events.db'));
    const writer = new BatchWriter(flaky, { maxEvents: 10, maxDelayMs: 1, maxPending: 100 });
    const news: boolean[] = [];
    const errors: string[] = [];
    writer.onBacklog((full) => news.push(full));
    writer.onError((e) => errors.push(e.message));
    try {
      state.down = true;
      for (let i = 0; i < 99; i++) writer.push(failure('vm', i));
      assert.equal(writer.full, false);
      writer.push(failure('vm', 99));
      assert.equal(writer.full, true);
      assert.deepEqual(news, [true]);
      for (let i = 100; i < 150; i++) writer.push(failure('vm', i));
      assert.equal(writer.pendingCount, 150, 'nothing offered is refused');
      // One failed attempt at the 10th push; the rest wait for the retry timer.
      assert.equal(state.attempts, 1);
      assert.deepEqual(errors, ['database or disk is full']);
      state.down = false;
      await until(() => writer.pendingCount === 0, 'the retry to commit the backlog', 5000);
      assert.deepEqual(news, [true, false]);
      assert.equal(writer.full, false);
      assert.equal(store.countFailures({ vm: 'vm' }), 150);
    } finally {
      writer.close();
      store.close();
      cleanup();
    }
  });

  test('a database locked past the busy timeout by another process: bounded, no wait per push, all kept', async () => {
    const { dir, cleanup } = tempDir('memfail-backlog-');
    const path = join(dir, 'events.db');
    const store = Store.open(path);
    // Another process holds the write lock until told to let go (the store waits 5 s, then SQLITE_BUSY).
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require(process.argv[1]))(process.argv[2]);
         db.exec('BEGIN EXCLUSIVE'); process.stdout.write('locked\\n');
         process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });`,
        sqlite,
        path,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => holder.once('exit', r));
    const writer = new BatchWriter(store, { maxEvents: 10, maxDelayMs: 1, maxPending: 100 });
    const errors: string[] = [];
    writer.onError((e) => errors.push(e.message));
    try {
      await new Promise<void>((resolve) => holder.stdout?.once('data', () => resolve()));
      for (let i = 0; i < 5; i++) writer.push(failure('vm', i));
      await until(() => errors.length === 1, 'the commit to give up on the lock', 20_000);
      assert.match(errors[0] ?? '', /locked|busy/i);
      const start = Date.now();
      for (let i = 5; i < 150; i++) writer.push(failure('vm', i));
      const tookMs = Date.now() - start;
      assert.ok(tookMs < 1000, `145 pushes took ${tookMs} ms: a retry on each would wait 5 s`);
      assert.equal(writer.full, true);
      assert.equal(writer.pendingCount, 150);
      holder.stdin?.write('go\n');
      assert.equal(await exited, 0);
      await until(() => writer.pendingCount === 0, 'the retry after the lock', 20_000);
      assert.equal(writer.full, false);
      assert.equal(store.countFailures({ vm: 'vm' }), 150);
    } finally {
      holder.kill();
      writer.close();
      store.close();
      cleanup();
    }
  });

  test('rejects a maxPending that is no positive integer', () => {
    const { dir, cleanup } = tempDir('memfail-backlog-');
    const store = Store.open(join(dir, 'events.db'));
    try {
      assert.throws(() => new BatchWriter(store, { maxPending: 0 }), /maxPending/);
      assert.throws(() => new BatchWriter(store, { maxPending: 1.5 }), /maxPending/);
    } finally {
      store.close();
      cleanup();
    }
  });
});

/** A QMP server whose events all have distinct timestamps (none is taken for a replay). */
function countingVm(): QmpServer {
  let tick = 0;
  return new QmpServer({
    clock: () => ({
      seconds: 1_764_000_000 + Math.floor(tick / 1e6),
      microseconds: tick++ % 1e6,
    }),
  });
}

/** Whether `promise` settles within `ms`. */
function settles(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
  ]);
}

describe('the watcher under a full backlog', () => {
  test('stops reading the VM while the store is down, stays bounded, then records every event', async () => {
    const { dir, cleanup } = tempDir('memfail-backlog-');
    const { store, flaky, state } = storeWithOutage(join(dir, 'events.db'));
    const maxPending = 200;
    const writer = new BatchWriter(flaky, { maxEvents: 50, maxDelayMs: 2, maxPending });
    writer.onError(() => {});
    const vm = countingVm();
    const address = `unix:${join(dir, 'vm.qmp')}`;
    await vm.listen(address);
    const log: string[] = [];
    const watcher = new Watcher([parseVmArgument(`vm1=${address}`)], writer, {
      log: (line) => log.push(line),
    });
    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, writer.pendingCount);
    }, 1);
    const sent = 5000;
    try {
      watcher.start();
      await until(() => watcher.status()[0]?.state === 'connected', 'the connection');
      state.down = true;
      for (let i = 0; i < sent; i++) vm.emit('MEMORY_FAILURE', QEMU_INJECT);
      await until(() => writer.full, 'the backlog to fill');
      // Paused: the VM's output stays unread, and the backlog stops growing.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await settles(vm.drained(), 200), false, 'the agent stopped reading the VM');
      most = Math.max(most, writer.pendingCount);
      assert.ok(most >= maxPending, `filled to ${most}`);
      // The overshoot is what one socket read had brought in when the writer said full.
      assert.ok(most < maxPending + 600, `at most ${most} pending, cap ${maxPending}`);
      assert.ok(
        log.some((l) => /pausing reading/.test(l)),
        log.join('\n'),
      );
      state.down = false;
      await within(vm.drained(), 'the agent to read the rest', 30_000);
      await until(
        () => store.countFailures({ vm: 'vm1' }) === sent,
        `all ${sent} failures recorded`,
        30_000,
      );
      assert.ok(most < maxPending + 600, `at most ${most} pending, cap ${maxPending}`);
      assert.ok(
        log.some((l) => /reading from every VM/.test(l)),
        log.join('\n'),
      );
    } finally {
      clearInterval(sample);
      await watcher.stop();
      await vm.close();
      writer.close();
      store.close();
      cleanup();
    }
  });
});

describe('watch --accept under a full backlog', () => {
  test('a dialled-in VM is paused while the store is down, then every event is recorded', async () => {
    const { dir, cleanup } = tempDir('memfail-backlog-');
    const { store, flaky, state } = storeWithOutage(join(dir, 'events.db'));
    const maxPending = 200;
    const writer = new BatchWriter(flaky, { maxEvents: 50, maxDelayMs: 2, maxPending });
    writer.onError(() => {});
    const accept = new AcceptWatcher(parseAddress(join(dir, 'agent.sock')), writer);
    const vm = countingVm();
    vm.handle('query-name', () => ({ name: 'dialer' }));
    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, writer.pendingCount);
    }, 1);
    const sent = 3000;
    try {
      await accept.start();
      const socket = connect({ path: join(dir, 'agent.sock') });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      vm.serve(socket);
      await until(() => accept.sessions === 1, 'the dialer named');
      state.down = true;
      for (let i = 0; i < sent; i++) vm.emit('MEMORY_FAILURE', QEMU_INJECT);
      await until(() => writer.full, 'the backlog to fill');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await settles(vm.drained(), 200), false, 'the agent stopped reading');
      most = Math.max(most, writer.pendingCount);
      assert.ok(most < maxPending + 600, `at most ${most} pending, cap ${maxPending}`);
      state.down = false;
      await within(vm.drained(), 'the agent to read the rest', 30_000);
      await until(
        () => store.countFailures({ vm: 'dialer' }) === sent,
        `all ${sent} failures recorded`,
        30_000,
      );
      assert.ok(most < maxPending + 600, `at most ${most} pending, cap ${maxPending}`);
    } finally {
      clearInterval(sample);
      await accept.stop();
      await vm.close();
      writer.close();
      store.close();
      cleanup();
    }
  });
});
