/**
 * The checked model: one negative case of our own for every semantic check
 * (the expected texts are what QEMU 7.2's scripts/qapi prints for the same
 * input, pinned here with message and line), positive cases, and the order
 * in which the visitor walks a schema.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cName } from '../../src/qapi/c-name.js';
import { Command, Event } from '../../src/qapi/definitions.js';
import { EnumType } from '../../src/qapi/entities.js';
import { QapiSemanticError } from '../../src/qapi/error.js';
import { AlternateType, ObjectType } from '../../src/qapi/object-types.js';
import { IfCond } from '../../src/qapi/ifcond.js';
import { checkSchemaFile, loadSchema } from '../../src/qapi/load.js';
import type { QapiSchemaVisitor } from '../../src/qapi/visitor.js';
import { loadModel as load, modelError as errorText } from './helpers.js';
import { REPO_ROOT } from './qemu-source.js';

const INCLUDED = { 'neg-sub.inc': "\n{ 'struct': 'Sub', 'data': { 'x': 'Nope' } }\n" };

const CASES: readonly { name: string; source: string; error: string | null }[] = [
  {
    name: 'alternate-any',
    source: "{ 'alternate': 'Alt', 'data': { 'a': 'any', 'b': 'int' } }\n",
    error: "test.json: In alternate 'Alt':\ntest.json:1: branch 'a' cannot use built-in type 'any'",
  },
  {
    name: 'alternate-enum-bool',
    source:
      "{ 'enum': 'Kind', 'data': [ 'auto', 'on' ] }\n{ 'alternate': 'Alt', 'data': { 'e': 'Kind', 'b': 'bool' } }\n",
    error:
      "test.json: In alternate 'Alt':\ntest.json:2: branch 'b' can't be distinguished from 'e'",
  },
  {
    name: 'alternate-enum-num',
    source:
      "{ 'enum': 'Kind', 'data': [ 'auto', '1x' ] }\n{ 'alternate': 'Alt', 'data': { 'e': 'Kind', 'n': 'number' } }\n",
    error:
      "test.json: In alternate 'Alt':\ntest.json:2: branch 'n' can't be distinguished from 'e'",
  },
  {
    name: 'alternate-enum-ok',
    source:
      "{ 'enum': 'Kind', 'data': [ 'auto', 'off-ish' ] }\n{ 'alternate': 'Alt', 'data': { 'e': 'Kind', 'n': 'number', 'b': 'bool' } }\n",
    error: null,
  },
  {
    name: 'alternate-str-int',
    source: "{ 'alternate': 'Alt', 'data': { 'a': 'str', 'b': 'int' } }\n",
    error:
      "test.json: In alternate 'Alt':\ntest.json:1: branch 'b' can't be distinguished from 'a'",
  },
  {
    name: 'alternate-two-structs',
    source:
      "{ 'struct': 'Obj', 'data': {} }\n{ 'struct': 'Other', 'data': {} }\n{ 'alternate': 'Alt', 'data': { 's': 'Obj', 't': 'Other' } }\n",
    error:
      "test.json: In alternate 'Alt':\ntest.json:3: branch 't' can't be distinguished from 's'",
  },
  {
    name: 'alternate-unknown',
    source: "{ 'alternate': 'Alt', 'data': { 'a': 'Nope' } }\n",
    error: "test.json: In alternate 'Alt':\ntest.json:1: branch 'a' uses unknown type 'Nope'",
  },
  {
    name: 'array-unknown-type',
    source: "{ 'struct': 'Obj', 'data': { 'x': [ 'Nope' ] } }\n",
    error: "test.json: In struct 'Obj':\ntest.json:1: struct uses unknown type 'Nope'",
  },
  {
    name: 'base-is-union',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n{ 'struct': 'Obj', 'base': 'Choice', 'data': {} }\n",
    error:
      "test.json: In struct 'Obj':\ntest.json:4: 'base' requires a struct type, union type 'Choice' isn't",
  },
  {
    name: 'base-not-struct',
    source:
      "{ 'enum': 'Kind', 'data': [ 'a' ] }\n{ 'struct': 'Obj', 'base': 'Kind', 'data': {} }\n",
    error:
      "test.json: In struct 'Obj':\ntest.json:2: 'base' requires a struct type, enum type 'Kind' isn't",
  },
  {
    name: 'base-unknown',
    source: "{ 'struct': 'Obj', 'base': 'Nope', 'data': {} }\n",
    error: "test.json: In struct 'Obj':\ntest.json:1: 'base' uses unknown type 'Nope'",
  },
  {
    name: 'command-data-enum',
    source: "{ 'enum': 'Kind', 'data': [ 'a' ] }\n{ 'command': 'do-it', 'data': 'Kind' }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:2: command's 'data' cannot take enum type 'Kind'",
  },
  {
    name: 'command-data-union',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n{ 'command': 'do-it', 'data': 'Choice' }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:4: command's 'data' can take union type 'Choice' only with 'boxed': true",
  },
  {
    name: 'command-data-unknown',
    source: "{ 'command': 'do-it', 'data': 'Nope' }\n",
    error: "test.json: In command 'do-it':\ntest.json:1: command's 'data' uses unknown type 'Nope'",
  },
  {
    name: 'command-returns-exception',
    source:
      "{ 'pragma': { 'command-returns-exceptions': [ 'do-it' ] } }\n{ 'command': 'do-it', 'returns': 'int' }\n",
    error: null,
  },
  {
    name: 'command-returns-int-array',
    source: "{ 'command': 'do-it', 'returns': [ 'int' ] }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:1: command's 'returns' cannot take array type ['int']",
  },
  {
    name: 'command-returns-int',
    source: "{ 'command': 'do-it', 'returns': 'int' }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:1: command's 'returns' cannot take built-in type 'int'",
  },
  {
    name: 'command-returns-unknown',
    source: "{ 'command': 'do-it', 'returns': 'Nope' }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:1: command's 'returns' uses unknown type 'Nope'",
  },
  {
    name: 'contains-itself',
    source:
      "{ 'struct': 'Alpha', 'base': 'Beta', 'data': {} }\n{ 'struct': 'Beta', 'base': 'Alpha', 'data': {} }\n",
    error: "test.json: In struct 'Alpha':\ntest.json:1: object Alpha contains itself",
  },
  {
    name: 'doc-feature-bogus',
    source:
      "##\n# @Obj:\n#\n# Features:\n# @f: no such feature\n##\n{ 'struct': 'Obj', 'data': {} }\n",
    error: "test.json:1: documented feature 'f' does not exist",
  },
  {
    name: 'doc-feature-undocumented',
    source:
      "{ 'pragma': { 'doc-required': true } }\n##\n# @Obj:\n#\n# A struct.\n##\n{ 'struct': 'Obj', 'data': {}, 'features': [ 'f' ] }\n",
    error: "test.json: In struct 'Obj':\ntest.json:7: feature 'f' lacks documentation",
  },
  {
    name: 'doc-member-bogus',
    source:
      "##\n# @Obj:\n#\n# @x: no such member\n#\n# @y: none either\n##\n{ 'struct': 'Obj', 'data': {} }\n",
    error: "test.json:1: documented members 'x', 'y' do not exist",
  },
  {
    name: 'duplicate-builtin',
    source: "{ 'struct': 'Obj', 'data': {} }\n{ 'struct': 'QType', 'data': {} }\n",
    error: "test.json: In struct 'QType':\ntest.json:2: enum type 'QType' is already defined",
  },
  {
    name: 'duplicate-implicit',
    source:
      "{ 'command': 'do-it', 'data': { 'a': 'int' } }\n{ 'command': 'do-it', 'data': { 'a': 'int' } }\n",
    error:
      "test.json: In command 'do-it':\ntest.json:2: 'do-it' is already defined\ntest.json: In command 'do-it':\ntest.json:1: previous definition",
  },
  {
    name: 'duplicate',
    source: "{ 'struct': 'Obj', 'data': {} }\n{ 'enum': 'Obj', 'data': [] }\n",
    error:
      "test.json: In enum 'Obj':\ntest.json:2: 'Obj' is already defined\ntest.json: In struct 'Obj':\ntest.json:1: previous definition",
  },
  {
    name: 'enum-value-clash',
    source:
      "{ 'pragma': { 'member-name-exceptions': [ 'Obj', 'Kind', 'Alt' ] } }\n{ 'enum': 'Kind', 'data': [ 'one', 'a-b', 'a_b' ] }\n",
    error: "test.json: In enum 'Kind':\ntest.json:2: value 'a_b' collides with value 'a-b'",
  },
  {
    name: 'event-data-alternate',
    source: "{ 'alternate': 'Alt', 'data': { 'a': 'int' } }\n{ 'event': 'EVT', 'data': 'Alt' }\n",
    error:
      "test.json: In event 'EVT':\ntest.json:2: event's 'data' cannot take alternate type 'Alt'",
  },
  {
    name: 'event-data-union-boxed',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n{ 'event': 'EVT', 'data': 'Choice', 'boxed': true }\n",
    error: null,
  },
  {
    name: 'event-data-union',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n{ 'event': 'EVT', 'data': 'Choice' }\n",
    error:
      "test.json: In event 'EVT':\ntest.json:4: event's 'data' can take union type 'Choice' only with 'boxed': true",
  },
  {
    name: 'event-data-unknown',
    source: "{ 'event': 'EVT', 'data': 'Nope' }\n",
    error: "test.json: In event 'EVT':\ntest.json:1: event's 'data' uses unknown type 'Nope'",
  },
  {
    name: 'feature-clash2',
    source: "{ 'struct': 'Obj', 'data': {}, 'features': [ 'dup', 'dup' ] }\n",
    error: "test.json: In struct 'Obj':\ntest.json:1: feature 'dup' collides with feature 'dup'",
  },
  {
    name: 'feature-special-type',
    source: "{ 'struct': 'Obj', 'data': {}, 'features': [ 'deprecated' ] }\n",
    error:
      "test.json: In struct 'Obj':\ntest.json:1: feature 'deprecated' is not supported for types",
  },
  {
    name: 'included-error',
    source: "{ 'include': 'neg-sub.inc' }\n",
    error:
      "In file included from test.json:1:\nneg-sub.inc: In struct 'Sub':\nneg-sub.inc:2: member 'x' uses unknown type 'Nope'",
  },
  {
    name: 'member-clash-base',
    source:
      "{ 'struct': 'Base', 'data': { 'a': 'int' } }\n{ 'struct': 'Obj', 'base': 'Base', 'data': { 'a': 'str' } }\n",
    error:
      "test.json: In struct 'Obj':\ntest.json:2: member 'a' collides with member 'a' of type 'Base'",
  },
  {
    name: 'member-clash-cname',
    source:
      "{ 'pragma': { 'member-name-exceptions': [ 'Obj', 'Kind', 'Alt' ] } }\n{ 'struct': 'Obj', 'data': { 'a-b': 'int', 'a_b': 'str' } }\n",
    error: "test.json: In struct 'Obj':\ntest.json:2: member 'a_b' collides with member 'a-b'",
  },
  {
    name: 'member-feature-clash',
    source: "{ 'struct': 'Obj', 'data': { 'm': { 'type': 'int', 'features': [ 'x', 'x' ] } } }\n",
    error:
      "test.json: In struct 'Obj':\ntest.json:1: feature 'x' of type 'm' collides with feature 'x' of type 'm'",
  },
  {
    name: 'member-unknown-type',
    source: "{ 'struct': 'Obj',\n  'data': { 'x': 'Nope' } }\n",
    error: "test.json: In struct 'Obj':\ntest.json:1: member 'x' uses unknown type 'Nope'",
  },
  {
    name: 'param-unknown-type',
    source: "{ 'command': 'do-it', 'data': { 'x': 'Nope' } }\n",
    error: "test.json: In command 'do-it':\ntest.json:1: parameter 'x' uses unknown type 'Nope'",
  },
  // QEMU 7.2's scripts/qapi crashes on the next two (AssertionError,
  // AttributeError): the messages are ours.
  {
    name: 'struct-array-of-arrays',
    source: "{ 'struct': 'Sx', 'data': { 'a': ['intList'] } }\n",
    error:
      "test.json: In struct 'Sx':\ntest.json:1: struct uses array of arrays '[intList]', which is not supported",
  },
  {
    name: 'struct-data-type-name',
    source: "{ 'struct': 'Other', 'data': {} }\n{ 'struct': 'Sx', 'data': 'Other' }\n",
    error: "test.json: In struct 'Sx':\ntest.json:2: 'data' must be an object",
  },
  {
    name: 'union-branch-clash',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': { 'k': 'int' } }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: member 'k' of type 'Branch' collides with base member 'k'",
  },
  {
    name: 'union-branch-not-struct',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Kind' } }\n",
    error: "test.json: In union 'Choice':\ntest.json:3: branch 'one' cannot use enum type 'Kind'",
  },
  {
    name: 'union-branch-not-value',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': { 'zed': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: branch 'zed' is not a value of enum type 'Kind'",
  },
  {
    name: 'union-discriminator-conditional',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': { 'type': 'Kind', 'if': 'CONFIG_X' } }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: discriminator member 'k' of 'base' must not be conditional",
  },
  {
    name: 'union-discriminator-missing',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'kind', 'data': { 'one': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: discriminator 'kind' is not a member of 'base'",
  },
  {
    name: 'union-discriminator-not-enum',
    source:
      "{ 'struct': 'Base', 'data': { 'k': 'str' } }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': 'Base', 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: discriminator member 'k' of base type 'Base' must be of enum type",
  },
  {
    name: 'union-discriminator-optional',
    source:
      "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Branch', 'data': {} }\n{ 'union': 'Choice', 'base': { '*k': 'Kind' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n",
    error:
      "test.json: In union 'Choice':\ntest.json:3: discriminator member 'k' of 'base' must not be optional",
  },
  {
    name: 'union-no-branches',
    source:
      "{ 'enum': 'Kind', 'data': [] }\n{ 'union': 'Choice', 'base': { 'k': 'Kind' }, 'discriminator': 'k', 'data': {} }\n",
    error: "test.json: In union 'Choice':\ntest.json:2: union has no branches",
  },
];

/** The compiled modules of the checked model (stage 2), whose semantic errors CASES must cover. */
const MODEL_MODULES = ['entities', 'object-types', 'definitions', 'schema', 'members'];
const QAPI_DIST = fileURLToPath(new URL('../../src/qapi/', import.meta.url));

