import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checked, errorOf } from './helpers.js';

/** [what, schema text, QEMU's exact error]; the definition under test sits on line 2. */
type Case = [string, string, string];

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const [what, text, err] of cases)
      test(what, () => assert.equal(errorOf(`\n${text}`), err));
  });
}

const inDef = (meta: string, name: string, msg: string) =>
  `test.json: In ${meta} '${name}':\ntest.json:2: ${msg}`;

table('expression kinds and keys', [
  [
    'no kind',
    "{ 'data': {} }",
    "test.json:2: expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
  ],
  [
    'two kinds',
    "{ 'enum': 'A', 'struct': 'A', 'data': [] }",
    "test.json:2: expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
  ],
  [
    'name not a string',
    "{ 'struct': [ 'A' ], 'data': {} }",
    "test.json:2: 'struct' requires a string name",
  ],
  ['missing key', "{ 'enum': 'Foo' }", inDef('enum', 'Foo', "enum misses key 'data'")],
  [
    'missing keys, sorted',
    "{ 'union': 'Foo' }",
    inDef('union', 'Foo', "union misses keys 'base', 'data', 'discriminator'"),
  ],
  [
    'unknown key',
    "{ 'struct': 'Foo', 'data': {}, 'bogus': true }",
    inDef(
      'struct',
      'Foo',
      "struct has unknown key 'bogus'\nValid keys are 'base', 'data', 'features', 'if', 'struct'.",
    ),
  ],
  [
    'unknown keys',
    "{ 'event': 'FOO', 'y': 1, 'x': 2 }".replace(/\d/g, "'v'"),
    inDef(
      'event',
      'FOO',
      "event has unknown keys 'x', 'y'\nValid keys are 'boxed', 'data', 'event', 'features', 'if'.",
    ),
  ],
  [
    'command keys',
    "{ 'command': 'foo', 'oob': true }",
    inDef(
      'command',
      'foo',
      "command has unknown key 'oob'\nValid keys are 'allow-oob', 'allow-preconfig', 'boxed', 'command', 'coroutine', 'data', 'features', 'gen', 'if', 'returns', 'success-response'.",
    ),
  ],
  [
    'enum keys',
    "{ 'enum': 'Foo', 'data': [], 'base': 'X' }",
    inDef(
      'enum',
      'Foo',
      "enum has unknown key 'base'\nValid keys are 'data', 'enum', 'features', 'if', 'prefix'.",
    ),
  ],
  [
    'alternate keys',
    "{ 'alternate': 'Foo', 'data': { 'a': 'int' }, 'base': 'X' }",
    inDef(
      'alternate',
      'Foo',
      "alternate has unknown key 'base'\nValid keys are 'alternate', 'data', 'features', 'if'.",
    ),
  ],
]);

table('definition names', [
  [
    'invalid characters',
    "{ 'struct': 'Foo!', 'data': {} }",
    inDef('struct', 'Foo!', 'struct has an invalid name'),
  ],
  [
    'reserved q_ prefix',
    "{ 'command': 'q-foo' }",
    inDef('command', 'q-foo', 'command has an invalid name'),
  ],
  [
    'type not CamelCase',
    "{ 'struct': 'foo', 'data': {} }",
    inDef('struct', 'foo', 'name of struct must use CamelCase'),
  ],
  [
    'all-caps type',
    "{ 'enum': 'FOO', 'data': [] }",
    inDef('enum', 'FOO', 'name of enum must use CamelCase'),
  ],
  [
    'type ending in List',
    "{ 'struct': 'FooList', 'data': {} }",
    inDef('struct', 'FooList', "struct name should not end in 'List'"),
  ],
  [
    'command upper case',
    "{ 'command': 'fooBar' }",
    inDef('command', 'fooBar', "name of command must not use uppercase or '_'"),
  ],
  [
    'command underscore',
    "{ 'command': 'foo_bar' }",
    inDef('command', 'foo_bar', "name of command must not use uppercase or '_'"),
  ],
  [
    'event lower case',
    "{ 'event': 'Foo' }",
    inDef('event', 'Foo', "name of event must not use lowercase or '-'"),
  ],
  [
    'event dash',
    "{ 'event': 'FOO-BAR' }",
    inDef('event', 'FOO-BAR', "name of event must not use lowercase or '-'"),
  ],
  [
    'stem after downstream prefix',
    "{ 'struct': '__org_foo', 'data': {} }",
    inDef('struct', '__org_foo', 'name of struct must use CamelCase'),
  ],
]);

