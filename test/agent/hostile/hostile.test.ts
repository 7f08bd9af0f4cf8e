/**
 * The hostile-peer harness (issue 10): one real `memfail watch` process
 * (spawned CLI, real SQLite, a webhook sink, metrics) watches a well-behaved
 * `memfail sim` VM and a peer that sends anything (peer.ts). Scripted timing
 * attacks first, then fast-check cases (events.ts), each on a fresh
 * connection of the peer. After every case: the watcher is alive with
 * bounded memory, each event the peer completed is stored exactly once
 * (valid or flagged as an independent oracle says, never merged), and the
 * good VM's events are all there. At the end: `events --json`, `report` and
 * the webhook work on the resulting database, and SIGTERM exits 0 with
 * nothing lost.
 *
 * Budget: MEMFAIL_HOSTILE_RUNS cases (default 40) from MEMFAIL_HOSTILE_SEED
 * (default fixed); `MEMFAIL_HOSTILE_RUNS=500 npm run test:hostile` for more.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { QmpClient } from '../../../src/qmp/client.js';
import { type Child, memfail, until } from '../child.js';
import { Store } from '../../../src/agent/store.js';
import { MAX_MESSAGE_BYTES } from '../../../src/agent/watcher.js';
import { failure, tempDir } from '../fixtures.js';
import {
  encode,
  encodeLifecycle,
  expectValid,
  type HostileEvent,
  hostileEvent,
  hostileLifecycle,
  markerOf,
} from './events.js';
import { type HostilePeer, type Step, startHostilePeer } from './peer.js';

const RUNS = Number(process.env.MEMFAIL_HOSTILE_RUNS ?? 40);
const SEED = Number(process.env.MEMFAIL_HOSTILE_SEED ?? 20261204);
/** The watcher's resident memory may not pass this (it holds at most a few capped messages). */
const MAX_RSS_KB = 400 * 1024;

interface Expectation {
  /** Rows the marker must have (2 for two identical messages without a clock). */
  readonly rows: number;
  /** Whether they must be valid; null: either. */
  readonly valid: boolean | null;
}

class Harness {
  readonly dir: string;
  private readonly cleanup: () => void;
  peer!: HostilePeer;
  sim!: Child;
  watch!: Child;
  private good!: QmpClient;
  private hook!: Server;
  readonly alerted = new Map<number, number>();
  private db: Database.Database | null = null;
  readonly expected = new Map<number, Expectation>();
  goodSent = 0;
  nextMarker = 1;
  private seenId = 0;
  readonly seen = new Map<number, { rows: number; valid: number[] }>();

  constructor() {
    const t = tempDir('memfail-hostile-');
    this.dir = t.dir;
    this.cleanup = t.cleanup;
  }

  /** Where the --on-event program appends each alert (one JSON line each). */
  get alertFile(): string {
    return join(this.dir, 'alerts.jsonl');
  }

