/**
 * An error that quotes the input never dumps a file's whole contents: a
 * quote is cut to its start and end around a count, a message to a bound
 * (error.ts boundMessage). Messages of ordinary size are QEMU's, unchanged
 * (the corpus and hunt tests pin them).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runSchemaCheck } from '../../src/cli/schema-check.js';
import { boundMessage, MAX_MESSAGE, MAX_QUOTE } from '../../src/qapi/error.js';
import { errorOf } from './helpers.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('errors quoting a huge input', () => {
  test('a stray token of 3 MB: its start and end, and how much is left out', () => {
    const err = errorOf(`${'x'.repeat(3_000_000)}\n`);
    assert.ok(err.length < 600, `${err.length} characters`);
    assert.match(err, /^test\.json:1:1: stray 'x{400}\[\.\.\. 2999500 characters \.\.\.\]x{100}'$/);
  });

  test('a duplicate key of 2 MB: the column is exact, the key cut', () => {
    const key = 'a'.repeat(2_000_000);
    const err = errorOf(`{ 'struct': 'Foo', 'data': { '${key}': 'int', '${key}': 'int' } }\n`);
    assert.ok(err.length < 600, `${err.length} characters`);
    assert.match(err, /^test\.json:1:4000045: duplicate key 'a{400}\[\.\.\. 1999500 characters/);
  });

  test('200,000 unknown keys: the message is cut as a whole', () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => `'k${i}': 'x'`).join(', ');
    const err = errorOf(`{ 'struct': 'Foo', 'data': {}, ${keys} }\n`);
    assert.ok(err.length <= MAX_MESSAGE + 100, `${err.length} characters`);
    assert.match(err, /struct has unknown keys 'k0', 'k1', 'k10', /);
    assert.match(err, /\[\.\.\. \d+ more characters\]$/);
  });

  test('schema check prints a bounded error for a file that is one long line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'memfail-error-size-'));
    try {
      const file = join(dir, 'big.json');
      writeFileSync(file, `{ 'include': '${'p'.repeat(5_000_000)}' }\n`);
      let stderr = '';
      const code = runSchemaCheck(
        [file],
        { json: false },
        { stdout: () => {}, stderr: (t) => (stderr += t) },
      );
      assert.equal(code, 1);
      assert.ok(stderr.length < 1200, `${stderr.length} characters`);
      assert.ok(
        stderr.startsWith(
          `${file}:1: can't read include file '${dir}/${'p'.repeat(400 - dir.length - 1)}[... `,
        ),
      );
      assert.match(stderr, /characters \.\.\.\]p{100}': File name too long\n$/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('boundMessage', () => {
  test('messages within the bounds are kept as they are', () => {
    const run = 'r'.repeat(MAX_QUOTE);
    for (const m of ['', "duplicate key 'a'", `stray '${run}'`, `a '${run}' b '${run}' c`]) {
      assert.equal(boundMessage(m), m);
    }
  });

  test('a cut never splits a character made of two UTF-16 units', () => {
    for (let pad = 0; pad < 4; pad++) {
      const m = `'${'.'.repeat(pad)}${'\u{1F600}'.repeat(2000)}'`;
      const bounded = boundMessage(m);
      assert.ok(bounded.length < m.length);
      assert.doesNotMatch(bounded, LONE_SURROGATE);
    }
  });
});
