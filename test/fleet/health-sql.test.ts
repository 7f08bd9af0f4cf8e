/**
 * The dashboard's fleet verdicts judged inside PostgreSQL (fleetHealthInSql)
 * against src/health's evaluate() over the same failures: same state, same
 * reasons word for word, on a varied fleet and at every boundary of a rule
 * (exactly atLeast, exactly `within` ago, exactly `vms` VMs, after now).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Action, Recipient } from '../../src/event/model.js';
import { openPg, type Sql } from '../../src/fleet/pg.js';
import { fleetHealth, fleetHealthInSql } from '../../src/fleet/pg-health.js';
import { migratePg } from '../../src/fleet/pg-schema.js';
import { evaluate, type HostFailure, type HostHealth } from '../../src/health/evaluate.js';
import { DEFAULT_POLICY, type Policy, parsePolicy } from '../../src/health/policy.js';
import { random } from '../support/random.js';
import { type PostgresServer, startPostgres } from './services.js';

let pg: PostgresServer;
let sql: Sql;

const NOW = new Date(Date.UTC(2026, 0, 15, 12, 0, 0));
const NOW_US = NOW.getTime() * 1000;
const HOUR_US = 3_600_000_000;
const DAY_US = 24 * HOUR_US;

interface Row {
  host: string;
  vm: string;
  recipient: Recipient | null;
  action: Action | null;
  actionRequired: boolean;
  recursive: boolean;
  seenUs: number;
}

/** Every kind of every rule below, with vms thresholds above 1. */
const WIDE_POLICY: Policy = parsePolicy(
  `{ "rules": [
    { "state": "failing", "kind": "hypervisor-fatal", "atLeast": 1, "within": "7d" },
    { "state": "failing", "kind": "action-required", "atLeast": 3, "vms": 2, "within": "24h" },
    { "state": "degraded", "kind": "guest-reset", "atLeast": 2, "vms": 2, "within": "2d" },
    { "state": "degraded", "kind": "hypervisor", "atLeast": 2, "within": "36h" },
    { "state": "degraded", "kind": "recursive", "atLeast": 1, "within": "24h" },
    { "state": "suspect", "kind": "any", "atLeast": 4, "vms": 3, "within": "3d" },
    { "state": "suspect", "kind": "action-required", "atLeast": 1, "within": "90m" }
  ] }`,
  'wide.json',
);

const ROWS: Row[] = [];

function add(host: string, vm: string, seenUs: number, f: Partial<Row> = {}): void {
  ROWS.push({
    host,
    vm,
    recipient: 'guest',
    action: 'inject',
    actionRequired: false,
    recursive: false,
    seenUs,
    ...f,
  });
}

function buildFleet(): void {
  const rnd = random(15);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // A varied fleet: 0–14 failures per host over the last 9 days (and a few
  // after `now`), every recipient/action/flag mix, some unparsed rows.
  for (let h = 0; h < 400; h++) {
    const n = Math.floor(rnd() * 15);
    for (let i = 0; i < n; i++) {
      const invalid = rnd() < 0.03;
      add(
        `host${h}`,
        `vm${Math.floor(rnd() * 4)}`,
        NOW_US - Math.floor(rnd() * 9 * DAY_US) + (rnd() < 0.02 ? HOUR_US : 0),
        {
          recipient: invalid ? null : pick(['guest', 'hypervisor'] as const),
          action: invalid ? null : pick(['ignore', 'inject', 'fatal', 'reset'] as const),
          actionRequired: rnd() < 0.4,
          recursive: rnd() < 0.1,
        },
      );
    }
  }
  const ar = { actionRequired: true };
  // Exactly atLeast (3) action-required on exactly vms (2) VMs, the oldest
  // exactly 24 h ago: failing.
  add('edge-exact', 'a', NOW_US - DAY_US, ar);
  add('edge-exact', 'b', NOW_US - HOUR_US, ar);
  add('edge-exact', 'a', NOW_US, ar);
  // The same, the oldest 1 µs too old: 2 in the window (degraded under the
  // built-in policy, not failing).
  add('edge-old', 'a', NOW_US - DAY_US - 1, ar);
  add('edge-old', 'b', NOW_US - HOUR_US, ar);
  add('edge-old', 'a', NOW_US, ar);
  // 3 action-required on one VM: below vms.
  for (const h of [1, 2, 3]) add('edge-onevm', 'a', NOW_US - h * HOUR_US, ar);
  // A failure 1 µs after now counts nowhere.
  add('edge-future', 'a', NOW_US + 1, { recipient: 'hypervisor', action: 'fatal' });
  // A fatal hypervisor failure exactly 7 days ago, another 1 µs before that.
  add('edge-week', 'q', NOW_US - 7 * DAY_US, { recipient: 'hypervisor', action: 'fatal' });
  add('edge-week', 'q', NOW_US - 7 * DAY_US - 1, { recipient: 'hypervisor', action: 'fatal' });
  add('edge-week-old', 'q', NOW_US - 7 * DAY_US - 1, { recipient: 'hypervisor', action: 'fatal' });
  // Two VMs share the last instant: the smaller name is the one named.
  add('edge-tie', 'zz', NOW_US - 2 * HOUR_US, ar);
  add('edge-tie', 'aa', NOW_US - 2 * HOUR_US, ar);
  add('edge-tie', 'mm', NOW_US - 5 * HOUR_US, ar);
  // Guest resets on 2 VMs 2 days ago to the µs; one failure on a sub-ms time.
  add('edge-reset', 'a', NOW_US - 2 * DAY_US, { action: 'reset' });
  add('edge-reset', 'b', NOW_US - 2 * DAY_US + 1, { action: 'reset' });
  add('edge-reset', 'b', NOW_US - 1234567, { action: 'reset', recursive: true });
  // Only unparsed failures: healthy.
  add('edge-invalid', 'a', NOW_US - HOUR_US, { recipient: null, action: null });
}

