import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialectFromSchema } from '../../src/agent/dialect-probe.js';
import { schemaInfo as qemuSchema } from '../../src/generated/qemu/introspection.js';
import { schemaInfo as seedSchema } from '../../src/generated/seed/introspection.js';

test('the dialect is read from our own introspection of each schema', () => {
  assert.equal(dialectFromSchema(qemuSchema), 'qemu');
  assert.equal(dialectFromSchema(seedSchema), 'seed');
});

test('masked type names, as real QEMU sends them, are followed through the event', () => {
  const masked = (members: unknown[], enumValues: string[]) => [
    { name: 'MEMORY_FAILURE', 'meta-type': 'event', 'arg-type': '42' },
    { name: '42', 'meta-type': 'object', members },
    {
      name: '43',
      'meta-type': 'enum',
      members: enumValues.map((name) => ({ name })),
      values: enumValues,
    },
  ];
  assert.equal(
    dialectFromSchema(
      masked(
        [
          { name: 'recipient', type: '44' },
          { name: 'action', type: '43' },
        ],
        [],
      ),
    ),
    'qemu',
  );
  assert.equal(
    dialectFromSchema(
      masked([{ name: 'action', type: '43' }], ['hypervisor-ignore', 'guest-mce-inject']),
    ),
    'seed',
  );
});

test('no MEMORY_FAILURE, or not a schema at all: unknown', () => {
  assert.equal(dialectFromSchema([{ name: 'STOP', 'meta-type': 'event', 'arg-type': '0' }]), null);
  assert.equal(dialectFromSchema({ not: 'a list' }), null);
  assert.equal(dialectFromSchema([]), null);
});
