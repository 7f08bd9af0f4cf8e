/**
 * The crash test: `memfail watch` is SIGKILLed in the middle of a stream and
 * restarted; the server resends everything from the start on reconnect.
 * "Acknowledged" is observable as rows committed: visible to another reader of
 * the database. Every event acknowledged before the kill must survive it, and
 * after the restart every event sent is recorded exactly once.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { QmpServer } from '../../src/qmp/server.js';
import { until } from '../support/wait.js';
import { memfail } from './child.js';
import { tempDir } from './fixtures.js';
import { serveStream, streamEvent, streamEventMicros } from './qmp-peers.js';

const COUNT = 30_000;

/** (QMP time in µs) of every committed failure, read by a separate connection. */
function committed(db: string): number[] {
  if (!existsSync(db)) return [];
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (
      conn
        .prepare('SELECT ts_seconds * 1000000 + ts_micros AS t FROM memory_failure ORDER BY id')
        .all() as { t: number }[]
    ).map((r) => r.t);
  } catch {
    return []; // the schema may not be there yet
  } finally {
    conn.close();
  }
}

test('SIGKILL mid-stream, restart: every acknowledged event kept, every event exactly once', async () => {
  const { dir, cleanup } = tempDir('memfail-crash-');
  const sock = join(dir, 'vm.qmp');
  const db = join(dir, 'events.db');
  const server = new QmpServer();
  server.handle('query-qmp-schema', () => []);
  await server.listen(`unix:${sock}`);
  // Paced so that the kill lands mid-stream; each session gets all events from the first.
  const stop = serveStream(server, COUNT, { chunk: 200, pauseMs: 5, endAfter: true });
  try {
    const first = memfail(['watch', `vm=unix:${sock}`, '--db', db, '-q']);
    let seen: number[] = [];
    await until(() => {
      seen = committed(db);
      return seen.length >= 3000;
    }, 'the first 3000 rows');
    first.process.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');

    const afterKill = committed(db);
    assert.ok(
      afterKill.length < COUNT,
      `the kill came after the stream ended (${afterKill.length})`,
    );
    // Everything acknowledged before the kill is still there, in order, once.
    assert.deepEqual(afterKill.slice(0, seen.length), seen);
    assert.equal(new Set(afterKill).size, afterKill.length);

    const second = memfail(['watch', `vm=unix:${sock}`, '--db', db, '--once', '-q']);
    assert.equal(await second.exited, 0, second.stderr());

    const rows = committed(db);
    assert.equal(rows.length, COUNT);
    assert.deepEqual(
      [...rows].sort((a, b) => a - b),
      Array.from({ length: COUNT }, (_, i) => streamEventMicros(i)),
    );
    // Canonical fields match what was sent, for a sample across the stream.
    const conn = new Database(db, { readonly: true });
    const byTime = conn.prepare(
      `SELECT recipient, action, action_required AS ar, recursive, valid FROM memory_failure
       WHERE ts_seconds * 1000000 + ts_micros = ?`,
    );
    for (const i of [0, 1, 2, 3, 2999, 3000, 17_777, COUNT - 1]) {
      const sent = streamEvent(i).data as {
        recipient: string;
        action: string;
        flags: { 'action-required': boolean; recursive: boolean };
      };
      assert.deepEqual(byTime.get(streamEventMicros(i)), {
        recipient: sent.recipient,
        action: sent.action,
        ar: sent.flags['action-required'] ? 1 : 0,
        recursive: sent.flags.recursive ? 1 : 0,
        valid: 1,
      });
    }
    conn.close();
  } finally {
    stop();
    await server.close();
    cleanup();
  }
});
