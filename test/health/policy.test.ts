/** Policy files: what is accepted, and every mistake named with its line and column. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_JSON,
  PolicyError,
  parsePolicy,
} from '../../src/health/policy.js';

function error(text: string): string {
  try {
    parsePolicy(text, 'health.json');
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return err.message;
  }
  assert.fail('policy was accepted');
}

describe('accepted', () => {
  test('the built-in policy has five rules, worst first', () => {
    assert.equal(DEFAULT_POLICY.rules.length, 5);
    assert.equal(DEFAULT_POLICY.source, 'built-in');
    assert.deepEqual(
      DEFAULT_POLICY.rules.map((r) => r.state),
      ['failing', 'failing', 'degraded', 'degraded', 'suspect'],
    );
    assert.ok(DEFAULT_POLICY_JSON.includes('"hypervisor-fatal"'));
  });
  test('vms defaults to 1; $schema is allowed; durations in s, m, h, d', () => {
    const p = parsePolicy(
      `{"$schema":"x","rules":[
        {"state":"suspect","kind":"any","atLeast":1,"within":"45s"},
        {"state":"suspect","kind":"any","atLeast":1,"within":"15m"},
        {"state":"degraded","kind":"any","atLeast":2,"within":"2h"},
        {"state":"failing","kind":"any","atLeast":2,"vms":2,"within":"3d"}]}`,
      'p.json',
    );
    assert.deepEqual(
      p.rules.map((r) => [r.vms, r.withinMs]),
      [
        [1, 45_000],
        [1, 900_000],
        [1, 7_200_000],
        [2, 259_200_000],
      ],
    );
  });
});

const MISTAKES: readonly [string, string, string][] = [
  ['not JSON at all', 'rules: []', 'health.json:1:1: unexpected "r", expected a value'],
  [
    'trailing comma',
    '{"rules": [\n  {"state":"failing","kind":"any","atLeast":1,"within":"1h"},\n]}',
    'health.json:3:1: trailing comma before ]',
  ],
  ['a comment', '{\n  // no\n  "rules": []}', 'health.json:2:3: comments are not allowed in JSON'],
  ['duplicate member', '{"rules": [], "rules": []}', 'health.json:1:15: duplicate member "rules"'],
  [
    'unterminated string',
    '{"rules": [\n{"state": "fail\n',
    'health.json:2:11: unterminated string',
  ],
  ['text after', '{"rules": []} x', 'health.json:1:15: unexpected text after the JSON value'],
  ['not an object', '[1]', 'health.json:1:1: the policy must be an object, not an array'],
  ['no rules', '{}', 'health.json:1:1: the policy needs "rules"'],
  [
    'empty rules',
    '{"rules": []}',
    'health.json:1:11: "rules" is empty: every host would be healthy',
  ],
  ['rules not an array', '{"rules": {}}', 'health.json:1:11: "rules" must be an array of rules'],
  [
    'unknown top member',
    '{"rules": [{"state":"failing","kind":"any","atLeast":1,"within":"1h"}],\n "window": "1h"}',
    'health.json:2:2: unknown member "window" in the policy (expected one of: $schema, rules)',
  ],
  [
    'rule not an object',
    '{"rules": [\n  "failing"]}',
    'health.json:2:3: rule 1 must be an object, not the string "failing"',
  ],
  [
    'state healthy',
    '{"rules": [\n  {"state": "healthy", "kind": "any", "atLeast": 1, "within": "1h"}]}',
    'health.json:2:13: rule 1: "state" must be suspect, degraded or failing, not "healthy"',
  ],
  [
    'state misspelt',
    '{"rules": [{"state": "broken", "kind": "any", "atLeast": 1, "within": "1h"}]}',
    'health.json:1:22: rule 1: "state" must be suspect, degraded or failing, not "broken"',
  ],
  [
    'state a number',
    '{"rules": [{"state": 3, "kind": "any", "atLeast": 1, "within": "1h"}]}',
    'health.json:1:22: rule 1 "state" must be a string, not the number 3',
  ],
  [
    'kind unknown',
    '{"rules": [{"state": "failing", "kind": "fatal", "atLeast": 1, "within": "1h"}]}',
    'health.json:1:41: rule 1: unknown "kind" "fatal" (expected one of: any, action-required, recursive, guest-reset, hypervisor, hypervisor-fatal)',
  ],
  [
    'atLeast zero',
    '{"rules": [{"state": "failing", "kind": "any", "atLeast": 0, "within": "1h"}]}',
    'health.json:1:59: rule 1 "atLeast" must be an integer ≥ 1, not the number 0',
  ],
  [
    'atLeast fractional',
    '{"rules": [{"state": "failing", "kind": "any", "atLeast": 1.5, "within": "1h"}]}',
    'health.json:1:59: rule 1 "atLeast" must be an integer ≥ 1, not the number 1.5',
  ],
  [
    'atLeast missing',
    '{"rules": [{"state": "failing", "kind": "any", "within": "1h"}]}',
    'health.json:1:12: rule 1 needs "atLeast"',
  ],
  [
    'vms above atLeast',
    '{"rules": [{"state": "failing", "kind": "any", "atLeast": 2, "vms": 3, "within": "1h"}]}',
    'health.json:1:69: rule 1: "vms" (3) cannot exceed "atLeast" (2): the rule could never match',
  ],
  [
    'within not a duration',
    '{"rules": [{"state": "failing", "kind": "any", "atLeast": 1, "within": "1 hour"}]}',
    'health.json:1:72: rule 1: "within" "1 hour" is not a duration (30s, 15m, 24h, 7d)',
  ],
  [
    'within zero',
    '{"rules": [{"state": "failing", "kind": "any", "atLeast": 1, "within": "0h"}]}',
    'health.json:1:72: rule 1: "within" "0h" is not a duration (30s, 15m, 24h, 7d)',
  ],
  [
    'unknown rule member',
    '{"rules": [\n {"state": "failing", "kind": "any", "atLeast": 1, "within": "1h"},\n {"state": "failing", "kind": "any", "atleast": 1, "within": "1h"}]}',
    'health.json:3:2: rule 2 needs "atLeast"',
  ],
  [
    'misspelt extra member',
    '{"rules": [\n {"state": "failing", "kind": "any", "atLeast": 1, "within": "1h", "vm": 2}]}',
    'health.json:2:68: unknown member "vm" in rule 1 (expected one of: state, kind, atLeast, vms, within)',
  ],
];

describe('refused whole, with the line', () => {
  for (const [name, text, message] of MISTAKES) {
    test(name, () => assert.equal(error(text), message));
  }
  test('a good rule before a bad one does not make a partial policy', () => {
    assert.throws(
      () =>
        parsePolicy(
          '{"rules": [{"state":"failing","kind":"any","atLeast":1,"within":"1h"}, {"state":"x"}]}',
          'p.json',
        ),
      PolicyError,
    );
  });
});

describe('the JSON Schema shipped for editors', () => {
  test('names the same states, kinds and members as the reader', async () => {
    const { readFileSync } = await import('node:fs');
    const { REPO_ROOT } = await import('../qapi/qemu-source.js');
    const { join } = await import('node:path');
    const { FAILURE_KINDS } = await import('../../src/health/policy.js');
    const schema = JSON.parse(
      readFileSync(join(REPO_ROOT, 'schema/json-schema/health-policy.json'), 'utf8'),
    );
    const rule = schema.$defs.rule;
    assert.deepEqual(rule.properties.kind.enum, FAILURE_KINDS);
    assert.deepEqual(rule.properties.state.enum, ['suspect', 'degraded', 'failing']);
    assert.deepEqual(Object.keys(rule.properties), ['state', 'kind', 'atLeast', 'vms', 'within']);
    assert.deepEqual(rule.required, ['state', 'kind', 'atLeast', 'within']);
    const pattern = new RegExp(rule.properties.within.pattern);
    for (const r of DEFAULT_POLICY.rules) assert.match(r.within, pattern);
  });
});
