/** `memfail health` end to end over a real store, and the health metric. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { Store } from '../../src/agent/store.js';
import type { HostHealth } from '../../src/health/evaluate.js';
import { hostHealth } from '../../src/health/host.js';
import { registerHealthMetric } from '../../src/health/metrics.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { BASE_SECONDS, failure, tempDir } from '../agent/fixtures.js';
import { runCli } from '../support/cli.js';

const run = (args: string[]) => runCli(args);

/** Offset (µs from the fixtures' base) of `agoMs` before now. */
function ago(agoMs: number): number {
  return (Date.now() - agoMs) * 1000 - BASE_SECONDS * 1_000_000;
}

const tmp = tempDir('memfail-health-');
after(tmp.cleanup);

function storeWith(name: string, obs: Parameters<Store['insert']>[0]): string {
  const path = join(tmp.dir, name);
  const store = Store.open(path);
  store.insert(obs);
  store.close();
  return path;
}

describe('memfail health', () => {
  const failingDb = storeWith('failing.db', [
    failure('web-1', ago(3_600_000), { actionRequired: true }),
    failure('web-2', ago(1_800_000), { actionRequired: true }),
    failure('web-1', ago(60_000), { actionRequired: true }),
  ]);
  const quietDb = storeWith('quiet.db', [failure('web-1', ago(30 * 86_400_000))]);

  test('a host with 3 AR failures on 2 VMs is failing, with its reasons', async () => {
    const r = await run(['health', '--db', failingDb, '--host', 'node-7']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'node-7: failing');
    assert.match(
      lines[1] ?? '',
      /^ {2}failing {2}3 action-required failures on 2 VMs in 24 h \(last at .* on web-1\) {2}\(rule 2\)$/,
    );
    assert.match(lines[2] ?? '', /^ {2}degraded 3 action-required failures on 2 VMs in 24 h/);
    assert.match(lines[3] ?? '', /^ {2}suspect {2}3 memory failures on 2 VMs in 7 d/);
    assert.match(lines[4] ?? '', /^ {2}policy: built-in; evaluated at /);
  });

  test('--json', async () => {
    const r = await run(['health', '--db', failingDb, '--host', 'node-7', '--json']);
    const v = JSON.parse(r.stdout) as HostHealth;
    assert.equal(v.state, 'failing');
    assert.equal(v.level, 3);
    assert.deepEqual(
      v.reasons.map((x) => x.rule),
      [2, 3, 5],
    );
  });

  test('old failures only: healthy', async () => {
    const r = await run(['health', '--db', quietDb, '--host', 'node-8']);
    assert.equal(r.stdout.split('\n')[0], 'node-8: healthy');
  });

  test('--policy from a file changes the verdict', async () => {
    const file = join(tmp.dir, 'strict.json');
    writeFileSync(
      file,
      '{"rules": [{"state": "failing", "kind": "any", "atLeast": 1, "within": "60d"}]}\n',
    );
    const r = await run(['health', '--db', quietDb, '--host', 'n', '--policy', file, '--json']);
    const v = JSON.parse(r.stdout) as HostHealth;
    assert.equal(v.state, 'failing');
    assert.equal(v.policy, file);
  });

  test('--print-policy with --policy prints the file as read, defaults filled in', async () => {
    const file = join(tmp.dir, 'short.json');
    writeFileSync(
      file,
      '{"rules": [{"state": "degraded", "kind": "recursive", "atLeast": 2, "within": "1h"}]}',
    );
    const r = await run(['health', '--policy', file, '--print-policy']);
    assert.deepEqual(JSON.parse(r.stdout), {
      rules: [{ state: 'degraded', kind: 'recursive', atLeast: 2, vms: 1, within: '1h' }],
    });
  });

  test('a bad policy file: its line, exit 1, nothing printed on stdout', async () => {
    const file = join(tmp.dir, 'bad.json');
    writeFileSync(
      file,
      '{"rules": [\n  {"state": "failing", "kind": "any", "atLeast": 1, "within": "1 day"}\n]}\n',
    );
    const r = await run(['health', '--db', failingDb, '--policy', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `memfail: ${file}:2:63: rule 1: "within" "1 day" is not a duration (30s, 15m, 24h, 7d)\n`,
    );
  });

  test('a missing database', async () => {
    const r = await run(['health', '--db', join(tmp.dir, 'none.db')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no database at/);
  });

  test('--print-policy prints the built-in policy, which parses back to the same rules', async () => {
    const r = await run(['health', '--print-policy']);
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.stdout).rules.length, DEFAULT_POLICY.rules.length);
  });
});

describe('memfail report --health', () => {
  test('text: the report, then the verdict', async () => {
    const plain = await run(['report', '--db', join(tmp.dir, 'failing.db')]);
    const r = await run([
      'report',
      '--db',
      join(tmp.dir, 'failing.db'),
      '--health',
      '--host',
      'node-7',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(plain.stdout), 'the report itself changed');
    assert.match(
      r.stdout.slice(plain.stdout.length),
      /^\nhost health: node-7: failing\n {2}failing {2}3 action-required/,
    );
  });
  test('JSON: a health member beside overall and vms', async () => {
    const plain = JSON.parse(
      (await run(['report', '--db', join(tmp.dir, 'failing.db'), '--json'])).stdout,
    );
    const r = await run([
      'report',
      '--db',
      join(tmp.dir, 'failing.db'),
      '--json',
      '--health',
      '--host',
      'n',
    ]);
    const parsed = JSON.parse(r.stdout) as { health: HostHealth };
    assert.deepEqual(Object.keys(parsed), ['overall', 'vms', 'gaps', 'quarantined', 'health']);
    assert.deepEqual({ ...parsed, health: undefined }, { ...plain, health: undefined });
    assert.equal(parsed.health.state, 'failing');
    assert.equal(parsed.health.host, 'n');
  });
  test('JSON: a store with only old failures is healthy', async () => {
    const r = await run([
      'report',
      '--db',
      join(tmp.dir, 'quiet.db'),
      '--json',
      '--health',
      '--host',
      'q',
    ]);
    assert.equal((JSON.parse(r.stdout) as { health: HostHealth }).health.state, 'healthy');
  });
  test('--policy implies --health; a bad one is a usage error', async () => {
    const file = join(tmp.dir, 'bad2.json');
    writeFileSync(file, '{"rules": 1}');
    const r = await run(['report', '--db', join(tmp.dir, 'failing.db'), '--policy', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /bad2\.json:1:11: "rules" must be an array of rules/);
  });
});

describe('memfail_host_health', () => {
  test('one series per host with the level as value and the state as label', async () => {
    const registry = new Registry();
    const store = Store.open(join(tmp.dir, 'failing.db'), { mustExist: true });
    let verdicts = [hostHealth(store, DEFAULT_POLICY, 'node-7')];
    registerHealthMetric(registry, () => verdicts);
    assert.match(
      await registry.metrics(),
      /^memfail_host_health\{host="node-7",state="failing"\} 3$/m,
    );
    verdicts = [{ ...verdicts[0]!, state: 'healthy', level: 0 }];
    const text = await registry.metrics();
    assert.match(text, /^memfail_host_health\{host="node-7",state="healthy"\} 0$/m);
    assert.doesNotMatch(text, /state="failing"/);
    store.close();
  });
});