describe('names that are fine', () => {
  test('downstream and experimental prefixes, pragma exceptions', () => {
    const { exprs } = checked(
      "{ 'pragma': { 'command-name-exceptions': [ 'my_cmd' ], 'member-name-exceptions': [ 'Odd' ] } }\n" +
        "{ 'struct': '__com.example_Foo', 'data': { 'x-a': 'int', '__com.example_b': 'str' } }\n" +
        "{ 'command': '__com.example_x-cmd' }\n{ 'command': 'my_cmd' }\n" +
        "{ 'event': '__ORG.QEMU_EVENT_X' }\n{ 'struct': 'Odd', 'data': { 'a_B': 'int' } }\n" +
        "{ 'enum': 'Odd2', 'data': [ '1a', 'b-c' ] }",
    );
    assert.equal(exprs.length, 6);
  });
  test('experimental prefix must come after the downstream one', () => {
    assert.equal(
      errorOf("{ 'command': 'x-__com.example_cmd' }"),
      "test.json: In command 'x-__com.example_cmd':\ntest.json:1: command has an invalid name",
    );
  });
});

table('members', [
  [
    'member upper case',
    "{ 'struct': 'Foo', 'data': { 'aB': 'int' } }",
    inDef('struct', 'Foo', "name of 'data' member 'aB' must not use uppercase or '_'"),
  ],
  [
    'member invalid',
    "{ 'struct': 'Foo', 'data': { '*': 'int' } }",
    inDef('struct', 'Foo', "'data' member '*' has an invalid name"),
  ],
  [
    'member reserved u',
    "{ 'struct': 'Foo', 'data': { 'u': 'int' } }",
    inDef('struct', 'Foo', "'data' member 'u' uses reserved name"),
  ],
  [
    'member reserved has-',
    "{ 'command': 'foo', 'data': { '*has-x': 'int' } }",
    inDef('command', 'foo', "'data' member '*has-x' uses reserved name"),
  ],
  [
    'member keys',
    "{ 'struct': 'Foo', 'data': { 'a': { 'typ': 'int' } } }",
    inDef('struct', 'Foo', "'data' member 'a' misses key 'type'"),
  ],
  [
    'member unknown key',
    "{ 'struct': 'Foo', 'data': { 'a': { 'type': 'int', 'x': 'y' } } }",
    inDef(
      'struct',
      'Foo',
      "'data' member 'a' has unknown key 'x'\nValid keys are 'features', 'if', 'type'.",
    ),
  ],
  [
    'member anonymous type',
    "{ 'struct': 'Foo', 'data': { 'a': { 'type': { 'b': 'int' } } } }",
    inDef('struct', 'Foo', "'data' member 'a' should be a type name"),
  ],
  [
    'member array of two',
    "{ 'struct': 'Foo', 'data': { 'a': [ 'int', 'str' ] } }",
    inDef('struct', 'Foo', "'data' member 'a': array type must contain single type name"),
  ],
  [
    'member feature',
    "{ 'struct': 'Foo', 'data': { 'a': { 'type': 'int', 'features': [ 'Bad' ] } } }",
    inDef('struct', 'Foo', "name of 'features' member 'Bad' must not use uppercase or '_'"),
  ],
  [
    'struct data array',
    "{ 'struct': 'Foo', 'data': [ 'int' ] }",
    inDef('struct', 'Foo', "'data' cannot be an array"),
  ],
  [
    'struct data boolean',
    "{ 'struct': 'Foo', 'data': true }",
    inDef('struct', 'Foo', "'data' should be an object or type name"),
  ],
  [
    'struct base dict',
    "{ 'struct': 'Foo', 'base': { 'a': 'int' }, 'data': {} }",
    inDef('struct', 'Foo', "'base' should be a type name"),
  ],
  [
    'member exceptions are per type',
    "{ 'pragma': { 'member-name-exceptions': [ 'Other' ] } }\n{ 'struct': 'Foo', 'data': { 'a_b': 'int' } }",
    "test.json: In struct 'Foo':\ntest.json:3: name of 'data' member 'a_b' must not use uppercase or '_'",
  ],
]);

