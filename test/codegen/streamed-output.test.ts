/**
 * Generated files written piece by piece (src/codegen/output.ts) must be
 * byte for byte what the in-memory generator makes, and `--check` must see
 * every kind of difference, also past the first chunk of a large file.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generate, generateInto, introspect, staleGenerated } from '../../src/codegen/index.js';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { DirectoryOutput, MemoryOutput, writeJsonArray } from '../../src/codegen/output.js';
import { loadSchema } from '../../src/qapi/load.js';
import { writeLargeSchema } from '../qapi/large-schema.js';
import { requireQemuSource } from '../qapi/qemu-source.js';

const dir = mkdtempSync(join(tmpdir(), 'memfail-streamed-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sameAsInMemory(schemaFile: string, out: string, options: { source: string }): void {
  const model = modelFromSchema(loadSchema(schemaFile));
  const expected = generate(model, options);
  const written = generateInto(out, model, options);
  assert.deepEqual(
    written,
    expected.map((f) => join(out, f.path)),
  );
  for (const f of expected) assert.equal(readFileSync(join(out, f.path), 'utf8'), f.text, f.path);
  // Nothing else is left behind (no temporary files).
  assert.deepEqual(readdirSync(out).sort(), expected.map((f) => f.path).sort());
}

describe('files written as they are made', () => {
  test("QEMU's full schema: the same bytes as the in-memory generator", () => {
    const schema = requireQemuSource('qapi/qapi-schema.json');
    sameAsInMemory(schema, join(dir, 'qemu'), { source: 'qapi/qapi-schema.json' });
  });

  const large = join(dir, 'large');
  const out = join(dir, 'large-out');
  mkdirSync(large);
  const main = writeLargeSchema(large, 3_000_000, 3);
  const options = { source: 'large.json' };

  test('a 3 MB schema (files of several chunks): the same bytes as the in-memory generator', () => {
    sameAsInMemory(main, out, options);
    assert.ok(readFileSync(join(out, 'validators.ts')).length > 4 << 20, 'validators.ts is small');
  });

  test('--check finds no drift in what it wrote, and each kind of drift after', () => {
    const model = modelFromSchema(loadSchema(main));
    assert.deepEqual(staleGenerated(out, model, options), []);
    const path = (f: string) => join(out, f);
    // A byte changed past the first MiB, a byte added at the end, a file cut short, one missing.
    const types = readFileSync(path('types.ts'));
    const at = (1 << 20) + 12345;
    types[at] = (types[at] as number) ^ 1;
    writeFileSync(path('types.ts'), types);
    writeFileSync(path('validators.ts'), `${readFileSync(path('validators.ts'), 'utf8')} `);
    truncateSync(path('introspection.ts'), readFileSync(path('introspection.ts')).length - 1);
    unlinkSync(path('index.ts'));
    assert.deepEqual(
      staleGenerated(out, model, options),
      ['types.ts', 'validators.ts', 'introspection.ts', 'index.ts'].map(path),
    );
    assert.equal(existsSync(path('index.ts')), false, '--check wrote nothing');
  });
});

test("introspection of a schema that dropped its docs is the full model's", () => {
  const schema = loadSchema(requireQemuSource('qapi/qapi-schema.json'));
  const full = introspect(modelFromSchema(schema));
  assert.ok(schema.docs.length > 100);
  schema.dropDocs();
  assert.equal(schema.docs.length, 0);
  assert.ok(schema.entities.every((e) => e.doc === null));
  assert.deepEqual(introspect(modelFromSchema(schema, { docs: false })), full);
});

describe('output pieces', () => {
  test('a directory is left as it was when generation fails before the end', () => {
    const target = join(dir, 'half');
    mkdirSync(target);
    writeFileSync(join(target, 'types.ts'), 'old');
    const output = new DirectoryOutput(target);
    try {
      const f = output.open('types.ts');
      f.write('new');
      f.close();
      throw new Error('generator failed');
    } catch {
      // as generateInto does: no commit
    } finally {
      output.dispose();
    }
    assert.deepEqual(readdirSync(target), ['types.ts']);
    assert.equal(readFileSync(join(target, 'types.ts'), 'utf8'), 'old');
  });

  test('a spool on disk gives back characters split across its chunks', () => {
    // '€' is 3 bytes in UTF-8: some fall across the 1 MiB read boundary.
    const text = `${'a'.repeat((1 << 20) - 1)}€€€${'b'.repeat(100)}\u{1F600}`;
    const target = join(dir, 'spool');
    const output = new DirectoryOutput(target);
    try {
      const spool = output.spool();
      spool.write(text.slice(0, 5000));
      spool.write(text.slice(5000));
      const f = output.open('out.txt');
      spool.replay(f);
      f.close();
      output.commit();
    } finally {
      output.dispose();
    }
    assert.equal(readFileSync(join(target, 'out.txt'), 'utf8'), text);
    const memory = new MemoryOutput();
    const spool = memory.spool();
    spool.write(text);
    const f = memory.open('x');
    spool.replay(f);
    f.close();
    assert.equal(memory.files[0]?.text, text);
  });

  test('a JSON array written item by item is JSON.stringify(items, null, 2)', () => {
    const cases: unknown[][] = [
      [],
      [{}],
      [{ name: 'a', members: [], 'meta-type': 'object' }],
      [{ a: [1, { b: 'x\ny' }] }, [], 'text', null, { deep: { deeper: [[]] } }],
    ];
    for (const items of cases) {
      let text = '';
      writeJsonArray(items, { write: (t) => (text += t) });
      assert.equal(text, JSON.stringify(items, null, 2));
    }
  });
});
