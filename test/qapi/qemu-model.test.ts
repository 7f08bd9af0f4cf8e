/**
 * Conformance with QEMU 7.2's own front end: the full QEMU schema gives the
 * same entities and the same visitor dump as scripts/qapi does, and every
 * case of QEMU's tests/qapi-schema corpus gives exactly QEMU's error text or
 * exactly QEMU's dump.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { dumpSchema } from '../../src/qapi/dump.js';
import { Include } from '../../src/qapi/entities.js';
import { checkSchemaFile, loadSchema } from '../../src/qapi/load.js';
import { QEMU_SRC, REPO_ROOT, requireQemuSource } from './qemu-source.js';

function runQemuFrontEnd(mode: 'entities' | 'dump', schemaFile: string): string {
  return execFileSync(
    'python3',
    [`${REPO_ROOT}test/qapi/qemu_front_end.py`, QEMU_SRC, mode, schemaFile],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
}

describe("QEMU 7.2's full schema (qapi/qapi-schema.json)", () => {
  test('is accepted and holds the same entities, in the same order and modules, as QEMU builds', () => {
    const file = requireQemuSource('qapi/qapi-schema.json');
    const expected = JSON.parse(runQemuFrontEnd('entities', file)) as [string, string, string][];
    const schema = loadSchema(file);
    const actual = schema.entities.map((e) => [
      e.meta,
      e instanceof Include ? e.subModule : e.name,
      e.module,
    ]);
    assert.equal(actual.length, expected.length);
    assert.deepEqual(actual, expected);
    // Sanity: the implicit types are part of what was compared.
    assert.ok(actual.some(([, name]) => name === 'q_obj_qmp_capabilities-arg'));
    assert.ok(actual.some(([meta, name]) => meta === 'array' && name === 'SchemaInfoList'));
  });

  test("visits to exactly QEMU's test-qapi dump (types, members, variants, conditions, features, docs)", () => {
    const file = requireQemuSource('qapi/qapi-schema.json');
    const expected = runQemuFrontEnd('dump', file);
    const actual = dumpSchema(loadSchema(file));
    assert.equal(actual.length, expected.length);
    assert.ok(actual === expected, 'dump differs from QEMU test-qapi output');
  });
});

describe("QEMU's tests/qapi-schema corpus", () => {
  const dir = requireQemuSource('tests/qapi-schema');
  const meson = readFileSync(`${dir}/meson.build`, 'utf8');
  const cases = [...meson.matchAll(/'([^']+)\.json'/g)].map((m) => m[1] ?? '');

  test('lists the whole corpus', () => {
    assert.ok(cases.length >= 200, `only ${cases.length} cases in meson.build`);
  });

  for (const name of cases) {
    test(name, () => {
      const expectedErr = readFileSync(`${dir}/${name}.err`, 'utf8');
      const result = checkSchemaFile(`${dir}/${name}.json`);
      // As `schema check` prints it, with file names relative to the corpus as in the .err files.
      const actualErr = result.errors
        .map((e) => `${e.text}\n`)
        .join('')
        .replaceAll(`${dir}/`, '');
      if (expectedErr !== '') {
        assert.equal(result.ok, false);
        assert.equal(actualErr, expectedErr);
        return;
      }
      assert.equal(actualErr, '');
      assert.equal(result.ok, true);
      const expectedOut = readFileSync(`${dir}/${name}.out`, 'utf8');
      assert.equal(dumpSchema(loadSchema(`${dir}/${name}.json`)), expectedOut);
    });
  }
});