table('enums', [
  [
    'data not a list',
    "{ 'enum': 'Foo', 'data': {} }",
    inDef('enum', 'Foo', "'data' must be an array"),
  ],
  [
    'prefix not a string',
    "{ 'enum': 'Foo', 'data': [], 'prefix': true }",
    inDef('enum', 'Foo', "'prefix' must be a string"),
  ],
  [
    'value not a string',
    "{ 'enum': 'Foo', 'data': [ [ 'a' ] ] }",
    inDef('enum', 'Foo', "'data' member requires a string name"),
  ],
  [
    'value dict missing name',
    "{ 'enum': 'Foo', 'data': [ { 'if': 'A' } ] }",
    inDef('enum', 'Foo', "'data' member misses key 'name'"),
  ],
  [
    'value bad key',
    "{ 'enum': 'Foo', 'data': [ { 'name': 'a', 'x': 'y' } ] }",
    inDef(
      'enum',
      'Foo',
      "'data' member has unknown key 'x'\nValid keys are 'features', 'if', 'name'.",
    ),
  ],
  [
    'value upper case',
    "{ 'enum': 'Foo', 'data': [ 'A' ] }",
    inDef('enum', 'Foo', "name of 'data' member 'A' must not use uppercase or '_'"),
  ],
  [
    'value invalid',
    "{ 'enum': 'Foo', 'data': [ 'a b' ] }",
    inDef('enum', 'Foo', "'data' member 'a b' has an invalid name"),
  ],
  [
    'empty value',
    "{ 'enum': 'Foo', 'data': [ '' ] }",
    inDef('enum', 'Foo', "'data' member '' has an invalid name"),
  ],
  [
    'value if',
    "{ 'enum': 'Foo', 'data': [ { 'name': 'a', 'if': 'x' } ] }",
    inDef('enum', 'Foo', "'if' condition 'x' of 'data' member 'a' is not a valid identifier"),
  ],
]);

table('unions and alternates', [
  [
    'union base array',
    "{ 'union': 'Foo', 'base': [ 'B' ], 'discriminator': 'k', 'data': {} }",
    inDef('union', 'Foo', "'base' cannot be an array"),
  ],
  [
    'discriminator not a string',
    "{ 'union': 'Foo', 'base': 'B', 'discriminator': {}, 'data': {} }",
    inDef('union', 'Foo', "'discriminator' requires a string name"),
  ],
  [
    'union data list',
    "{ 'union': 'Foo', 'base': 'B', 'discriminator': 'k', 'data': [] }",
    inDef('union', 'Foo', "'data' must be an object"),
  ],
  [
    'union branch keys',
    "{ 'union': 'Foo', 'base': 'B', 'discriminator': 'k', 'data': { 'a': { 'type': 'X', 'features': [] } } }",
    inDef(
      'union',
      'Foo',
      "'data' member 'a' has unknown key 'features'\nValid keys are 'if', 'type'.",
    ),
  ],
  [
    'union branch array with base',
    "{ 'union': 'Foo', 'base': 'B', 'discriminator': 'k', 'data': { 'a': [ 'X' ] } }",
    inDef('union', 'Foo', "'data' member 'a' cannot be an array"),
  ],
  [
    'alternate empty',
    "{ 'alternate': 'Foo', 'data': {} }",
    inDef('alternate', 'Foo', "'data' must not be empty"),
  ],
  [
    'alternate data list',
    "{ 'alternate': 'Foo', 'data': [ 'a' ] }",
    inDef('alternate', 'Foo', "'data' must be an object"),
  ],
  [
    'alternate branch name',
    "{ 'alternate': 'Foo', 'data': { 'A': 'int' } }",
    inDef('alternate', 'Foo', "name of 'data' member 'A' must not use uppercase or '_'"),
  ],
  [
    'alternate anonymous branch',
    "{ 'alternate': 'Foo', 'data': { 'a': { 'type': { 'b': 'int' } } } }",
    inDef('alternate', 'Foo', "'data' member 'a' should be a type name"),
  ],
]);