  /** Event ids the program sink was given, with how often. */
  commandAlerts(): Map<number, number> {
    const ids = new Map<number, number>();
    if (!existsSync(this.alertFile)) return ids;
    for (const text of readFileSync(this.alertFile, 'utf8').split('\n')) {
      if (text === '') continue;
      const id = (JSON.parse(text) as { id: number }).id;
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
    return ids;
  }

  get dbPath(): string {
    return join(this.dir, 'events.db');
  }

  async start(): Promise<void> {
    this.peer = await startHostilePeer(join(this.dir, 'bad.sock'));
    const simSock = join(this.dir, 'good.sock');
    this.sim = memfail(['sim', '--listen', `unix:${simSock}`]);
    await until(() => existsSync(simSock), 'the simulator listening', 20_000);
    this.good = new QmpClient();
    await this.good.connect(`unix:${simSock}`);
    this.hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const id = (JSON.parse(body) as { id: number }).id;
        this.alerted.set(id, (this.alerted.get(id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.hook.listen(0, '127.0.0.1', r));
    const { port } = this.hook.address() as AddressInfo;
    this.watch = memfail([
      'watch',
      `good=unix:${simSock}`,
      `bad=${this.peer.address}`,
      '--db',
      this.dbPath,
      '--webhook',
      `http://127.0.0.1:${port}/hook`,
      '--on-event',
      `sh -c 'cat >> "${this.alertFile}"'`,
      '--metrics',
      '127.0.0.1:0',
    ]);
    await until(() => /watching 2 VMs/.test(this.watch.stderr()), 'the watcher started', 20_000);
    await until(() => existsSync(this.dbPath), 'the database');
    this.db = new Database(this.dbPath, { readonly: true });
  }

  /** One event from the good VM (a host-side AO failure: QEMU ignores it and runs on). */
  async goodEvent(): Promise<void> {
    await this.good.execute('x-memfail-host-memory-failure', {
      code: 'ao',
      address: 4096,
      'guest-ram': false,
    });
    this.goodSent++;
  }

  /** Plays one connection of the peer, then waits until what it completed is stored. */
  async play(steps: readonly Step[], expect: readonly [number, Expectation][]): Promise<void> {
    for (const [marker, e] of expect) this.expected.set(marker, e);
    await this.peer.play(steps);
    await this.goodEvent();
    await this.settle();
  }

  /** Waits for every expected row, then checks the invariants so far. */
  async settle(): Promise<void> {
    await until(
      () => {
        this.readNewRows();
        for (const [marker, e] of this.expected) {
          if ((this.seen.get(marker)?.rows ?? 0) < e.rows) return false;
        }
        return this.count('good') >= this.goodSent;
      },
      'every completed event stored',
      20_000,
    ).catch((err: Error) => {
      const missing = [...this.expected]
        .filter(([m, e]) => (this.seen.get(m)?.rows ?? 0) < e.rows)
        .map(([m]) => m);
      throw new Error(
        `${err.message}: missing markers ${missing.join(', ')}; good ${this.count('good')}/${this.goodSent}\n${this.watch.stderr().slice(-3000)}`,
      );
    });
    this.check();
  }

  check(alive = true): void {
    if (alive) {
      assert.equal(this.watch.process.exitCode, null, `the watcher died:\n${this.watch.stderr()}`);
      const rss = rssKb(this.watch.process.pid!);
      assert.ok(rss < MAX_RSS_KB, `watcher RSS ${rss} kB`);
    }
    this.readNewRows();
    for (const [marker, seen] of this.seen) {
      const e = this.expected.get(marker);
      assert.ok(e !== undefined, `a row for marker ${marker}, which was never completed`);
      assert.equal(seen.rows, e.rows, `marker ${marker}: ${seen.rows} rows, want ${e.rows}`);
      if (e.valid !== null) {
        for (const v of seen.valid) assert.equal(v, e.valid ? 1 : 0, `marker ${marker} validity`);
      }
    }
    assert.equal(this.count('good'), this.goodSent);
  }

  private count(vm: string): number {
    return this.db!.prepare('SELECT count(*) FROM memory_failure WHERE vm = ?')
      .pluck()
      .get(vm) as number;
  }

  private readNewRows(): void {
    const rows = this.db!.prepare(
      `SELECT id, substr(raw, 1, 80) AS head, valid FROM memory_failure
       WHERE vm = 'bad' AND id > ? ORDER BY id`,
    ).all(this.seenId) as { id: number; head: string; valid: number }[];
    for (const r of rows) {
      this.seenId = r.id;
      const marker = markerOf(r.head);
      assert.notEqual(marker, null, `a peer row without its marker: ${r.head}`);
      const seen = this.seen.get(marker!) ?? { rows: 0, valid: [] };
      seen.rows++;
      seen.valid.push(r.valid);
      this.seen.set(marker!, seen);
    }
  }

  rows(sql: string, ...params: unknown[]): unknown[] {
    return this.db!.prepare(sql).all(...params);
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = null;
    if (this.watch && this.watch.process.exitCode === null) this.watch.process.kill('SIGKILL');
    if (this.sim && this.sim.process.exitCode === null) this.sim.process.kill('SIGKILL');
    await this.good?.close();
    await this.peer?.close();
    this.hook?.closeAllConnections();
    await new Promise<void>((r) => (this.hook ? this.hook.close(() => r()) : r()));
    this.cleanup();
  }

  closeDb(): void {
    this.db?.close();
    this.db = null;
  }
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

const line = (text: string) => Buffer.from(`${text}\n`);
const event = (marker: number, rest: string) =>
  `{"hostile":${marker},"event":"MEMORY_FAILURE",${rest}}`;
const GOOD_DATA =
  '"data":{"recipient":"guest","action":"inject","flags":{"action-required":true,"recursive":false}}';

describe('a hostile QMP peer beside a good VM, in one memfail watch', () => {
  const h = new Harness();
  before(() => h.start());
  after(() => h.stop());

  test('slow bytes: an event trickled three bytes at a time is stored once', async () => {
    const m = h.nextMarker++;
    const bytes = line(
      event(m, `${GOOD_DATA},"timestamp":{"seconds":1764000000,"microseconds":1}`),
    );
    await h.play(
      [{ kind: 'trickle', bytes, chunk: 3, pauseMs: 2 }, { kind: 'end' }],
      [[m, { rows: 1, valid: true }]],
    );
  });

  test('a line that never ends holds up nothing else, and is not an event', async () => {
    const m = h.nextMarker++;
    const done = h.peer.play([
      {
        kind: 'write',
        bytes: Buffer.from(`{"hostile":${m},"event":"MEMORY_FAILURE","data":{"action":"`),
      },
      { kind: 'trickle', bytes: Buffer.alloc(256 * 1024, 'a'), chunk: 16 * 1024, pauseMs: 5 },
      { kind: 'pause', ms: 300 },
      { kind: 'reset' },
    ]);
    // Meanwhile the good VM's events are recorded as usual.
    await h.goodEvent();
    await h.settle();
    await done;
    await h.goodEvent();
    await h.settle();
    assert.equal(h.seen.get(m), undefined);
  });

  test('a reset in the middle of an event: the events before it are stored, the cut one is not', async () => {
    const a = h.nextMarker++;
    const cut = h.nextMarker++;
    const whole = event(cut, `${GOOD_DATA},"timestamp":{"seconds":1764000001,"microseconds":0}`);
    await h.play(
      [
        {
          kind: 'write',
          bytes: line(event(a, `${GOOD_DATA},"timestamp":{"seconds":1764000001,"microseconds":1}`)),
        },
        { kind: 'write', bytes: Buffer.from(whole.slice(0, whole.length - 5)) },
        { kind: 'pause', ms: 50 },
        { kind: 'reset' },
      ],
      [[a, { rows: 1, valid: true }]],
    );
    assert.equal(h.seen.get(cut), undefined);
  });

  test("two identical events without QEMU's clock are two rows, never merged", async () => {
    const m = h.nextMarker++;
    const text = line(event(m, `${GOOD_DATA},"timestamp":{"seconds":-1,"microseconds":-1}`));
    await h.play(
      [{ kind: 'write', bytes: Buffer.concat([text, text]) }, { kind: 'end' }],
      [[m, { rows: 2, valid: true }]],
    );
  });

  test('a broken envelope (no timestamp, data not an object) is stored flagged and the connection kept', async () => {
    const a = h.nextMarker++;
    const b = h.nextMarker++;
    const c = h.nextMarker++;
    const d = h.nextMarker++;
    const e = h.nextMarker++;
    await h.play(
      [
        { kind: 'write', bytes: line(event(a, GOOD_DATA)) },
        {
          kind: 'write',
          bytes: line(event(b, '"data":"guest","timestamp":{"seconds":1,"microseconds":2}')),
        },
        {
          kind: 'write',
          bytes: line(event(c, `${GOOD_DATA},"timestamp":{"seconds":1.5,"microseconds":0}`)),
        },
        // Numbers JSON allows that no double or no clock holds.
        {
          kind: 'write',
          bytes: line(event(d, `${GOOD_DATA},"timestamp":{"seconds":1e400,"microseconds":-0}`)),
        },
        {
          kind: 'write',
          bytes: line(event(e, `${GOOD_DATA},"timestamp":{"seconds":-1e400,"microseconds":1E2}`)),
        },
        { kind: 'end' },
      ],
      [
        [a, { rows: 1, valid: false }],
        [b, { rows: 1, valid: false }],
        [c, { rows: 1, valid: false }],
        [d, { rows: 1, valid: false }],
        [e, { rows: 1, valid: false }],
      ],
    );
    const disconnects = h.rows(
      "SELECT data FROM lifecycle WHERE vm = 'bad' AND kind = 'DISCONNECTED' AND data LIKE '%protocol-error%'",
    );
    assert.equal(disconnects.length, 0);
  });

  test('a huge event is stored with its raw message cut at 64 KiB, length and hash kept', async () => {
    const m = h.nextMarker++;
    const text = event(
      m,
      `"data":{"recipient":"guest","action":"${'y'.repeat(1 << 20)}"},"timestamp":{"seconds":5,"microseconds":5}`,
    );
    await h.play(
      [{ kind: 'write', bytes: line(text) }, { kind: 'end' }],
      [[m, { rows: 1, valid: false }]],
    );
    const [row] = h.rows(
      "SELECT length(raw) AS stored, raw_length AS whole, length(error) AS errorLength FROM memory_failure WHERE vm = 'bad' AND raw LIKE ?",
      `{"hostile":${m},%`,
    ) as { stored: number; whole: number; errorLength: number }[];
    assert.equal(row?.stored, 64 * 1024);
    assert.equal(row?.whole, text.length);
    assert.ok((row?.errorLength ?? 0) < 2048, 'the error quoting it is cut too');
  });

  test('garbage and nesting past the limit end the connection, not the watcher; a gap is recorded', async () => {
    const a = h.nextMarker++;
    await h.play(
      [
        {
          kind: 'write',
          bytes: line(event(a, `${GOOD_DATA},"timestamp":{"seconds":7,"microseconds":7}`)),
        },
        { kind: 'write', bytes: Buffer.from(`${'['.repeat(2000)}\n`) },
        { kind: 'write', bytes: Buffer.from('not json at all\n\x00\xff') },
        { kind: 'pause', ms: 50 },
        { kind: 'end' },
      ],
      [[a, { rows: 1, valid: true }]],
    );
    // The next connection is made (the next test's), so the lost one is a gap.
    await h.play([{ kind: 'end' }], []);
    const gaps = h.rows("SELECT * FROM gap WHERE vm = 'bad' AND reason = 'connection-lost'");
    assert.ok(gaps.length >= 1);
  });

  test('a message past the 16 MiB limit ends the connection, with memory bounded; the next one is read', async () => {
    const big = h.nextMarker++;
    const after = h.nextMarker++;
    const head = Buffer.from(event(big, '"data":{"recipient":"').slice(0, -1));
    await h.play(
      [
        {
          kind: 'write',
          bytes: Buffer.concat([head, Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 'q')]),
        },
        { kind: 'write', bytes: Buffer.from('"}}\n') },
        { kind: 'end' },
      ],
      [],
    );
    await h.play(
      [
        {
          kind: 'write',
          bytes: line(event(after, `${GOOD_DATA},"timestamp":{"seconds":8,"microseconds":8}`)),
        },
        { kind: 'end' },
      ],
      [[after, { rows: 1, valid: true }]],
    );
    assert.equal(h.seen.get(big), undefined);
    assert.match(h.watch.stderr(), /larger than the limit of 16777216 bytes/);
  });

  test(`fast-check: ${RUNS} generated cases around the schema (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostileEvent, { minLength: 1, maxLength: 4 }),
        fc.array(hostileLifecycle, { maxLength: 2 }),
        fc.constantFrom('end', 'reset') as fc.Arbitrary<'end' | 'reset'>,
        async (events: HostileEvent[], lifecycle, ending) => {
          const expect: [number, Expectation][] = [];
          const steps: Step[] = [];
          // Lifecycle events first: whatever they hold, the failures after them are stored.
          for (const l of lifecycle) {
            steps.push({ kind: 'write', bytes: encodeLifecycle(h.nextMarker++, l) });
          }
          for (const e of events) {
            const m = h.nextMarker++;
            steps.push({ kind: 'write', bytes: encode(m, e) });
            expect.push([m, { rows: 1, valid: expectValid(e) }]);
            if (e.good && e.form !== 'duplicate-data') {
              assert.equal(expectValid(e), true, 'a good event is valid by the oracle');
            }
          }
          // A reset right after the last write may lose what the kernel had not
          // handed over yet: let it arrive first (a reset mid-event is scripted above).
          steps.push({ kind: 'pause', ms: 20 }, { kind: ending });
          try {
            await h.play(steps, expect);
          } catch (err) {
            // fast-check reports the case; this says what broke in it.
            process.stderr.write(`hostile case failed: ${(err as Error).message.slice(0, 4000)}\n`);
            throw err;
          }
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  test('events --json, report and the webhook work on the result; SIGTERM exits 0 with nothing lost', async () => {
    const stored = h.rows('SELECT id FROM memory_failure').length;
    // The one kind of record the wire cannot produce (the storage boundary makes
    // every observation fit): a row SQLite refused, as batch.ts sets it aside.
    const writer = Store.open(h.dbPath);
    writer.quarantine(
      { ...failure('bad', 1), vm: Buffer.from('bad') as unknown as string },
      'a refused row',
    );
    writer.close();
    const events = memfail(['events', '--db', h.dbPath, '--json', '--all']);
    assert.equal(await events.exited, 0, events.stderr());
    const records = JSON.parse(events.stdout()) as {
      id: number;
      valid: boolean;
      timestamp: string;
    }[];
    assert.equal(records.length, stored);
    for (const r of records) assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const text = memfail(['events', '--db', h.dbPath]);
    assert.equal(await text.exited, 0, text.stderr());
    assert.match(text.stdout(), /GAP until/);
    for (const json of [true, false]) {
      const report = memfail(['report', '--db', h.dbPath, ...(json ? ['--json'] : [])]);
      assert.equal(await report.exited, 0, report.stderr());
      if (json) {
        const r = JSON.parse(report.stdout()) as { gaps: unknown[]; overall: { invalid: number } };
        assert.ok(r.gaps.length > 0);
        assert.ok(r.overall.invalid > 0);
        assert.equal((r as { quarantined?: number }).quarantined, 1);
      } else {
        assert.match(report.stdout(), /gaps? in the record/);
        assert.match(report.stdout(), /quarantined: {2}1 observation/);
      }
    }
    // Every stored failure is alerted once.
    await until(() => h.alerted.size === stored, `${stored} alerts`, 30_000).catch(() => {
      throw new Error(`alerted ${h.alerted.size} of ${stored}\n${h.watch.stderr().slice(-2000)}`);
    });
    assert.ok(
      [...h.alerted.values()].every((n) => n === 1),
      'no alert sent twice',
    );
    const metricsUrl = /metrics at (\S+)/.exec(h.watch.stderr())?.[1];
    assert.ok(metricsUrl);
    const metrics = await (await fetch(metricsUrl)).text();
    assert.match(metrics, /memfail_gaps_total\{vm="bad",reason="connection-lost"\} [1-9]/);
    // The peer sends one more event and SIGTERM follows at once: it is kept.
    const m = h.nextMarker++;
    h.expected.set(m, { rows: 1, valid: true });
    await h.peer.play([
      {
        kind: 'write',
        bytes: line(event(m, `${GOOD_DATA},"timestamp":{"seconds":9,"microseconds":9}`)),
      },
    ]);
    // Written; the agent has it within moments, and may not have committed it yet.
    await new Promise((r) => setTimeout(r, 50));
    h.watch.process.kill('SIGTERM');
    assert.equal(await h.watch.exited, 0, h.watch.stderr());
    h.check(false);
    assert.equal(h.seen.get(m)?.rows, 1);
    h.closeDb();
  });
});
