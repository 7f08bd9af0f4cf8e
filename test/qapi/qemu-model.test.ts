/**
 * Conformance with QEMU 7.2's own front end: the full QEMU schema gives the
 * same entities and the same visitor dump as scripts/qapi does, and every
 * case of QEMU's tests/qapi-schema corpus gives exactly QEMU's error text or
 * exactly QEMU's dump.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dumpSchema } from './dump.js';
import { Include } from '../../src/qapi/entities.js';
import { checkSchemaFile, loadSchema } from '../../src/qapi/load.js';
import { QEMU_SRC, REPO_ROOT, requireQemuSource } from './qemu-source.js';
import { random } from '../support/random.js';

function runQemuFrontEnd(mode: 'entities' | 'dump' | 'batch', ...schemaFiles: string[]): string {
  return execFileSync(
    'python3',
    [`${REPO_ROOT}test/qapi/qemu_front_end.py`, QEMU_SRC, mode, ...schemaFiles],
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

/** A seeded integer below n (test/support/random.ts): the same mutants on every run. */
function prng(seed: number): (n: number) => number {
  const next = random(seed);
  return (n) => Math.floor(next() * n);
}

/** Fragments that make mutants hit the semantic checks, not only the parser. */
const FRAGMENTS = [
  '',
  "'",
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  "'any'",
  "'q_empty'",
  "'if'",
  "{'not': 'X'}",
  "'base'",
  "'EnumOne'",
  "'UserDefOne'",
  "'*x'",
  'true',
  "'boxed': true,",
  "'data': {},",
  "'features': ['deprecated'],",
  "'returns': 'int',",
  "'str'",
  "['int']",
  "'UserDefAlternate'",
  "'UserDefFlatUnion'",
  "'discriminator': 'enum1',",
  "'type'",
  '# @',
  '\n##\n',
];

describe('differential: mutated schemas, QEMU front end vs ours', () => {
  test('same error text, or same dump, for every mutant QEMU does not crash on', (t) => {
    const corpus = requireQemuSource('tests/qapi-schema');
    const seeds = [
      readFileSync(`${corpus}/qapi-schema-test.json`, 'utf8'),
      readFileSync(`${corpus}/doc-good.json`, 'utf8'),
      readFileSync(`${REPO_ROOT}schema/qmp-core.json`, 'utf8'),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'memfail-qapi-diff-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // qapi-schema-test.json includes these.
    mkdirSync(join(dir, 'include'));
    copyFileSync(`${corpus}/include/sub-module.json`, join(dir, 'include/sub-module.json'));
    copyFileSync(`${corpus}/sub-sub-module.json`, join(dir, 'sub-sub-module.json'));

    const random = prng(0x7a2);
    const files: string[] = [];
    for (let i = 0; i < 150; i++) {
      let text = seeds[random(seeds.length)] ?? '';
      for (let m = 1 + random(4); m > 0; m--) {
        const at = random(text.length + 1);
        const cut = [0, 0, 1, 2, 5, 10, 30][random(7)] ?? 0;
        text =
          text.slice(0, at) + (FRAGMENTS[random(FRAGMENTS.length)] ?? '') + text.slice(at + cut);
      }
      const file = join(dir, `m${i}.json`);
      writeFileSync(file, text);
      files.push(file);
    }

    const qemu = JSON.parse(runQemuFrontEnd('batch', ...files)) as Record<
      string,
      { error: string | null; dump: string | null; crash: string | null }
    >;
    let compared = 0;
    let accepted = 0;
    for (const file of files) {
      const expected = qemu[file];
      assert.ok(expected, `no QEMU result for ${file}`);
      if (expected.crash !== null) continue; // QEMU's own assertion failures have no text to match
      compared++;
      const result = checkSchemaFile(file);
      if (expected.error !== null) {
        assert.equal(result.errors.map((e) => e.text).join('\n'), expected.error, file);
      } else {
        accepted++;
        assert.deepEqual(result.errors, [], file);
        assert.equal(dumpSchema(loadSchema(file)), expected.dump, file);
      }
    }
    t.diagnostic(
      `${compared} mutants compared (${accepted} accepted, dumps compared), ${files.length - compared} skipped: QEMU crashed`,
    );
    assert.ok(compared >= 140, `only ${compared} mutants compared`);
    assert.ok(accepted >= 5, `only ${accepted} mutants accepted: too few dumps compared`);
  });
});
