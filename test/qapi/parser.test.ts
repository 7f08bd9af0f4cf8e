import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { QapiError } from '../../src/qapi/error.js';
import { MAX_NESTING, parseSchema } from '../../src/qapi/parser.js';
import { errorOf, parseFiles } from './helpers.js';

describe('lexer errors (with QEMU columns)', () => {
  const cases: [string, string, string][] = [
    ['stray word', "{ 'a': 123 }", "test.json:1:8: stray '123'"],
    ['stray up to structure', "{ 'a': tru }", "test.json:1:8: stray 'tru'"],
    ['stray double quote', '{ "a": 1 }', "test.json:1:3: stray '\"'"],
    ['NUL byte', "\0{ 'a': 'b' }", "test.json:1:1: stray '\0'"],
    ['BOM is not space', "\ufeff{ 'a': 'b' }", "test.json:1:1: stray '\ufeff'"],
    ['unterminated string', "{ 'a': 'b }", 'test.json:1:8: missing terminating "\'"'],
    ['unknown escape', "{ 'a': 'b\\n' }", 'test.json:1:8: unknown escape \\n'],
    ['escape at end of line', "{ 'a': 'b\\\n' }", 'test.json:1:8: missing terminating "\'"'],
    ['non-ASCII in string', "{ 'a': 'é' }", 'test.json:1:8: funny character in string'],
    ['control char in string', "{ 'a': '\t' }", 'test.json:1:8: funny character in string'],
    ['tab arithmetic as QEMU', "\t{ 'a': 1 }", "test.json:1:8: stray '1'"],
    ['column after text and tab', "{ 'a':\t1 }", "test.json:1:7: stray '1'"],
    ['line counting', "\n\n  { 'a': x }", "test.json:3:10: stray 'x'"],
    ['CRLF is a newline', "{ 'enum': 'Foo',\r\n  'data': x }", "test.json:2:11: stray 'x'"],
  ];
  for (const [what, text, err] of cases) test(what, () => assert.equal(errorOf(text, false), err));

  test('escaped backslash is kept once', () => {
    const { exprs } = parseFiles({ 'a.json': "{ 'struct': 'A\\\\B' }" });
    assert.equal(exprs[0]?.expr.struct, 'A\\B');
  });
});

describe('grammar errors', () => {
  const cases: [string, string, string][] = [
    ['missing colon', "{ 'key' 'value' }", "test.json:1:9: expected ':'"],
    ['missing comma in dict', "{ 'a': 'b' 'c': 'd' }", "test.json:1:12: expected ',' or '}'"],
    ['trailing comma in dict', "{ 'a': 'b', }", 'test.json:1:13: expected string'],
    ['dict key not a string', '{ true: 1 }', "test.json:1:3: expected string or '}'"],
    [
      'list bad start',
      "{ 'a': [ : ] }",
      "test.json:1:10: expected '{', '[', ']', string, or boolean",
    ],
    ['list missing comma', "{ 'a': [ 'b' 'c' ] }", "test.json:1:14: expected ',' or ']'"],
    ['value missing', "{ 'a': }", "test.json:1:8: expected '{', '[', string, or boolean"],
    ['duplicate key', "{ 'a': 'b', 'a': 'c' }", "test.json:1:18: duplicate key 'a'"],
    ['unterminated at EOF', "{ 'a': 'b'", "test.json:1:11: expected ',' or '}'"],
    [
      'doc comment inside expression',
      "{ 'a':\n## x\n }",
      "test.json:2:1: expected '{', '[', string, or boolean",
    ],
    ['top level not an object', "[ 'a' ]", 'test.json:1: top-level expression must be an object'],
    ['top level string', "'a'", 'test.json:1: top-level expression must be an object'],
  ];
  for (const [what, text, err] of cases) test(what, () => assert.equal(errorOf(text, false), err));

  test('values: strings, booleans, lists, dicts, key order kept', () => {
    const { exprs } = parseFiles({
      'a.json': "# comment\n{ 'z': true, 'a': [ false, 'x', {}, [] ], 'm': { 'k': 'v' } }\n",
    });
    assert.equal(exprs.length, 1);
    assert.deepEqual(exprs[0]?.expr, { z: true, a: [false, 'x', {}, []], m: { k: 'v' } });
    assert.deepEqual(Object.keys(exprs[0]?.expr ?? {}), ['z', 'a', 'm']);
    assert.equal(exprs[0]?.info.line, 2);
  });

  test('__proto__ is an ordinary key', () => {
    const { exprs } = parseFiles({ 'a.json': "{ '__proto__': 'x', 'b': 'y' }" });
    const expr = exprs[0]?.expr ?? {};
    assert.deepEqual(Object.keys(expr), ['__proto__', 'b']);
    assert.equal(Object.getPrototypeOf(expr), Object.prototype);
  });

  test('expressions on one line share their position object, as QEMU', () => {
    const { exprs } = parseFiles({
      'a.json': "{ 'enum': 'A', 'data': [] } { 'enum': 'B', 'data': [] }",
    });
    assert.equal(exprs[0]?.info, exprs[1]?.info);
  });

  test('deep nesting is refused, not a crash', () => {
    const deep = `{ 'a': ${'['.repeat(MAX_NESTING + 5)}`;
    assert.equal(
      errorOf(deep, false),
      `test.json:1:${7 + MAX_NESTING}: nesting too deep (more than ${MAX_NESTING} levels)`,
    );
    const ok = `{ 'a': ${'['.repeat(MAX_NESTING - 1)}${']'.repeat(MAX_NESTING - 1)} }`;
    assert.equal(errorOf(ok, false), '');
  });
});