table('commands and events', [
  [
    'boxed without data',
    "{ 'command': 'foo', 'boxed': true }",
    inDef('command', 'foo', "'boxed': true requires 'data'"),
  ],
  [
    'boxed with inline data',
    "{ 'command': 'foo', 'boxed': true, 'data': { 'a': 'int' } }",
    inDef('command', 'foo', "'data' should be a type name"),
  ],
  [
    'data array',
    "{ 'command': 'foo', 'data': [ 'int' ] }",
    inDef('command', 'foo', "'data' cannot be an array"),
  ],
  [
    'returns dict',
    "{ 'command': 'foo', 'returns': { 'a': 'int' } }",
    inDef('command', 'foo', "'returns' should be a type name"),
  ],
  [
    'returns array of two',
    "{ 'command': 'foo', 'returns': [] }",
    inDef('command', 'foo', "'returns': array type must contain single type name"),
  ],
  [
    'event boxed without data',
    "{ 'event': 'FOO', 'boxed': true }",
    inDef('event', 'FOO', "'boxed': true requires 'data'"),
  ],
  [
    'event data array',
    "{ 'event': 'FOO', 'data': [ 'X' ] }",
    inDef('event', 'FOO', "'data' cannot be an array"),
  ],
  [
    'gen true',
    "{ 'command': 'foo', 'gen': true }",
    inDef('command', 'foo', "flag 'gen' may only use false value"),
  ],
  [
    'success-response string',
    "{ 'command': 'foo', 'success-response': 'no' }",
    inDef('command', 'foo', "flag 'success-response' may only use false value"),
  ],
  [
    'boxed false',
    "{ 'command': 'foo', 'data': 'X', 'boxed': false }",
    inDef('command', 'foo', "flag 'boxed' may only use true value"),
  ],
  [
    'allow-oob false',
    "{ 'command': 'foo', 'allow-oob': false }",
    inDef('command', 'foo', "flag 'allow-oob' may only use true value"),
  ],
  [
    'allow-preconfig false',
    "{ 'command': 'foo', 'allow-preconfig': false }",
    inDef('command', 'foo', "flag 'allow-preconfig' may only use true value"),
  ],
  [
    'coroutine false',
    "{ 'command': 'foo', 'coroutine': false }",
    inDef('command', 'foo', "flag 'coroutine' may only use true value"),
  ],
  [
    'oob and coroutine',
    "{ 'command': 'foo', 'allow-oob': true, 'coroutine': true }",
    inDef('command', 'foo', "flags 'allow-oob' and 'coroutine' are incompatible"),
  ],
]);

table("'if' conditions", [
  [
    'not an identifier',
    "{ 'struct': 'Foo', 'data': {}, 'if': 'defined(X)' }",
    inDef('struct', 'Foo', "'if' condition 'defined(X)' of struct is not a valid identifier"),
  ],
  [
    'lower case',
    "{ 'struct': 'Foo', 'data': {}, 'if': 'config_x' }",
    inDef('struct', 'Foo', "'if' condition 'config_x' of struct is not a valid identifier"),
  ],
  [
    'wrong type',
    "{ 'struct': 'Foo', 'data': {}, 'if': [ 'X' ] }",
    inDef('struct', 'Foo', "'if' condition of struct must be a string or an object"),
  ],
  [
    'unknown operator',
    "{ 'struct': 'Foo', 'data': {}, 'if': { 'xor': [] } }",
    inDef(
      'struct',
      'Foo',
      "'if' condition of struct has unknown key 'xor'\nValid keys are 'all', 'any', 'not'.",
    ),
  ],
  [
    'two operators',
    "{ 'struct': 'Foo', 'data': {}, 'if': { 'all': [ 'A' ], 'any': [ 'B' ] } }",
    inDef('struct', 'Foo', "'if' condition of struct has conflicting keys"),
  ],
  [
    'empty condition',
    "{ 'struct': 'Foo', 'data': {}, 'if': {} }",
    inDef('struct', 'Foo', "'if' condition of struct has conflicting keys"),
  ],
  [
    'operands not a list',
    "{ 'struct': 'Foo', 'data': {}, 'if': { 'any': 'A' } }",
    inDef('struct', 'Foo', "'any' condition of struct must be an array"),
  ],
  [
    'useless',
    "{ 'struct': 'Foo', 'data': {}, 'if': { 'all': [] } }",
    inDef('struct', 'Foo', "'if' condition [] of struct is useless"),
  ],
  [
    'nested bad',
    "{ 'struct': 'Foo', 'data': {}, 'if': { 'not': { 'all': [ 'A', 'b' ] } } }",
    inDef('struct', 'Foo', "'if' condition 'b' of struct is not a valid identifier"),
  ],
  [
    'member condition',
    "{ 'struct': 'Foo', 'data': { 'a': { 'type': 'int', 'if': '' } } }",
    inDef('struct', 'Foo', "'if' condition '' of 'data' member 'a' is not a valid identifier"),
  ],
]);

