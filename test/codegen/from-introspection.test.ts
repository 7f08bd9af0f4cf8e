/** Validators from a server's query-qmp-schema answer: bad answers are clear errors, masks are just keys. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IntrospectionError,
  modelFromIntrospection,
  validatorFromIntrospection,
} from '../../src/codegen/from-introspection.js';
import type { SchemaInfo } from '../../src/codegen/introspect-types.js';

/** A masked answer as QEMU would give it for one event with an int list and an enum. */
const ANSWER: SchemaInfo[] = [
  { name: 'TICK', 'meta-type': 'event', 'arg-type': '0' },
  {
    name: '0',
    'meta-type': 'object',
    members: [
      { name: 'counts', type: '[int]' },
      { name: 'mode', type: '1', default: null },
    ],
  },
  { name: '[int]', 'meta-type': 'array', 'element-type': 'int' },
  { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
  {
    name: '1',
    'meta-type': 'enum',
    members: [{ name: 'slow' }, { name: 'fast' }],
    values: ['slow', 'fast'],
  },
];

test('a masked answer validates by structure', () => {
  const v = validatorFromIntrospection(ANSWER);
  assert.ok(v.validateEvent('TICK', { counts: [1, 2] }).ok);
  assert.ok(v.validateEvent('TICK', { counts: [], mode: 'fast' }).ok);
  const bad = v.validateEvent('TICK', { counts: [1, 'x'] });
  assert.equal(bad.ok ? '' : bad.message, 'data.counts[1]: expected int, got "x"');
  const mode = v.validateEvent('TICK', { counts: [], mode: 'warp' });
  assert.equal(
    mode.ok ? '' : mode.message,
    `data.mode: expected one of 'slow', 'fast', got "warp"`,
  );
});

test('arrays the answer mentions but does not list are made up', () => {
  const answer = ANSWER.filter((i) => i.name !== '[int]');
  assert.ok(validatorFromIntrospection(answer).validateEvent('TICK', { counts: [3] }).ok);
});

test('malformed answers are IntrospectionErrors naming the entry', () => {
  assert.throws(
    () => modelFromIntrospection({}),
    new IntrospectionError('query-qmp-schema result is not an array'),
  );
  assert.throws(() => modelFromIntrospection([1]), /entry 0 is not a SchemaInfo object/);
  assert.throws(
    () => modelFromIntrospection([{ name: 'x', 'meta-type': 'widget' }]),
    /entry 0 \('x'\) has unknown meta-type/,
  );
  assert.throws(
    () => modelFromIntrospection([{ name: 'x', 'meta-type': 'object' }]),
    /entry 0 is malformed/,
  );
  assert.throws(
    () => modelFromIntrospection([{ name: 'E', 'meta-type': 'event', 'arg-type': '7' }]),
    /type '7' is used but not listed/,
  );
});