/** Error constructions that are not checks of their own, and why. */
const NOT_CHECKS = new Map([
  [
    "throw new QapiSemanticError(info, 'internal: unknown kind of definition');",
    'raised only if the expression checks let a malformed definition through',
  ],
  [
    "const where = formatError(new QapiSemanticError(other.info, 'previous definition'));",
    "the second line of the 'already defined' error (covered by duplicate)",
  ],
]);

/** Every `new QapiSemanticError(` in the model's compiled modules, as `module.js:line`. */
function semanticErrorSites(): { site: string; text: string }[] {
  return MODEL_MODULES.flatMap((m) =>
    readFileSync(join(QAPI_DIST, `${m}.js`), 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        line.includes('new QapiSemanticError(')
          ? [{ site: `${m}.js:${i + 1}`, text: line.trim() }]
          : [],
      ),
  );
}

/** Where in the model's modules an error was constructed (`module.js:line`), from its stack. */
function raisedAt(err: unknown): string | null {
  if (!(err instanceof QapiSemanticError)) return null;
  for (const frame of (err.stack ?? '').split('\n').slice(1)) {
    const m = /\/src\/qapi\/([\w-]+\.js):(\d+):\d+\)?$/.exec(frame);
    if (m !== null && m[1] !== 'error.js') return `${m[1]}:${m[2]}`;
  }
  return null;
}

