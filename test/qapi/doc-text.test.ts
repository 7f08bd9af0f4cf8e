/**
 * Doc sections keep their lines' places in the file and build the text
 * when read (doc.ts). These blocks put lines of one section apart (a
 * 'Features:' line or blank and tab-indented source lines in between),
 * indent continuation lines, end lines in white space: QEMU 7.2's own
 * parser (test/qapi/qemu_stage1.py) must read the same texts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatError, QapiError } from '../../src/qapi/error.js';
import { checkExprs } from '../../src/qapi/expr.js';
import { readSchemaFile } from '../../src/qapi/files.js';
import { parseSchema } from '../../src/qapi/parser.js';
import { QEMU_SRC, REPO_ROOT, requireQemuSource } from './qemu-source.js';

const lines = (...ls: string[]) => `${ls.join('\n')}\n`;
const FOO = "{ 'struct': 'Foo', 'data': { 'a': 'int' }, 'features': [ 'f' ] }";

const CASES: Record<string, string> = {
  // 'Features:' is not text: the body goes on after it.
  'body-around-features.json': lines(
    '##',
    '# @Foo:',
    '#',
    '# body one',
    '# Features:',
    '# more body',
    '#',
    '# @f: feat',
    '##',
    FOO,
  ),
  // An argument's indented lines after 'Features:' still belong to it.
  'arg-around-features.json': lines(
    '##',
    '# @Foo:',
    '#',
    '# @a: first',
    '#     second',
    '#',
    '# Features:',
    '#     third, after a gap',
    '# @f:   feat   ',
    '#       more feat',
    '##',
    FOO,
  ),
  // Blank source lines and white space before '#' between comment lines.
  'spaced-lines.json': lines(
    '##',
    '# @Foo:',
    '#',
    '# body',
    '',
    '   #   continued  ',
    '\t# tabbed',
    '#',
    '',
    '# @a: arg',
    '  #     arg more',
    '#',
    '# Features:',
    '# @f: feat',
    '#',
    '# Since: 7.2  ',
    '#',
    '# Example:',
    '#',
    '#   -> { "execute": "x" }',
    '#',
    '#   <- { "return": {} }   ',
    '##',
    FOO,
  ),
  // Header rests that are only white space, astral characters in the header.
  'headers.json': lines(
    '##',
    '# @Foo:',
    '# @a:   ',
    '#   alone',
    '# @b\u{1F600}: smile',
    '#       wide',
    '#',
    '# Features:',
    '# @f: x',
    '#',
    '# Note:',
    '#',
    '#   noted',
    '##',
    FOO,
  ),
  // Headings split a free-form block; '#' alone is an empty line.
  'freeform.json': lines(
    '##',
    '# intro',
    '#',
    '# = Heading',
    '#',
    '# text',
    '##',
    '',
    '##',
    '# = Another',
    '#',
    '#',
    '# after two',
    '##',
    '',
    '##',
    '# @Foo:',
    '# @a: x',
    '#',
    '# Features:',
    '# @f: y',
    '##',
    FOO,
  ),
};

type Stage1 = { ok: boolean; docs?: unknown; err?: string };

function ours(dir: string, name: string): Stage1 {
  try {
    const parsed = parseSchema(name, { readFile: (f) => readSchemaFile(join(dir, f)) });
    checkExprs(parsed.exprs);
    return {
      ok: true,
      docs: parsed.docs.map((d) => [
        d.symbol,
        d.body.text,
        [...d.args].map(([a, s]) => [a, s.text]),
        [...d.features].map(([f, s]) => [f, s.text]),
        d.sections.map((s) => [s.name, s.text]),
      ]),
    };
  } catch (e) {
    if (!(e instanceof QapiError)) throw e;
    return { ok: false, err: formatError(e) };
  }
}

test("doc texts read back from the file's text are QEMU's, line for line", () => {
  requireQemuSource('scripts/qapi/parser.py');
  const dir = mkdtempSync(join(tmpdir(), 'memfail-doc-text-'));
  try {
    for (const [name, text] of Object.entries(CASES)) writeFileSync(join(dir, name), text);
    const script = join(REPO_ROOT, 'test/qapi/qemu_stage1.py');
    const qemu = JSON.parse(
      execFileSync('python3', [script, QEMU_SRC, dir, ...Object.keys(CASES)], { encoding: 'utf8' }),
    ) as Record<string, Stage1 & { exprs?: unknown }>;
    for (const name of Object.keys(CASES)) {
      const theirs = qemu[name];
      assert.ok(theirs, name);
      assert.equal(theirs.ok, true, `${name}: QEMU rejects it: ${theirs.err}`);
      assert.deepEqual(ours(dir, name), { ok: true, docs: theirs.docs }, name);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a section is built once: read again, it is the same text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'memfail-doc-text-'));
  try {
    writeFileSync(join(dir, 'a.json'), CASES['spaced-lines.json'] as string);
    const doc = parseSchema('a.json', { readFile: (f) => readSchemaFile(join(dir, f)) }).docs[0];
    assert.ok(doc);
    const body = doc.body.text;
    assert.equal(body, 'body\n  continued\ntabbed');
    // Read twice: the second read is the same text, not rebuilt or stripped again.
    assert.equal(doc.body.text, body);
    assert.deepEqual(
      doc.sections.map((s) => s.text),
      ['7.2', '-> { "execute": "x" }\n\n  <- { "return": {} }'],
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});