describe('directives', () => {
  test('include is relative to the including file, once only', () => {
    const { exprs } = parseFiles({
      'dir/main.json': "{ 'include': 'sub/a.json' }\n{ 'include': 'sub/a.json' }",
      'dir/sub/a.json': "{ 'include': 'b.json' }\n{ 'enum': 'A', 'data': [] }",
      'dir/sub/b.json': "{ 'enum': 'B', 'data': [] }",
    });
    const shape = exprs.map((e) => `${e.info.fname}:${e.info.line} ${JSON.stringify(e.expr)}`);
    assert.deepEqual(shape, [
      'dir/main.json:1 {"include":"dir/sub/a.json"}',
      'dir/sub/a.json:1 {"include":"dir/sub/b.json"}',
      'dir/sub/b.json:1 {"enum":"B","data":[]}',
      'dir/sub/a.json:2 {"enum":"A","data":[]}',
      'dir/main.json:2 {"include":"dir/sub/a.json"}',
    ]);
    assert.equal(exprs[2]?.info.parent?.loc(), 'dir/sub/a.json:1');
  });

  test('errors in included files show the include chain', () => {
    const err = errorOf({
      'main.json': "\n{ 'include': 'a.json' }",
      'a.json': "{ 'include': 'b.json' }",
      'b.json': "{ 'a' }",
    });
    assert.equal(
      err,
      "In file included from main.json:2:\nIn file included from a.json:1:\nb.json:1:7: expected ':'",
    );
  });

  const cases: [string, Record<string, string>, string][] = [
    [
      'inclusion loop',
      { 'a.json': "{ 'include': 'b.json' }", 'b.json': "{ 'include': 'a.json' }" },
      'In file included from a.json:1:\nb.json:1: inclusion loop for a.json',
    ],
    [
      'self inclusion',
      { 'a.json': "{ 'include': 'a.json' }" },
      'a.json:1: inclusion loop for a.json',
    ],
    [
      'missing include',
      { 'a.json': "{ 'include': 'nope.json' }" },
      "a.json:1: can't read include file 'nope.json': No such file or directory",
    ],
    [
      'include with extra key',
      { 'a.json': "{ 'include': 'b.json', 'x': 'y' }" },
      "a.json:1: invalid 'include' directive",
    ],
    [
      'include not a string',
      { 'a.json': "{ 'include': [] }" },
      "a.json:1: value of 'include' must be a string",
    ],
    [
      'pragma with extra key',
      { 'a.json': "{ 'pragma': {}, 'x': 'y' }" },
      "a.json:1: invalid 'pragma' directive",
    ],
    [
      'pragma not an object',
      { 'a.json': "{ 'pragma': 'x' }" },
      "a.json:1: value of 'pragma' must be an object",
    ],
    [
      'unknown pragma',
      { 'a.json': "{ 'pragma': { 'no-such': true } }" },
      "a.json:1: unknown pragma 'no-such'",
    ],
    [
      'doc-required not boolean',
      { 'a.json': "{ 'pragma': { 'doc-required': 'yes' } }" },
      "a.json:1: pragma 'doc-required' must be boolean",
    ],
    [
      'exceptions not a list',
      { 'a.json': "{ 'pragma': { 'command-name-exceptions': 'x' } }" },
      'a.json:1: pragma command-name-exceptions must be a list of strings',
    ],
    [
      'exceptions not strings',
      { 'a.json': "{ 'pragma': { 'member-name-exceptions': [ true ] } }" },
      'a.json:1: pragma member-name-exceptions must be a list of strings',
    ],
    [
      'returns exceptions',
      { 'a.json': "{ 'pragma': { 'command-returns-exceptions': {} } }" },
      'a.json:1: pragma command-returns-exceptions must be a list of strings',
    ],
  ];
  for (const [what, files, err] of cases)
    test(what, () => assert.equal(errorOf(files, false), err));

  test('pragmas are schema-wide, also from included files', () => {
    const { pragma } = parseFiles({
      'a.json': "{ 'include': 'b.json' }",
      'b.json': "{ 'pragma': { 'doc-required': true, 'command-name-exceptions': [ 'a_b' ] } }",
    });
    assert.equal(pragma.docRequired, true);
    assert.deepEqual(pragma.commandNameExceptions, ['a_b']);
  });

  test('unreadable main file', () => {
    assert.throws(
      () => parseSchema('/nonexistent/x.json'),
      (e: unknown) =>
        e instanceof QapiError &&
        e.message === "can't read schema file '/nonexistent/x.json': No such file or directory" &&
        e.info === null,
    );
  });

  test('invalid UTF-8 is a read error, not a crash', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'qapi-utf8-'));
    try {
      const file = join(dir, 'bad.json');
      writeFileSync(file, Buffer.from([0x7b, 0xff, 0x7d, 0x0a]));
      assert.throws(
        () => parseSchema(file),
        (e: unknown) =>
          e instanceof QapiError && e.message === `can't read schema file '${file}': invalid UTF-8`,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('errors', () => {
  test('carry file, line, column and context', () => {
    try {
      parseFiles({ 'a.json': "{ 'include': 'b.json' }", 'b.json': '\n  {' });
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof QapiError);
      const { info, col, message } = e;
      assert.deepEqual(
        { file: info?.fname, line: info?.line, col, message, context: info?.contextLines() },
        {
          file: 'b.json',
          line: 2,
          col: 4,
          message: "expected string or '}'",
          context: ['In file included from a.json:1:'],
        },
      );
    }
  });
});

describe('robustness', () => {
  const parseOrQapiError = (text: string): boolean => {
    try {
      parseSchema('fuzz.json', { readFile: () => text });
      return true;
    } catch (e) {
      return e instanceof QapiError;
    }
  };

  test('random text either parses or throws QapiError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), parseOrQapiError), {
      numRuns: 2000,
    });
  });

  test('random schema-like tokens either parse or throw QapiError', () => {
    const token = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ':',
      ',',
      "'a'",
      "'b'",
      'true',
      'false',
      '#',
      '##',
      '\n',
      ' ',
      '\t',
      '\\',
      "'",
      '# @a:\n',
      '# Since: 1\n',
      '@x:',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (toks) => parseOrQapiError(toks.join(''))),
      {
        numRuns: 3000,
      },
    );
  });

  test('random bytes from disk either parse or throw QapiError', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'qapi-fuzz-'));
    try {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
          const file = join(dir, 'x.json');
          writeFileSync(file, bytes);
          try {
            parseSchema(file);
            return true;
          } catch (e) {
            return e instanceof QapiError;
          }
        }),
        { numRuns: 300 },
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('key order', () => {
  test('integer-like keys keep their source order through dictKeys', async () => {
    const { dictKeys } = await import('../../src/qapi/dict.js');
    const { exprs } = parseFiles({
      'a.json': "{ 'union': 'U', 'data': { 'b': 'B', '10': 'X', '2': 'Y' } }",
    });
    const data = exprs[0]?.expr.data as Record<string, unknown>;
    assert.deepEqual(dictKeys(data), ['b', '10', '2']);
    assert.deepEqual(data, { b: 'B', '10': 'X', '2': 'Y' });
    assert.deepEqual(dictKeys({ x: 1, y: 2 }), ['x', 'y']);
  });

  test('so the first error is the one QEMU reports', () => {
    assert.equal(
      errorOf("{ 'struct': 'Foo', 'data': { 'B': 'int', '1': 'str' } }"),
      "test.json: In struct 'Foo':\ntest.json:1: name of 'data' member 'B' must not use uppercase or '_'",
    );
    assert.equal(
      errorOf("{ 'pragma': { 'doc-required': 'x', '0': true } }", false),
      "test.json:1: pragma 'doc-required' must be boolean",
    );
  });
});

describe('large input', () => {
  test('an included file with 200k definitions', () => {
    const many = "{ 'enum': 'Foo', 'data': [] }\n".repeat(200_000);
    const { exprs } = parseFiles({ 'a.json': "{ 'include': 'b.json' }", 'b.json': many });
    assert.equal(exprs.length, 200_001);
    assert.equal(exprs[200_000]?.info.line, 200_000);
  });

  test('a dict with 100k keys and a list of 100k values', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `'k${i}': 'v'`).join(', ');
    const values = Array.from({ length: 100_000 }, () => "'v'").join(', ');
    const { exprs } = parseFiles({ 'a.json': `{ ${keys} }\n{ 'l': [ ${values} ] }` });
    assert.equal(Object.keys(exprs[0]?.expr ?? {}).length, 100_000);
    assert.equal((exprs[1]?.expr.l as unknown[] | undefined)?.length, 100_000);
  });
});
