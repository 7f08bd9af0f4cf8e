/**
 * Pins from the introspection differential hunt (generated schemas run
 * through QEMU 7.2's introspect.py and ours, masked and unmasked, list order
 * included). No difference was found; these are the shapes that stress the
 * ordering rules most, checked against QEMU's generator each run and, for
 * the facts that matter to clients, spelled out literally.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import type { SchemaInfo } from '../../src/codegen/introspect-types.js';
import { introspect } from '../../src/codegen/introspect.js';
import { loadSchema } from '../../src/qapi/index.js';
import { QEMU_SRC, requireQemuSource } from '../qapi/qemu-source.js';

type Answer = { masked: unknown[]; unmasked: unknown[] } | { error: string };

const SCRIPT = fileURLToPath(new URL('../../../test/codegen/qemu_introspect.py', import.meta.url));

/** Schema name → its files (the first is the one loaded). */
const CASES: Record<string, Record<string, string>> = {
  // Commands and events come module by module: the main file's first, even
  // those defined after an include, then each included file in order of first
  // inclusion; types follow in order of first use.
  modules: {
    'main.json': `{ 'command': 'main-first', 'data': { 'a': 'Aa' } }
{ 'include': 'sub/x.json' }
{ 'command': 'main-second', 'returns': 'Bb' }
{ 'include': 'a.json' }
{ 'event': 'MAIN_EV' }
`,
    'a.json': `{ 'struct': 'Aa', 'data': { 'b': 'Bb' } }
{ 'command': 'in-a' }
`,
    'sub/x.json': `{ 'include': '../a.json' }
{ 'struct': 'Bb', 'data': { 'a': ['Aa'] } }
{ 'event': 'IN_X', 'data': 'Bb' }
{ 'include': 'y.json' }
`,
    'sub/y.json': `{ 'command': 'in-y', 'data': 'Aa', 'returns': ['Bb'] }
`,
  },
  // A union lists its branches as written, then one q_empty branch per tag
  // value without one (conditional values included), in enum order; members
  // are flattened along the base chain; integer types fold to int everywhere.
  unions: {
    'main.json': `{ 'struct': 'Base0', 'data': { 'b0': 'int', '*b0o': { 'type': 'uint8', 'features': [ 'deprecated', { 'name': 'unstable', 'if': 'X' } ] } } }
{ 'struct': 'Base1', 'base': 'Base0', 'data': { 'b1': 'str' } }
{ 'enum': 'Kind', 'data': [ 'x', { 'name': 'y', 'if': 'Y' }, 'z', 'w' ] }
{ 'struct': 'Base2', 'base': 'Base1', 'data': { 'kind': 'Kind' } }
{ 'struct': 'Empty', 'data': {} }
{ 'union': 'Uni', 'base': 'Base2', 'discriminator': 'kind', 'data': { 'z': 'Empty', 'x': { 'type': 'Empty', 'if': 'X' } } }
{ 'union': 'Uni2', 'base': { 'kind': 'Kind', '*extra': ['Kind'] }, 'discriminator': 'kind', 'data': { 'w': 'Base1' } }
{ 'command': 'cmd', 'data': 'Uni', 'boxed': true, 'returns': 'Uni2', 'features': [ 'deprecated' ], 'allow-oob': true }
{ 'event': 'EV', 'data': 'Uni2', 'boxed': true, 'features': [ 'unstable', 'deprecated' ] }
{ 'command': 'cmd2', 'data': { 'uu': 'Uni', '*l': ['Uni2'] } }
`,
  },
  // Builtins as return types and alternate branches, arrays of builtins and
  // of QType, a recursive struct, empty 'data' objects (no implicit type).
  builtins: {
    'main.json': `{ 'pragma': { 'command-returns-exceptions': [ 'r-size', 'r-int8l', 'r-any', 'r-qtype', 'r-null', 'r-alt' ] } }
{ 'struct': 'Node', 'data': { '*next': 'Node', '*kids': ['Node'], 'q': 'QType', 'ql': ['QType'] } }
{ 'enum': 'Nothing', 'data': [] }
{ 'alternate': 'Alt', 'data': { 'a': 'int8', 'b': 'Node', 'c': 'Nothing' } }
{ 'command': 'r-size', 'returns': 'size' }
{ 'command': 'r-int8l', 'returns': ['int8'] }
{ 'command': 'r-any', 'returns': 'any', 'data': {} }
{ 'command': 'r-null', 'returns': ['null'] }
{ 'command': 'r-qtype', 'returns': 'QType' }
{ 'command': 'r-alt', 'returns': 'Alt' }
{ 'event': 'EV', 'data': {} }
{ 'event': '__org.qemu_EV', 'data': { '__org.qemu_n': 'Node' } }
`,
  },
};

