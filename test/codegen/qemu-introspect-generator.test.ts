/**
 * Our introspection against QEMU's own generator (scripts/qapi/introspect.py
 * run by python3 on the fetched source): the same SchemaInfo list, entry for
 * entry, masked and unmasked, for QEMU 7.2's whole schema, every valid
 * schema of QEMU's QAPI test corpus, and our own schemas. Key order inside
 * an entry is not compared (QEMU's QLit sorts keys; JSON objects are
 * unordered).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { introspect } from '../../src/codegen/introspect.js';
import { loadSchema } from '../../src/qapi/index.js';
import { QEMU_SRC, REPO_ROOT, requireQemuSource } from '../qapi/qemu-source.js';

type Answer = { masked: unknown[]; unmasked: unknown[] } | { error: string };

const SCRIPT = fileURLToPath(new URL('../../../test/codegen/qemu_introspect.py', import.meta.url));

describe("introspection = QEMU's introspect.py", () => {
  let answers: Record<string, Answer> = {};
  const corpus: string[] = [];

  before(() => {
    const corpusDir = requireQemuSource('tests/qapi-schema');
    for (const f of readdirSync(corpusDir).sort())
      if (f.endsWith('.json')) corpus.push(join(corpusDir, f));
    const files = [requireQemuSource('qapi/qapi-schema.json'), ...corpus, ...ourSchemas()];
    const out = execFileSync('python3', [SCRIPT, QEMU_SRC, ...files], {
      maxBuffer: 1 << 30,
      encoding: 'utf8',
    });
    answers = JSON.parse(out) as Record<string, Answer>;
  });

  const check = (file: string) => {
    const answer = answers[file];
    assert.ok(answer && 'masked' in answer, `QEMU rejected ${file}`);
    const model = modelFromSchema(loadSchema(file));
    assert.deepEqual(introspect(model, { mask: true }), answer.masked, `${file} (masked)`);
    assert.deepEqual(introspect(model), answer.unmasked, `${file} (unmasked)`);
  };

  test("QEMU 7.2's whole schema", () => check(requireQemuSource('qapi/qapi-schema.json')));

  test("every schema of QEMU's test corpus that QEMU accepts", () => {
    const valid = corpus.filter((f) => answers[f] && 'masked' in (answers[f] as Answer));
    assert.ok(valid.length >= 10, `only ${valid.length} valid corpus schemas`);
    assert.ok(valid.some((f) => f.endsWith('qapi-schema-test.json')));
    for (const f of valid) check(f);
  });

  test('our schemas', () => {
    for (const f of ourSchemas()) check(f);
  });
});

function ourSchemas(): string[] {
  return ['schema/qemu.json', 'schema/seed.json'].map((f) => join(REPO_ROOT, f));
}