describe('semantic checks (QEMU 7.2 messages)', () => {
  for (const c of CASES) {
    test(c.name, () => {
      assert.equal(errorText(c.source, INCLUDED), c.error);
    });
  }

  test('every kind of check has a negative case', () => {
    // A kind of check is a place in the model's code that raises a semantic
    // error; a negative case covers it when its error is raised there.
    const sites = semanticErrorSites();
    assert.ok(sites.length >= 15, `only ${sites.length} checks found`);
    const covered = new Set<string>();
    for (const c of CASES) {
      if (c.error === null) continue;
      try {
        load(c.source, INCLUDED);
      } catch (err) {
        const site = raisedAt(err);
        if (site !== null) covered.add(site);
      }
    }
    assert.deepEqual(
      sites.filter((s) => !covered.has(s.site) && !NOT_CHECKS.has(s.text)),
      [],
    );
  });
});

describe('limits', () => {
  test('a base chain deeper than the stack is an error, not a crash', () => {
    const depth = 30_000;
    const defs: string[] = [];
    for (let i = 0; i < depth; i++)
      defs.push(`{ 'struct': 'Sa${i}', 'base': 'Sa${i + 1}', 'data': {} }`);
    defs.push(`{ 'struct': 'Sa${depth}', 'data': {} }`);
    const result = checkSchemaFile('chain.json', { readFile: () => `${defs.join('\n')}\n` });
    assert.equal(result.ok, false);
    assert.equal(
      result.errors[0]?.message,
      "schema file 'chain.json' is nested too deeply to check (e.g. a very long chain of base types)",
    );
  });

  test('a moderately deep base chain is fine', () => {
    const defs: string[] = [];
    for (let i = 0; i < 300; i++)
      defs.push(`{ 'struct': 'Sa${i}', 'base': 'Sa${i + 1}', 'data': { 'm${i}': 'int' } }`);
    defs.push("{ 'struct': 'Sa300', 'data': {} }");
    const schema = load(`${defs.join('\n')}\n`);
    const top = schema.lookupType('Sa0');
    assert.ok(top instanceof ObjectType);
    assert.equal(top.members.length, 300);
    assert.equal(top.members[0]?.name, 'm299');
  });
});