describe("introspection hunt pins (QEMU's introspect.py agrees)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'memfail-introspect-hunt-'));
  const mainOf = (name: string) => join(dir, name, 'main.json');
  let answers: Record<string, Answer> = {};

  before(() => {
    for (const [name, files] of Object.entries(CASES)) {
      for (const [file, text] of Object.entries(files)) {
        const path = join(dir, name, file);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, text);
      }
    }
    requireQemuSource('scripts/qapi/introspect.py');
    const out = execFileSync('python3', [SCRIPT, QEMU_SRC, ...Object.keys(CASES).map(mainOf)], {
      encoding: 'utf8',
    });
    answers = JSON.parse(out) as Record<string, Answer>;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ours = (name: string, mask = false): SchemaInfo[] =>
    introspect(modelFromSchema(loadSchema(mainOf(name))), { mask });

  for (const name of Object.keys(CASES)) {
    test(`${name}: same list as QEMU, masked and unmasked`, () => {
      const answer = answers[mainOf(name)];
      assert.ok(answer && 'masked' in answer, `QEMU rejected ${name}: ${JSON.stringify(answer)}`);
      assert.deepEqual(ours(name), answer.unmasked);
      assert.deepEqual(ours(name, true), answer.masked);
    });
  }

  test('modules: main file first, then included files in order of first inclusion', () => {
    assert.deepEqual(
      ours('modules').map((i) => i.name),
      [
        'main-first',
        'main-second',
        'MAIN_EV',
        'IN_X',
        'in-a',
        'in-y',
        'q_obj_main-first-arg',
        'q_empty',
        'Bb',
        'Aa',
        '[Bb]',
        '[Aa]',
      ],
    );
  });

  test('unions: written branches, then q_empty for the other tag values in enum order', () => {
    const uni = ours('unions').find((i) => i.name === 'Uni');
    assert.ok(uni && uni['meta-type'] === 'object');
    assert.deepEqual(
      uni.members.map((m) => m.name),
      ['b0', 'b0o', 'b1', 'kind'],
    );
    assert.deepEqual(uni.variants, [
      { case: 'z', type: 'Empty' },
      { case: 'x', type: 'Empty' },
      { case: 'y', type: 'q_empty' },
      { case: 'w', type: 'q_empty' },
    ]);
  });

  test('builtins: sized integers fold to int, also in arrays, returns and alternates', () => {
    const infos = ours('builtins');
    const byName = new Map(infos.map((i) => [i.name, i]));
    assert.deepEqual(byName.get('r-size'), {
      name: 'r-size',
      'meta-type': 'command',
      'arg-type': 'q_empty',
      'ret-type': 'int',
    });
    const int8s = byName.get('r-int8l');
    assert.ok(int8s?.['meta-type'] === 'command');
    assert.equal(int8s['ret-type'], '[int]');
    assert.deepEqual(byName.get('Alt'), {
      name: 'Alt',
      'meta-type': 'alternate',
      members: [{ type: 'int' }, { type: 'Node' }, { type: 'Nothing' }],
    });
    assert.ok(!infos.some((i) => ['int8', 'size', '[int8]'].includes(i.name)));
  });
});