/** evaluate() over the rows; among failures at the same instant, the smaller VM first. */
function expected(policy: Policy): Map<string, HostHealth> {
  const byHost = new Map<string, HostFailure[]>();
  const rows = [...ROWS].sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
  for (const r of rows) {
    if (r.recipient === null || r.action === null) continue;
    const list = byHost.get(r.host) ?? [];
    list.push({
      vm: r.vm,
      failure: {
        recipient: r.recipient,
        action: r.action,
        actionRequired: r.actionRequired,
        recursive: r.recursive,
      },
      atMs: r.seenUs / 1000,
    });
    byHost.set(r.host, list);
  }
  const out = new Map<string, HostHealth>();
  for (const host of new Set(ROWS.map((r) => r.host))) {
    out.set(host, evaluate(policy, host, byHost.get(host) ?? [], NOW));
  }
  return out;
}

function judged(found: Map<string, HostHealth>, policy: Policy): Map<string, HostHealth> {
  const out = new Map<string, HostHealth>();
  for (const host of new Set(ROWS.map((r) => r.host))) {
    out.set(host, found.get(host) ?? evaluate(policy, host, [], NOW));
  }
  return out;
}

before(async () => {
  pg = await startPostgres(['fsync=off']);
  sql = openPg(pg.url);
  await migratePg(sql);
  buildFleet();
  const records = ROWS.map((r, i) => ({
    host: r.host,
    vm: r.vm,
    recipient: r.recipient,
    action: r.action,
    action_required: r.recipient === null ? null : r.actionRequired,
    recursive: r.recipient === null ? null : r.recursive,
    ts_seconds: Math.floor(r.seenUs / 1_000_000),
    ts_micros: r.seenUs % 1_000_000,
    seen_us: r.seenUs,
    received_us: r.seenUs,
    raw: '{}',
    valid: r.recipient !== null,
    dedup: String(i),
  }));
  for (let i = 0; i < records.length; i += 500) {
    await sql`INSERT INTO memory_failure ${sql(records.slice(i, i + 500))}`;
  }
});

after(async () => {
  await sql?.end();
  await pg?.dispose();
});

for (const [name, policy] of [
  ['the built-in policy', DEFAULT_POLICY],
  ['a policy with every kind and vms thresholds', WIDE_POLICY],
] as const) {
  test(`SQL verdicts equal evaluate()'s, state and reasons, under ${name}`, async () => {
    const want = expected(policy);
    const got = judged(await fleetHealthInSql(sql, policy, NOW), policy);
    assert.equal(got.size, want.size);
    for (const [host, health] of want) assert.deepEqual(got.get(host), health, host);
    // And the streaming path the CLI uses agrees too.
    const streamed = judged(await fleetHealth(sql, policy, NOW), policy);
    for (const [host, health] of want) {
      assert.equal(streamed.get(host)?.state, health.state, host);
    }
    // The fleet is varied: every state occurs.
    const states = new Set([...got.values()].map((h) => h.state));
    assert.deepEqual([...states].sort(), ['degraded', 'failing', 'healthy', 'suspect']);
  });
}

test('the boundaries decide as evaluate() does', async () => {
  const got = await fleetHealthInSql(sql, DEFAULT_POLICY, NOW);
  const state = (h: string) => got.get(h)?.state ?? 'healthy';
  assert.equal(state('edge-exact'), 'failing');
  assert.equal(state('edge-old'), 'degraded');
  assert.equal(state('edge-onevm'), 'degraded');
  assert.equal(state('edge-future'), 'healthy');
  assert.equal(state('edge-week'), 'failing');
  assert.equal(state('edge-week-old'), 'healthy');
  assert.equal(state('edge-invalid'), 'healthy');
  assert.equal(
    got.get('edge-exact')?.reasons[0]?.text,
    '3 action-required failures on 2 VMs in 24 h (last at 2026-01-15T12:00:00.000Z on a)',
  );
  assert.match(
    got.get('edge-tie')?.reasons[0]?.text ?? '',
    /last at 2026-01-15T10:00:00\.000Z on aa\)$/,
  );
});
