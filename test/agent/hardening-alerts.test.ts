/**
 * Issue 10, alerts that cannot wedge: a program that ignores SIGTERM, a stuck
 * sink beside a working one, 4xx answers, the hook's environment, and two
 * agents on one database.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AlertDispatcher, type AlertSink, runCommand, sinkId } from '../../src/agent/alerts.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { Store } from '../../src/agent/store.js';
import { until } from '../support/wait.js';
import { failure, tempDir } from './fixtures.js';

/** An HTTP receiver answering `status()` and keeping every body's event id. */
async function receiver(status: () => number = () => 200) {
  const ids: number[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const code = status();
      if (code === 200) ids.push((JSON.parse(body) as { id: number }).id);
      res.writeHead(code).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const sink: AlertSink = { kind: 'webhook', url: `http://127.0.0.1:${port}/hook` };
  return {
    ids,
    sink,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A program that ignores SIGTERM and would run for a minute. */
const STUBBORN: AlertSink = {
  kind: 'command',
  argv: ['sh', '-c', 'trap "" TERM; sleep 60 & wait; sleep 60'],
};

describe('alerts that cannot wedge', () => {
  test('a program that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const started = Date.now();
    const result = await runCommand(STUBBORN.kind === 'command' ? STUBBORN.argv : [], '{}\n', 200, {
      killGraceMs: 300,
    });
    assert.match(result ?? '', /timed out after 200 ms/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  test('a stuck sink delays no other sink, and stopping does not wait for it', async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const hook = await receiver();
    const dispatcher = new AlertDispatcher(store, [STUBBORN, hook.sink], {
      timeoutMs: 60_000,
      killGraceMs: 200,
    });
    try {
      store.insert([failure('vm', 1), failure('vm', 2)], dispatcher.sinkIds);
      dispatcher.start();
      await until(() => hook.ids.length === 2, 'the webhook got both alerts', 5000);
      const stopping = Date.now();
      await dispatcher.stop();
      assert.ok(Date.now() - stopping < 3000, `stop took ${Date.now() - stopping} ms`);
      // The stuck program's alerts are still owed, not lost and not marked failed.
      assert.equal(store.owedAlerts([sinkId(STUBBORN)]), 2);
    } finally {
      await dispatcher.stop();
      await hook.close();
      store.close();
      cleanup();
    }
  });

  test("a program hook gets a fixed environment, not the agent's", async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const out = join(dir, 'env.txt');
    const sink: AlertSink = { kind: 'command', argv: ['sh', '-c', `env > '${out}'`] };
    process.env.MEMFAIL_TEST_SECRET = 'hunter2';
    const dispatcher = new AlertDispatcher(store, [sink]);
    try {
      store.insert([failure('vm-env', 1)], dispatcher.sinkIds);
      dispatcher.start();
      await until(() => store.outboxCounts().delivered === 1, 'delivery', 5000);
      const env = readFileSync(out, 'utf8');
      assert.doesNotMatch(env, /MEMFAIL_TEST_SECRET|hunter2/);
      assert.match(env, /^MEMFAIL_VM=vm-env$/m);
      assert.match(env, /^MEMFAIL_EVENT_ID=1$/m);
      assert.match(env, /^PATH=/m);
    } finally {
      delete process.env.MEMFAIL_TEST_SECRET;
      await dispatcher.stop();
      store.close();
      cleanup();
    }
  });

  test('a 4xx answer makes a dead letter at once; repeated failures after maxAttempts; retry sends again', async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    let status = 400;
    const hook = await receiver(() => status);
    const dead: string[] = [];
    let dispatcher = new AlertDispatcher(store, [hook.sink], {
      baseDelayMs: 5,
      maxDelayMs: 10,
      maxAttempts: 3,
      onDead: (_s, _e, why) => dead.push(why),
    });
    try {
      store.insert([failure('vm', 1)], dispatcher.sinkIds);
      dispatcher.start();
      await until(() => dead.length === 1, 'the 4xx dead letter', 5000);
      assert.match(dead[0]!, /refused: HTTP 400/);
      status = 503;
      store.insert([failure('vm', 2)], dispatcher.sinkIds);
      dispatcher.wake();
      await until(() => dead.length === 2, 'the dead letter after 3 attempts', 5000);
      assert.match(dead[1]!, /HTTP 503.*after 3 attempts/);
      assert.deepEqual(store.deadBySink(), [{ sink: sinkId(hook.sink), dead: 2 }]);
      assert.equal(store.owedAlerts(dispatcher.sinkIds), 0);
      const listed = store.undeliveredAlerts();
      assert.equal(listed.length, 2);
      assert.ok(listed.every((a) => a.deadAt !== null && a.lastError !== null));
      await dispatcher.stop();
      status = 200;
      assert.equal(store.retryDeadAlerts(), 2);
      dispatcher = new AlertDispatcher(store, [hook.sink], { baseDelayMs: 5 });
      dispatcher.start();
      await until(() => hook.ids.length === 2, 'both delivered after retry', 5000);
      assert.deepEqual(store.deadBySink(), []);
    } finally {
      await dispatcher.stop();
      await hook.close();
      store.close();
      cleanup();
    }
  });

  test('a running agent sends alerts another process made owed again, and its dead-letter gauge follows at scrape', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'events.db');
    const store = Store.open(path);
    let status = 400;
    const hook = await receiver(() => status);
    const metrics = new AgentMetrics();
    const dispatcher = new AlertDispatcher(store, [hook.sink], {
      baseDelayMs: 5,
      metrics,
      idleLookMs: 100,
    });
    const gauge = async () => {
      const text = await metrics.registry.getSingleMetricAsString('memfail_alerts_dead');
      return Number(/memfail_alerts_dead\{[^}]*\} (\d+)/.exec(text)?.[1]);
    };
    try {
      store.insert([failure('vm', 1), failure('vm', 2)], dispatcher.sinkIds);
      dispatcher.start();
      await until(() => store.deadBySink()[0]?.dead === 2, 'two dead letters', 5000);
      assert.equal(await gauge(), 2);
      status = 200;
      // `memfail alerts retry`, as another process: its own connection, no wake.
      const cli = Store.open(path, { mustExist: true });
      assert.equal(cli.retryDeadAlerts(), 2);
      cli.close();
      assert.equal(await gauge(), 0);
      await until(() => hook.ids.length === 2, 'both delivered with no new event', 5000);
    } finally {
      await dispatcher.stop();
      await hook.close();
      store.close();
      cleanup();
    }
  });

  test('two agents on one database never send an alert twice', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'events.db');
    const a = Store.open(path);
    const b = Store.open(path);
    // A slow receiver, so that both agents are at the queue while a delivery is in flight.
    const hook = await receiver();
    const sinks = [sinkId(hook.sink)];
    const da = new AlertDispatcher(a, [hook.sink], { baseDelayMs: 5 });
    const db = new AlertDispatcher(b, [hook.sink], { baseDelayMs: 5 });
    try {
      const batch = Array.from({ length: 40 }, (_, i) => failure('vm', i));
      a.insert(batch.slice(0, 20), sinks);
      da.start();
      db.start();
      b.insert(batch.slice(20), sinks);
      da.wake();
      db.wake();
      await until(() => a.outboxCounts().delivered === 40, 'all delivered', 10_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(hook.ids.length, 40);
      assert.equal(new Set(hook.ids).size, 40);
    } finally {
      await da.stop();
      await db.stop();
      await hook.close();
      a.close();
      b.close();
      cleanup();
    }
  });
});