describe('positive cases', () => {
  test("memfail's own schema files pass with doc-required on", () => {
    for (const f of ['memory-failure-seed.json', 'memory-failure-qemu.json', 'qmp-core.json']) {
      const path = `${REPO_ROOT}schema/${f}`;
      const result = checkSchemaFile(path);
      assert.deepEqual(result, { ok: true, errors: [] }, f);
      const schema = loadSchema(path);
      assert.ok(schema.entities.every((e) => e.info === null || e.info.pragma.docRequired));
    }
  });

  test('the QEMU dialect: MEMORY_FAILURE with recipient, action and required flags', () => {
    const schema = loadSchema(`${REPO_ROOT}schema/memory-failure-qemu.json`);
    const event = schema.lookupEntity('MEMORY_FAILURE');
    assert.ok(event instanceof Event);
    assert.equal(event.argType?.name, 'q_obj_MEMORY_FAILURE-arg');
    assert.deepEqual(
      event.argType?.members.map((m) => [m.name, m.type.name, m.optional]),
      [
        ['recipient', 'MemoryFailureRecipient', false],
        ['action', 'MemoryFailureAction', false],
        ['flags', 'MemoryFailureFlags', false],
      ],
    );
    const action = schema.lookupType('MemoryFailureAction');
    assert.ok(action instanceof EnumType);
    assert.deepEqual(action.memberNames(), ['ignore', 'inject', 'fatal', 'reset']);
    const flags = schema.lookupType('MemoryFailureFlags');
    assert.ok(flags instanceof ObjectType);
    assert.deepEqual(
      flags.members.map((m) => [m.name, m.optional]),
      [
        ['action-required', false],
        ['recursive', false],
      ],
    );
  });

  test('the seed dialect: four folded actions, optional flags', () => {
    const schema = loadSchema(`${REPO_ROOT}schema/memory-failure-seed.json`);
    const action = schema.lookupType('MemoryFailureAction');
    assert.ok(action instanceof EnumType);
    assert.deepEqual(action.memberNames(), [
      'hypervisor-ignore',
      'hypervisor-fatal',
      'guest-mce-inject',
      'guest-mce-fatal',
    ]);
    const flags = schema.lookupType('MemoryFailureFlags');
    assert.ok(flags instanceof ObjectType);
    assert.ok(flags.members.every((m) => m.optional));
  });

  test('qmp-core: commands, events and the pragma exceptions', () => {
    const schema = loadSchema(`${REPO_ROOT}schema/qmp-core.json`);
    const commands = schema.entities.filter((e) => e instanceof Command).map((e) => e.name);
    assert.deepEqual(commands.sort(), [
      'cont',
      'human-monitor-command',
      'qmp_capabilities',
      'query-qmp-schema',
      'query-status',
      'query-version',
      'quit',
      'stop',
      'system_powerdown',
      'system_reset',
    ]);
    const events = schema.entities.filter((e) => e instanceof Event).map((e) => e.name);
    assert.deepEqual(events.sort(), [
      'GUEST_PANICKED',
      'POWERDOWN',
      'RESET',
      'RESUME',
      'SHUTDOWN',
      'STOP',
    ]);
    const hmp = schema.lookupEntity('human-monitor-command');
    assert.ok(hmp instanceof Command);
    assert.equal(hmp.retType?.name, 'str');
    const caps = schema.lookupType('QMPCapability');
    assert.ok(caps instanceof EnumType);
    assert.deepEqual(caps.memberNames(), ['oob']);
    const panic = schema.lookupType('GuestPanicInformation');
    assert.ok(panic instanceof ObjectType);
    assert.equal(panic.variants?.tagMember.name, 'type');
    assert.deepEqual(
      panic.variants?.variants.map((v) => [v.name, v.type.name]),
      [
        ['hyper-v', 'GuestPanicInformationHyperV'],
        ['s390', 'GuestPanicInformationS390'],
      ],
    );
  });

  test('unions get q_empty branches for uncovered values; members flatten base first', () => {
    const schema = load(
      "{ 'enum': 'Kind', 'data': [ 'one', { 'name': 'two', 'if': 'CONFIG_TWO' } ] }\n" +
        "{ 'struct': 'Branch', 'data': { 'b': 'int' } }\n" +
        "{ 'union': 'Choice', 'base': { 'k': 'Kind', '*c': 'str' }, 'discriminator': 'k', 'data': { 'one': 'Branch' } }\n",
    );
    const u = schema.lookupType('Choice');
    assert.ok(u instanceof ObjectType);
    assert.equal(u.meta, 'union');
    assert.equal(u.base?.name, 'q_obj_Choice-base');
    assert.deepEqual(
      u.members.map((m) => m.name),
      ['k', 'c'],
    );
    assert.deepEqual(
      u.variants?.variants.map((v) => [v.name, v.type.name, v.ifcond.cgen()]),
      [
        ['one', 'Branch', ''],
        ['two', 'q_empty', 'defined(CONFIG_TWO)'],
      ],
    );
  });

  test('branches named like integers keep their source order (QEMU: b, 1, 0)', () => {
    // Enum values may start with a digit; JavaScript lists such keys of an
    // object first and in numeric order, QEMU's dicts keep source order.
    const schema = load(
      "{ 'enum': 'Kind', 'data': [ 'b', '1', '0' ] }\n" +
        "{ 'struct': 'Branch', 'data': { 'x': 'int' } }\n" +
        "{ 'struct': 'Base', 'data': { 'kind': 'Kind' } }\n" +
        "{ 'union': 'Choice', 'base': 'Base', 'discriminator': 'kind',\n" +
        "  'data': { 'b': 'Branch', '1': 'Branch', '0': 'Branch' } }\n",
    );
    const u = schema.lookupType('Choice');
    assert.ok(u instanceof ObjectType);
    assert.deepEqual(
      u.variants?.variants.map((v) => v.name),
      ['b', '1', '0'],
    );
  });

  test('alternates: the implicit QType tag and one branch per JSON type', () => {
    const schema = load(
      "{ 'alternate': 'Alt', 'data': { 'n': 'int', 'z': 'null', 'l': [ 'int' ] } }\n",
    );
    const alt = schema.lookupType('Alt');
    assert.ok(alt instanceof AlternateType);
    assert.equal(alt.variants.tagMember.type.name, 'QType');
    assert.deepEqual(
      alt.variants.variants.map((v) => v.type.alternateQtype()),
      ['QTYPE_QNUM', 'QTYPE_QNULL', 'QTYPE_QLIST'],
    );
  });

  test('if conditions render as QEMU renders them', () => {
    const cond = new IfCond({ all: ['A', { not: 'B' }, { any: ['C', 'D'] }] });
    assert.equal(cond.isPresent(), true);
    assert.equal(cond.cgen(), 'defined(A) && !defined(B) && (defined(C) || defined(D))');
    assert.equal(cond.docgen(), 'A and not B and (C or D)');
    assert.equal(new IfCond().isPresent(), false);
    assert.equal(new IfCond().cgen(), '');
  });

  test('cName maps to C identifiers, protecting reserved words', () => {
    assert.equal(cName('x-foo'), 'x_foo');
    assert.equal(cName('__a.b_c'), '__a_b_c');
    assert.equal(cName('int'), 'q_int');
    assert.equal(cName('int', false), 'int');
    assert.equal(cName('unix'), 'q_unix');
    assert.equal(cName('1st'), 'q_1st');
  });
});