table('features', [
  [
    'not a list',
    "{ 'struct': 'Foo', 'data': {}, 'features': 'deprecated' }",
    inDef('struct', 'Foo', "'features' must be an array"),
  ],
  [
    'name not a string',
    "{ 'struct': 'Foo', 'data': {}, 'features': [ { 'name': [] } ] }",
    inDef('struct', 'Foo', "'features' member requires a string name"),
  ],
  [
    'missing name',
    "{ 'struct': 'Foo', 'data': {}, 'features': [ {} ] }",
    inDef('struct', 'Foo', "'features' member misses key 'name'"),
  ],
  [
    'unknown key',
    "{ 'struct': 'Foo', 'data': {}, 'features': [ { 'name': 'f', 'x': 'y' } ] }",
    inDef('struct', 'Foo', "'features' member has unknown key 'x'\nValid keys are 'if', 'name'."),
  ],
  [
    'bad name',
    "{ 'struct': 'Foo', 'data': {}, 'features': [ 'f_g' ] }",
    inDef('struct', 'Foo', "name of 'features' member 'f_g' must not use uppercase or '_'"),
  ],
  [
    'bad condition',
    "{ 'struct': 'Foo', 'data': {}, 'features': [ { 'name': 'f', 'if': 'a' } ] }",
    inDef('struct', 'Foo', "'if' condition 'a' of 'features' member 'f' is not a valid identifier"),
  ],
]);

describe('normalization (what the model builder receives)', () => {
  test('members, features and enum values take their canonical shapes', () => {
    const { exprs } = checked(
      "{ 'enum': 'Enm', 'data': [ 'a', { 'name': 'b', 'if': 'X' } ], 'features': [ 'f' ] }\n" +
        "{ 'struct': 'Str', 'data': { 'a': 'int', '*b': [ 'str' ], 'c': { 'type': 'Enm', 'features': [ 'unstable' ] } } }\n" +
        "{ 'union': 'Uni', 'base': { 'k': 'Enm' }, 'discriminator': 'k', 'data': { 'a': 'Str' } }\n" +
        "{ 'alternate': 'Alt', 'data': { 'i': 'int', 's': 'str' } }\n" +
        "{ 'command': 'c', 'data': { 'x': 'int' }, 'returns': [ 'Str' ] }\n{ 'event': 'EVT', 'data': 'Str', 'boxed': true }",
    );
    assert.deepEqual(
      exprs.map((e) => e.expr),
      [
        { enum: 'Enm', data: [{ name: 'a' }, { name: 'b', if: 'X' }], features: [{ name: 'f' }] },
        {
          struct: 'Str',
          data: {
            a: { type: 'int' },
            '*b': { type: ['str'] },
            c: { type: 'Enm', features: [{ name: 'unstable' }] },
          },
        },
        {
          union: 'Uni',
          base: { k: { type: 'Enm' } },
          discriminator: 'k',
          data: { a: { type: 'Str' } },
        },
        { alternate: 'Alt', data: { i: { type: 'int' }, s: { type: 'str' } } },
        { command: 'c', data: { x: { type: 'int' } }, returns: ['Str'] },
        { event: 'EVT', data: 'Str', boxed: true },
      ],
    );
    assert.equal(exprs[1]?.info.defnMeta, 'struct');
    assert.equal(exprs[1]?.info.defnName, 'Str');
  });

  test('include markers pass through', () => {
    const { exprs } = checked({
      'a.json': "{ 'include': 'b.json' }",
      'b.json': "{ 'enum': 'Enm', 'data': [] }",
    });
    assert.deepEqual(
      exprs.map((e) => e.expr),
      [{ include: 'b.json' }, { enum: 'Enm', data: [] }],
    );
  });

  test('errors in included files name the definition after the include chain', () => {
    assert.equal(
      errorOf({ 'a.json': "{ 'include': 'b.json' }", 'b.json': "\n{ 'enum': 'e', 'data': [] }" }),
      "In file included from a.json:1:\nb.json: In enum 'e':\nb.json:2: name of enum must use CamelCase",
    );
  });
});
