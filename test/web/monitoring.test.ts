/**
 * The shipped Grafana dashboard and Prometheus rules (deploy/): promtool from
 * Debian's prometheus package checks and unit-tests the rules, and every
 * metric and label they name must be one a real `memfail watch --metrics`
 * exports (scraped here from an agent watching a simulated VM that took a failure).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_POLICY_JSON } from '../../src/health/policy.js';
import { memfail, until } from '../agent/child.js';
import { tempDir } from './fixtures.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const RULES = join(DEPLOY, 'prometheus/memfail-rules.yml');
const DASHBOARD = join(DEPLOY, 'grafana/memfail-dashboard.json');
const PROMTOOL = '/usr/bin/promtool';
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

describe('Prometheus rules and Grafana dashboard', () => {
  test('promtool checks the rules and their unit tests pass', () => {
    const check = spawnSync(PROMTOOL, ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 11 rules found/);
    const unit = spawnSync(PROMTOOL, ['test', 'rules', 'memfail-rules.test.yml'], {
      cwd: join(DEPLOY, 'prometheus'),
      encoding: 'utf8',
    });
    assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  });

  test('the rules cover failure rate, fatal failures, agent down, outbox backlog, host health', () => {
    const text = readFileSync(RULES, 'utf8');
    const alerts = [...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    for (const name of [
      'MemfailFailureRateHigh',
      'MemfailFatalFailure',
      'MemfailAgentDown',
      'MemfailAlertBacklog',
      'MemfailHostUnhealthy',
      'MemfailHostFailing',
    ]) {
      assert.ok(alerts.includes(name), `${name} missing`);
    }
  });

  test('every metric and label the dashboard and rules use is one memfail exports', async () => {
    const exported = await scrapeRealAgent();
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    assert.equal(dashboard.uid, 'memfail');
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
    ];
    assert.ok(exprs.length >= 10, `only ${exprs.length} queries`);
    const rules = readFileSync(RULES, 'utf8');
    const ruleExprs = [...rules.matchAll(/expr: (>-\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!);
    assert.equal(ruleExprs.length, 11);
    const used = new Map<string, Set<string>>();
    for (const expr of [...exprs, ...ruleExprs]) {
      for (const m of expr.matchAll(/\b(memfail_[a-z_]+)(\{([^}]*)\})?/g)) {
        const labels = used.get(m[1]!) ?? new Set<string>();
        for (const l of (m[3] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)/g)) labels.add(l[1]!);
        used.set(m[1]!, labels);
      }
      // Labels aggregated by must exist on some memfail series (or be the target's).
      for (const by of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of by[1]!.split(',').map((s) => s.trim())) {
          const known =
            label === 'le' ||
            TARGET_LABELS.includes(label) ||
            [...exported.values()].some((labels) => labels.has(label));
          assert.ok(known, `label '${label}' in "${expr}" is not exported`);
        }
      }
    }
    assert.ok(used.size >= 7, `only ${[...used.keys()].join(', ')}`);
    for (const [name, labels] of used) {
      const have = exported.get(name);
      assert.ok(have, `${name} is used but memfail does not export it`);
      for (const label of labels) {
        assert.ok(
          have.has(label) || TARGET_LABELS.includes(label),
          `${name} has no label '${label}'`,
        );
      }
    }
  });
});

interface Dashboard {
  uid: string;
  panels: { targets?: { expr: string }[] }[];
  templating: { list: { definition?: string }[] };
}

/** Metric name (with _bucket/_sum/_count for histograms) → label names seen on its samples. */
async function scrapeRealAgent(): Promise<Map<string, Set<string>>> {
  const { dir, cleanup } = tempDir('memfail-web-metrics-');
  const sock = join(dir, 'vm.sock');
  // With a policy, watch also exports the health verdict (memfail_host_health).
  const policy = join(dir, 'health.json');
  writeFileSync(policy, DEFAULT_POLICY_JSON);
  const sim = memfail(['sim', '--listen', `unix:${sock}`]);
  const watch = memfail([
    'watch',
    `vm1=unix:${sock}`,
    '--db',
    join(dir, 'events.db'),
    '--metrics',
    '127.0.0.1:0',
    '--webhook',
    'http://127.0.0.1:9/unreachable',
    '--policy',
    policy,
    '--host',
    'node-7',
  ]);
  try {
    await until(() => /metrics at (http\S+)/.test(watch.stderr()), 'the metrics address');
    await until(() => /connected/i.test(watch.stderr()), 'the VM connection');
    const url = /metrics at (http\S+)/.exec(watch.stderr())![1]!;
    execFileSync(process.execPath, [
      fileURLToPath(new URL('../../../bin/memfail.js', import.meta.url)),
      'inject',
      `unix:${sock}`,
      '--preset',
      'ar',
    ]);
    let body = '';
    // Scraped until the failed webhook attempt shows: then every labelled metric has samples.
    const deadline = Date.now() + 30_000;
    while (
      !body.includes('memfail_alert_deliveries_total{') ||
      !body.includes('memfail_host_health{host="node-7"')
    ) {
      assert.ok(Date.now() < deadline, `no alert attempt in the metrics:\n${body}`);
      await new Promise((r) => setTimeout(r, 50));
      body = await (await fetch(url)).text();
    }
    const exported = new Map<string, Set<string>>();
    for (const m of body.matchAll(/^# TYPE (\w+) (\w+)$/gm)) {
      const names =
        m[2] === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m[1] + s) : [m[1]!];
      for (const n of names) exported.set(n, new Set());
    }
    for (const m of body.matchAll(/^(\w+)\{([^}]*)\}/gm)) {
      for (const l of m[2]!.matchAll(/(\w+)="/g)) exported.get(m[1]!)?.add(l[1]!);
    }
    return exported;
  } finally {
    watch.process.kill('SIGTERM');
    sim.process.kill('SIGTERM');
    await Promise.all([watch.exited, sim.exited]);
    cleanup();
  }
}