describe('visitor', () => {
  test("walks modules (built-in, main, includes) and each module's entities in definition order", () => {
    const schema = load(
      "{ 'include': 'sub.json' }\n" +
        "{ 'struct': 'Top', 'data': { 'subs': [ 'Sub' ], 'n': [ 'int' ] } }\n" +
        "{ 'command': 'do-it', 'data': { 'a': 'Top' }, 'returns': 'Top' }\n" +
        "{ 'event': 'EVT', 'data': 'Top' }\n",
      { 'sub.json': "{ 'enum': 'Sub', 'data': [ 'x' ] }\n" },
    );
    const seen: string[] = [];
    const visitor: QapiSchemaVisitor = {
      visitBegin: () => seen.push('begin'),
      visitEnd: () => seen.push('end'),
      visitModule: (name) => seen.push(`module ${name}`),
      visitInclude: (name) => seen.push(`include ${name}`),
      visitBuiltinType: (name) => {
        if (name === 'str' || name === 'null') seen.push(`builtin ${name}`);
      },
      visitEnumType: (name) => seen.push(`enum ${name}`),
      visitArrayType: (name, info) => {
        if (info) seen.push(`array ${name}`);
      },
      visitObjectType: (name) => seen.push(`object ${name}`),
      visitObjectTypeFlat: (name, _info, _ifcond, _features, members) =>
        seen.push(`flat ${name} ${members.map((m) => m.name).join(',')}`),
      visitCommand: (name, _info, _ifcond, _features, arg, ret) =>
        seen.push(`command ${name} ${arg?.name} -> ${ret?.name}`),
      visitEvent: (name, _info, _ifcond, _features, arg) => seen.push(`event ${name} ${arg?.name}`),
    };
    schema.visit(visitor);
    assert.deepEqual(seen, [
      'begin',
      'module ./builtin',
      'builtin str',
      'builtin null',
      'object q_empty',
      'flat q_empty ',
      'enum QType',
      'module test.json',
      'include sub.json',
      // Arrays of a user type are listed in the module that defines the element type.
      'object Top',
      'flat Top subs,n',
      'object q_obj_do-it-arg',
      'flat q_obj_do-it-arg a',
      'command do-it q_obj_do-it-arg -> Top',
      'event EVT Top',
      'module sub.json',
      'enum Sub',
      'array SubList',
      'end',
    ]);
  });

  test('visitNeeded filters entities', () => {
    const schema = load(
      "{ 'enum': 'Kind', 'data': [ 'a' ] }\n{ 'struct': 'Obj', 'data': { 'k': 'Kind' } }\n",
    );
    const names: string[] = [];
    schema.visit({
      visitNeeded: (e) => e.info !== null,
      visitEnumType: (name) => names.push(name),
      visitObjectType: (name) => names.push(name),
    });
    assert.deepEqual(names, ['Kind', 'Obj']);
  });
});
