/**
 * `memfail schema check`: the contract end to end, in process through main()
 * and through the real binary, plus a property test that checking never
 * throws whatever the input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Io } from '../../src/cli/io.js';
import { fastSchemaCheck, runSchemaCheck } from '../../src/cli/schema-check.js';
import { checkSchemaFile } from '../../src/qapi/load.js';
import { REPO_ROOT, requireQemuSource } from '../qapi/qemu-source.js';
import { runCli } from '../support/cli.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const run = (args: string[]) => runCli(args);

function runBinary(args: string[]): Run {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/memfail.js'), ...args], {
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let dir = '';
const path = (name: string): string => join(dir, name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'memfail-schema-check-'));
  writeFileSync(path('good.json'), "{ 'enum': 'Kind', 'data': [ 'one', 'two' ] }\n");
  writeFileSync(
    path('bad.json'),
    "{ 'struct': 'Base', 'data': { 'a': 'int' } }\n{ 'struct': 'Obj', 'base': 'Base',\n  'data': { 'a': 'str' } }\n",
  );
  writeFileSync(path('syntax.json'), "{ 'enum': 'Kind', 'data': [ 'one' }\n");
  writeFileSync(path('junk.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x81, 0x7b, 0xc3]));
  writeFileSync(path('deep.json'), `${'['.repeat(200_000)}${']'.repeat(200_000)}\n`);
  writeFileSync(path('huge.json'), '');
  truncateSync(path('huge.json'), 64 * 1024 * 1024); // sparse: large to stat, no disk use
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const BAD_TEXT = (file: string): string =>
  `${file}: In struct 'Obj':\n${file}:2: member 'a' collides with member 'a' of type 'Base'\n`;

describe('memfail schema check (in process)', () => {
  test('valid files: exit 0, nothing printed', async () => {
    const r = await run([
      'schema',
      'check',
      path('good.json'),
      join(REPO_ROOT, 'schema/qmp-core.json'),
    ]);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  });

  test("a semantic error: exit 1, QEMU's context line and FILE:LINE: message on stderr", async () => {
    const r = await run(['schema', 'check', path('good.json'), path('bad.json')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, BAD_TEXT(path('bad.json')));
  });

  test('a syntax error carries its column', async () => {
    const r = await run(['schema', 'check', path('syntax.json')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `${path('syntax.json')}:1:35: expected ',' or ']'\n`);
  });

  test('--json: one entry per file on stdout, errors with file/line/col/message', async () => {
    const r = await run([
      'schema',
      'check',
      '--json',
      path('good.json'),
      path('bad.json'),
      path('syntax.json'),
    ]);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), [
      { file: path('good.json'), ok: true, errors: [] },
      {
        file: path('bad.json'),
        ok: false,
        errors: [
          {
            file: path('bad.json'),
            line: 2,
            col: null,
            message: "member 'a' collides with member 'a' of type 'Base'",
          },
        ],
      },
      {
        file: path('syntax.json'),
        ok: false,
        errors: [{ file: path('syntax.json'), line: 1, col: 35, message: "expected ',' or ']'" }],
      },
    ]);
  });

  test('--json keeps multi-line messages whole', async () => {
    writeFileSync(
      path('dup.json'),
      "{ 'struct': 'Obj', 'data': {} }\n{ 'enum': 'Obj', 'data': [] }\n",
    );
    const r = await run(['schema', 'check', '--json', path('dup.json')]);
    const [entry] = JSON.parse(r.stdout) as { errors: { message: string; line: number }[] }[];
    assert.equal(entry?.errors[0]?.line, 2);
    assert.equal(
      entry?.errors[0]?.message,
      `'Obj' is already defined\n${path('dup.json')}: In struct 'Obj':\n${path('dup.json')}:1: previous definition`,
    );
  });

  test('unreadable files: a clear error, exit 1', async () => {
    const missing = path('missing.json');
    const r = await run(['schema', 'check', missing, dir, '/dev/zero']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `can't read schema file '${missing}': No such file or directory\n` +
        `can't read schema file '${dir}': Is a directory\n` +
        // A device would be read forever.
        "can't read schema file '/dev/zero': not a regular file\n",
    );
  });

  test('binary junk, deep nesting and huge files: clear errors, exit 1', async () => {
    const r = await run([
      'schema',
      'check',
      '--json',
      path('junk.bin'),
      path('deep.json'),
      path('huge.json'),
    ]);
    assert.equal(r.code, 1);
    const results = JSON.parse(r.stdout) as { ok: boolean; errors: { message: string }[] }[];
    assert.deepEqual(
      results.map((x) => x.ok),
      [false, false, false],
    );
    assert.match(
      results[0]?.errors[0]?.message ?? '',
      /can't read schema file '.*junk\.bin': not valid UTF-8/,
    );
    assert.match(results[1]?.errors[0]?.message ?? '', /nesting too deep/);
    assert.match(
      results[2]?.errors[0]?.message ?? '',
      /can't read schema file '.*huge\.json': file too large/,
    );
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  });

  test('no file: usage error, exit 2', async () => {
    const r = await run(['schema', 'check']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'FILE'/);
  });

  test('--help shows an example', async () => {
    const r = await run(['schema', 'check', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Example:\n\s+memfail schema check /);
  });
});

describe('memfail schema check (real binary)', () => {
  test('exit codes and output streams', () => {
    const ok = runBinary(['schema', 'check', join(REPO_ROOT, 'schema/memory-failure-qemu.json')]);
    assert.deepEqual(ok, { code: 0, stdout: '', stderr: '' });
    const bad = runBinary(['schema', 'check', path('good.json'), path('bad.json')]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, BAD_TEXT(path('bad.json')));
    const usage = runBinary(['schema', 'check']);
    assert.equal(usage.code, 2);
  });

  test('--json, unreadable file, binary junk and deep nesting: exit 1, no stack trace', () => {
    const r = runBinary([
      'schema',
      'check',
      '--json',
      path('good.json'),
      path('missing.json'),
      path('junk.bin'),
      path('deep.json'),
    ]);
    assert.equal(r.code, 1);
    const results = JSON.parse(r.stdout) as { file: string; ok: boolean }[];
    assert.deepEqual(
      results.map((x) => [x.file, x.ok]),
      [
        [path('good.json'), true],
        [path('missing.json'), false],
        [path('junk.bin'), false],
        [path('deep.json'), false],
      ],
    );
    assert.equal(r.stderr.trim().split('\n').length, 3);
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+|Error:/);
  });
});

describe('the start-up fast path (bin/memfail.js)', () => {
  test('takes plain arguments only, leaving help, options and usage errors to main()', () => {
    assert.equal(fastSchemaCheck([]), null);
    assert.equal(fastSchemaCheck(['--json']), null);
    assert.equal(fastSchemaCheck(['--help']), null);
    assert.equal(fastSchemaCheck(['-h', path('good.json')]), null);
    assert.equal(fastSchemaCheck(['--', path('good.json')]), null);
    assert.equal(fastSchemaCheck([path('good.json'), '--verbose']), null);
  });

  test('gives the same results as main() through the binary', async () => {
    for (const args of [
      [path('good.json')],
      ['--json', path('bad.json'), path('good.json')],
      [path('junk.bin')],
    ]) {
      const viaMain = await run(['schema', 'check', ...args]);
      const viaBinary = runBinary(['schema', 'check', ...args]);
      assert.deepEqual(viaBinary, viaMain);
    }
    const help = runBinary(['schema', 'check', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: memfail schema check/);
  });
});

describe('the bundled check (scripts/bundle-check.mjs)', () => {
  /** A copy of the compiled check path (with bin/memfail.js) to bundle and tamper with. */
  function copyTree(): string {
    const root = path(`tree-${readdirSync(dir).length}`);
    mkdirSync(join(root, 'dist/src/cli'), { recursive: true });
    cpSync(join(REPO_ROOT, 'bin'), join(root, 'bin'), { recursive: true });
    cpSync(join(REPO_ROOT, 'dist/src/qapi'), join(root, 'dist/src/qapi'), { recursive: true });
    for (const f of ['schema-check.js', 'io.js']) {
      cpSync(join(REPO_ROOT, 'dist/src/cli', f), join(root, 'dist/src/cli', f));
    }
    const made = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'scripts/bundle-check.mjs'), '--dist', join(root, 'dist')],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    return root;
  }

  function capture(): { io: Io; out: () => string } {
    let text = '';
    const io: Io = {
      stdout: (t) => {
        text += `[out]${t}`;
      },
      stderr: (t) => {
        text += `[err]${t}`;
      },
    };
    return { io, out: () => text };
  }

  test("gives the modules' results on QEMU's schema, its test corpus and bad input", async () => {
    const root = copyTree();
    const url = pathToFileURL(join(root, 'dist/src/check-bundle.mjs')).href;
    const bundle = (await import(url)) as { runSchemaCheck: typeof runSchemaCheck };
    const corpus = requireQemuSource('tests/qapi-schema');
    const files = [
      requireQemuSource('qapi/qapi-schema.json'),
      ...readdirSync(corpus)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(corpus, f)),
      path('good.json'),
      path('bad.json'),
      path('missing.json'),
      path('junk.bin'),
      path('deep.json'),
    ];
    assert.ok(files.length > 150, `only ${files.length} files`);
    for (const file of files) {
      const viaModules = capture();
      const viaBundle = capture();
      const code = runSchemaCheck([file], { json: true }, viaModules.io);
      assert.equal(bundle.runSchemaCheck([file], { json: true }, viaBundle.io), code, file);
      assert.equal(viaBundle.out(), viaModules.out(), file);
    }
  });

  test('bin/memfail.js runs it only while every module it was made from is unchanged', () => {
    const root = copyTree();
    const bin = join(root, 'bin/memfail.js');
    const check = (): string => {
      const r = spawnSync(process.execPath, [bin, 'schema', 'check', path('good.json')], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    // A stand-in bundle that says it ran: the real one prints nothing for a good file.
    writeFileSync(
      join(root, 'dist/src/check-bundle.mjs'),
      "export function fastSchemaCheck() { process.stdout.write('bundle'); return 0; }\n",
    );
    assert.equal(check(), 'bundle');
    appendFileSync(join(root, 'dist/src/qapi/schema.js'), '// rebuilt\n');
    assert.equal(check(), '', 'a changed module must not run the old bundle');
    rmSync(join(root, 'dist/src/check-bundle.json'));
    assert.equal(check(), '');
  });

  test('after npm pack and install (every mtime reset, same bytes) it still runs; other bytes of the same size do not', () => {
    const root = copyTree();
    const bin = join(root, 'bin/memfail.js');
    const check = (): string => {
      const r = spawnSync(process.execPath, [bin, 'schema', 'check', path('good.json')], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    writeFileSync(
      join(root, 'dist/src/check-bundle.mjs'),
      "export function fastSchemaCheck() { process.stdout.write('bundle'); return 0; }\n",
    );
    // What npm's tarballs do to every file.
    const packed = new Date('1985-10-26T08:15:00Z');
    const { inputs } = JSON.parse(
      readFileSync(join(root, 'dist/src/check-bundle.json'), 'utf8'),
    ) as { inputs: [string, number, number, string][] };
    for (const [file] of inputs) utimesSync(join(root, 'dist', file), packed, packed);
    assert.equal(check(), 'bundle');
    const schema = join(root, 'dist/src/qapi/schema.js');
    const text = readFileSync(schema, 'utf8');
    assert.ok(text.startsWith('/**'));
    writeFileSync(schema, text.replace('/**', '/*!')); // still a comment: the modules run
    utimesSync(schema, packed, packed);
    assert.equal(statSync(schema).size, Buffer.byteLength(text));
    assert.equal(check(), '', 'a module with other bytes must not run the old bundle');
  });

  test('a manifest without its bundle falls back to the modules', () => {
    const root = copyTree();
    rmSync(join(root, 'dist/src/check-bundle.mjs'));
    const r = spawnSync(
      process.execPath,
      [join(root, 'bin/memfail.js'), 'schema', 'check', path('good.json'), path('bad.json')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stderr, BAD_TEXT(path('bad.json')));
  });
});

describe('checkSchemaFile never throws', () => {
  const seed = [
    "{ 'pragma': { 'doc-required': false } }",
    "{ 'enum': 'Kind', 'data': [ 'one', { 'name': 'two', 'if': 'CONFIG_TWO' } ] }",
    "{ 'struct': 'Base', 'data': { 'k': 'Kind', '*n': 'int' } }",
    "{ 'struct': 'Branch', 'data': { 'b': [ 'str' ] } }",
    "{ 'union': 'Choice', 'base': 'Base', 'discriminator': 'k', 'data': { 'one': 'Branch' } }",
    "{ 'alternate': 'Alt', 'data': { 'n': 'int', 's': 'Branch' } }",
    "{ 'command': 'do-it', 'data': { 'c': 'Choice' }, 'returns': 'Branch', 'features': [ 'unstable' ] }",
    "{ 'event': 'EVT', 'data': 'Base', 'boxed': true }",
    '##\n# @Obj:\n#\n# @x: a member\n##',
    "{ 'struct': 'Obj', 'data': { 'x': 'Alt' } }",
  ].join('\n');

  test('over mutated schemas: returns ok or errors, each with a message', () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant('delete' as const),
        at: fc.nat(),
        len: fc.integer({ min: 1, max: 12 }),
      }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        text: fc.string({ maxLength: 12 }),
      }),
      fc.record({
        kind: fc.constant('word' as const),
        at: fc.nat(),
        text: fc.constantFrom(
          "'Kind'",
          "'Base'",
          "'Choice'",
          "'Alt'",
          "'any'",
          "'q_empty'",
          "['Kind']",
          '{',
          '}',
          '[',
          ']',
          "'*k'",
          "'if'",
          "'boxed': true,",
          "'base': 'Choice',",
          "'data': {},",
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        let text = seed;
        for (const m of mutations) {
          const at = m.at % (text.length + 1);
          text =
            m.kind === 'delete'
              ? text.slice(0, at) + text.slice(at + m.len)
              : text.slice(0, at) + m.text + text.slice(at);
        }
        const result = checkSchemaFile('mutant.json', { readFile: () => text });
        assert.equal(result.ok, result.errors.length === 0);
        for (const e of result.errors) {
          assert.equal(typeof e.message, 'string');
          assert.ok(e.message.length > 0);
          assert.doesNotMatch(e.message, /^internal error/);
        }
      }),
      { numRuns: 400 },
    );
  });
});
