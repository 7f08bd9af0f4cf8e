import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildReport, reportText } from '../../src/agent/report.js';
import { Store } from '../../src/agent/store.js';
import { failure, invalidFailure, lifecycle, tempDir } from './fixtures.js';
import { formatReport } from './report-format.js';

const S = 1_000_000;

/** A day in the life of five VMs, written through a real store. */
function scenario(dir: string) {
  const store = scenarioStore(dir);
  const report = buildReport(store.failures({ includeUnreadable: true }), store.lifecycle());
  store.close();
  return report;
}

function scenarioStore(dir: string): Store {
  const store = Store.open(join(dir, 'events.db'));
  store.insert([
    lifecycle('boot', 'CONNECTED', 0),
    failure('boot', 1 * S, { action: 'inject', actionRequired: true }),
    failure('boot', 2 * S, { action: 'reset', actionRequired: true, recursive: true }),
    lifecycle('boot', 'SHUTDOWN', 2 * S + 100, { guest: true, reason: 'guest-reset' }),
    lifecycle('boot', 'DISCONNECTED', 2 * S + 200, { reason: 'closed' }),
    failure('host', 5 * S, { recipient: 'hypervisor', action: 'fatal', actionRequired: true }),
    lifecycle('host', 'DISCONNECTED', 5 * S + 100, { reason: 'closed' }),
    failure('mixed', 10 * S, { recipient: 'hypervisor', action: 'ignore' }),
    failure('mixed', 11 * S, { recipient: 'guest', action: 'ignore', recursive: true }),
    failure('mixed', 12 * S, { action: 'inject' }),
    lifecycle('mixed', 'STOP', 12 * S + 50),
    lifecycle('mixed', 'GUEST_PANICKED', 12 * S + 100, { action: 'pause' }),
    invalidFailure('mixed', 13 * S, { event: 'MEMORY_FAILURE', data: { recipient: 'moon' } }),
    failure('late', 20 * S, { action: 'inject' }),
    lifecycle('late', 'RESET', 200 * S, { guest: false, reason: 'host-qmp-system-reset' }),
    failure('calm', 30 * S, { action: 'inject' }),
    lifecycle('calm', 'DISCONNECTED', 31 * S, { reason: 'agent-stopped' }),
    // Only an unreadable failure; and a VM with lifecycle events but no failure.
    invalidFailure('junk', 40 * S, { event: 'MEMORY_FAILURE', data: 7 }),
    lifecycle('quiet', 'RESET', 41 * S),
  ]);
  return store;
}

function written(store: Store, json: boolean, horizonMs?: number): string {
  const options = { json, ...(horizonMs === undefined ? {} : { horizonMs }) };
  return [...reportText(store.reportSource(), options)].join('');
}

test('report counts failures per VM and overall by recipient, action and flags', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = scenario(dir);
    assert.deepEqual(
      r.vms.map((v) => [v.vm, v.failures]),
      [
        ['boot', 2],
        ['calm', 1],
        ['host', 1],
        ['junk', 0],
        ['late', 1],
        ['mixed', 3],
      ],
    );
    assert.equal(r.overall.failures, 8);
    assert.equal(r.overall.vms, 6);
    assert.deepEqual(r.overall.byRecipient, { hypervisor: 2, guest: 6 });
    assert.deepEqual(r.overall.byAction, { ignore: 2, inject: 4, fatal: 1, reset: 1 });
    assert.equal(r.overall.actionRequired, 3);
    assert.equal(r.overall.recursive, 2);
    assert.equal(r.overall.invalid, 2);
    assert.equal(r.overall.lastSeen, '2025-11-24T16:00:40.000000Z');
    const mixed = r.vms.find((v) => v.vm === 'mixed')!;
    assert.equal(mixed.invalid, 1);
    assert.equal(mixed.firstSeen, '2025-11-24T16:00:10.000000Z');
    assert.equal(mixed.lastSeen, '2025-11-24T16:00:13.000000Z');
    assert.equal(r.overall.firstSeen, '2025-11-24T16:00:01.000000Z');
  } finally {
    cleanup();
  }
});

test('outcomes are read from the lifecycle events that follow each failure', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = scenario(dir);
    const outcomes = Object.fromEntries(
      r.vms.map((v) => [v.vm, v.accounts.map((a) => [a.outcome, a.evidence?.event ?? null])]),
    );
    assert.deepEqual(outcomes, {
      // The first failure is followed by the second, not by the shutdown.
      boot: [
        ['guest-handled', null],
        ['guest-reset', 'SHUTDOWN'],
      ],
      calm: [['guest-handled', null]],
      host: [['vm-died', 'DISCONNECTED']],
      junk: [],
      late: [['guest-handled', null]],
      mixed: [
        ['hypervisor-ignored', null],
        ['guest-ignored', null],
        ['guest-panicked', 'GUEST_PANICKED'],
      ],
    });
    assert.deepEqual(r.overall.byOutcome, {
      'guest-handled': 3,
      'guest-ignored': 1,
      'hypervisor-ignored': 1,
      'guest-reset': 1,
      'guest-panicked': 1,
      'vm-shut-down': 0,
      'vm-died': 1,
    });
  } finally {
    cleanup();
  }
});

test("each failure line carries explain()'s account; text lists every VM", () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = scenario(dir);
    const boot = r.vms.find((v) => v.vm === 'boot')!;
    assert.match(boot.accounts[1]!.explanation, /boot — action-required error in guest memory/);
    assert.match(boot.accounts[1]!.explanation, /triple fault/);
    const text = formatReport(r);
    assert.match(text, /^8 memory failures on 6 VMs/);
    assert.match(text, /by action: {4}ignore 2, inject 4, fatal 1, reset 1/);
    for (const vm of ['boot', 'calm', 'host', 'late', 'mixed'])
      assert.match(text, new RegExp(`^${vm}: `, 'm'));
    assert.match(text, /2025-11-24T16:00:05.000000Z {2}vm-died +16:00:05.000 host — /);
  } finally {
    cleanup();
  }
});

test('the streamed report (counts from SQL, rows walked per VM) prints what buildReport does', () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = scenarioStore(dir);
    for (const horizonMs of [undefined, 500, 10 * 60_000]) {
      const whole = buildReport(store.failures({ includeUnreadable: true }), store.lifecycle(), {
        ...(horizonMs === undefined ? {} : { horizonMs }),
      });
      // The store's report also lists the record's gaps and quarantined rows (none here).
      const withGaps = { ...whole, gaps: [], quarantined: 0 };
      assert.equal(written(store, true, horizonMs), `${JSON.stringify(withGaps, null, 2)}\n`);
      assert.equal(written(store, false, horizonMs), formatReport(whole));
    }
    store.close();
  } finally {
    cleanup();
  }
});

test('an empty database gives an empty report', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = buildReport([], []);
    assert.equal(r.overall.failures, 0);
    assert.equal(r.overall.firstSeen, null);
    assert.match(formatReport(r), /^0 memory failures on 0 VMs\n/);
    const store = Store.open(join(dir, 'events.db'));
    assert.equal(
      written(store, true),
      `${JSON.stringify({ ...r, gaps: [], quarantined: 0 }, null, 2)}\n`,
    );
    assert.equal(written(store, false), formatReport(r));
    store.close();
  } finally {
    cleanup();
  }
});
