import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatError, QapiError } from '../../src/qapi/error.js';
import { checked, errorOf, parseFiles } from './helpers.js';

const doc = (...lines: string[]) => lines.join('\n');
const STRUCT = "{ 'struct': 'Foo', 'data': { 'a': 'int' } }";

/** [what, schema text, QEMU's exact error] */
const errors: [string, string, string][] = [
  [
    'junk after opening ##',
    doc('## x', '##', STRUCT),
    "test.json:1:1: junk after '##' at start of documentation comment",
  ],
  [
    'junk after closing ##',
    doc('##', '# @Foo:', '## x', STRUCT),
    "test.json:3:1: junk after '##' at end of documentation comment",
  ],
  [
    'unterminated block',
    doc('##', '# @Foo:', STRUCT),
    "test.json:3:1: documentation comment must end with '##'",
  ],
  [
    'unterminated at EOF',
    doc('##', '# text'),
    "test.json:2:7: documentation comment must end with '##'",
  ],
  [
    'missing space after #',
    doc('##', '#@Foo:', '##', STRUCT),
    'test.json:2:1: missing space after #',
  ],
  [
    'symbol line without colon',
    doc('##', '# @Foo', '##', STRUCT),
    "test.json:2:1: line should end with ':'",
  ],
  ['empty symbol', doc('##', '# @:', '##', STRUCT), "test.json:2:1: name required after '@'"],
  [
    'heading in definition doc',
    doc('##', '# @Foo:', '# = Heading', '##', STRUCT),
    "test.json:3:1: unexpected '=' markup in definition documentation",
  ],
  [
    'symbol in free-form text',
    doc('##', '# Some text', '# @a: b', '##'),
    "test.json:3:1: '@a:' not allowed in free-form documentation",
  ],
  [
    'symbol in body text',
    doc('##', '# @Foo:', '# @a:b c', '##', STRUCT),
    "test.json:3:1: '@a:' not allowed in free-form documentation",
  ],
  [
    'empty parameter name',
    doc('##', '# @Foo:', '# @: x', '##', STRUCT),
    'test.json:3:1: invalid parameter name',
  ],
  [
    'duplicated parameter',
    doc('##', '# @Foo:', '# @a: x', '# @a: y', '##', STRUCT),
    "test.json:4:1: 'a' parameter name duplicated",
  ],
  [
    'duplicated feature',
    doc('##', '# @Foo:', '# Features:', '# @f: x', '# @f: y', '##', STRUCT),
    "test.json:5:1: 'f' parameter name duplicated",
  ],
  [
    'argument after section',
    doc('##', '# @Foo:', '# Since: 1.0', '# @a: x', '##', STRUCT),
    "test.json:4:1: '@a:' can't follow 'Since' section",
  ],
  [
    'argument after untagged section',
    doc('##', '# @Foo:', '# @a: x', '#', '# Text', '# @b: y', '##', STRUCT),
    "test.json:6:1: '@b:' can't follow 'None' section",
  ],
  [
    'duplicated Since',
    doc('##', '# @Foo:', '# Since: 1', '# Since: 2', '##', STRUCT),
    "test.json:4:1: duplicated 'Since' section",
  ],
  [
    'duplicated Returns',
    doc('##', '# @foo:', '# Returns: a', '# Returns: b', '##', "{ 'command': 'foo' }"),
    "test.json:4:1: duplicated 'Returns' section",
  ],
  [
    'empty section',
    doc('##', '# @Foo:', '# Since:', '##', STRUCT),
    "test.json:4:1: empty doc section 'Since'",
  ],
  [
    'empty argument',
    doc('##', '# @Foo:', '# @a:', '# @b: x', '##', STRUCT),
    "test.json:4:1: empty doc section 'a'",
  ],
  [
    'de-indent',
    doc('##', '# @Foo:', '# @a: first', '#  second', '##', STRUCT),
    'test.json:4:1: unexpected de-indent (expected at least 4 spaces)',
  ],
  [
    'indent counts characters, not UTF-16 units',
    doc('##', '# @Foo:', '# @a\u{1F600}: first', '#     second', '##', STRUCT),
    'test.json:4:1: unexpected de-indent (expected at least 5 spaces)',
  ],
  [
    'de-indent in section',
    doc('##', '# @Foo:', '# Since: first', '#   second', '##', STRUCT),
    'test.json:4:1: unexpected de-indent (expected at least 7 spaces)',
  ],
  [
    'free-form doc before definition',
    doc('##', '# Just text', '##', STRUCT),
    'test.json:1: definition documentation required',
  ],
  [
    'doc for another symbol',
    doc('##', '# @Bar:', '##', STRUCT),
    "test.json: In struct 'Foo':\ntest.json:4: documentation comment is for 'Bar'",
  ],
  [
    'doc without definition',
    doc('##', '# @Foo:', '##'),
    "test.json:1: documentation for 'Foo' is not followed by the definition",
  ],
  [
    'doc followed by doc',
    doc('##', '# @Foo:', '##', '##', '# text', '##', STRUCT),
    "test.json:1: documentation for 'Foo' is not followed by the definition",
  ],
  [
    'doc before include',
    doc('##', '# @Foo:', '##', "{ 'include': 'x.json' }"),
    "test.json:1: documentation for 'Foo' is not followed by the definition",
  ],
  [
    'doc before pragma',
    doc('##', '# @Foo:', '##', "{ 'pragma': {} }"),
    "test.json:1: documentation for 'Foo' is not followed by the definition",
  ],
  [
    'Returns on a non-command',
    doc('##', '# @Foo:', '# Returns: x', '##', STRUCT),
    "test.json:1: 'Returns:' is only valid for commands",
  ],
  [
    'doc-required pragma',
    doc("{ 'pragma': { 'doc-required': true } }", STRUCT),
    "test.json: In struct 'Foo':\ntest.json:2: documentation comment required",
  ],
];

describe('documentation comment errors', () => {
  for (const [what, text, err] of errors) test(what, () => assert.equal(errorOf(text), err));
});

describe('documentation structure', () => {
  test('symbol, body, arguments, features and tagged sections', () => {
    const { docs, exprs } = checked(
      doc(
        '##',
        '# = Section',
        '##',
        '',
        '##',
        '# @frob:',
        '#',
        '# Frobnicates.',
        '#',
        '# @a: the first',
        '#     and more',
        '# @b:',
        '#   own paragraph',
        '#',
        '# Features:',
        '# @unstable: not yet',
        '#',
        '# Returns: nothing',
        '#',
        '# Since: 7.2',
        '#',
        '# Example:',
        '#',
        "# -> { 'execute': 'frob' }",
        '##',
        "{ 'command': 'frob', 'data': { 'a': 'int', 'b': 'str' }, 'features': [ 'unstable' ] }",
      ),
    );
    assert.equal(docs.length, 2);
    const [free, def] = docs;
    assert.equal(free?.symbol, null);
    assert.equal(free?.body.text, '= Section');
    assert.equal(def?.symbol, 'frob');
    assert.equal(def?.body.text, 'Frobnicates.');
    assert.deepEqual(
      [...(def?.args ?? [])].map(([n, s]) => [n, s.text]),
      [
        ['a', 'the first\nand more'],
        ['b', 'own paragraph'],
      ],
    );
    assert.deepEqual(
      [...(def?.features ?? [])].map(([n, s]) => [n, s.text]),
      [['unstable', 'not yet']],
    );
    assert.deepEqual(
      def?.sections.map((s) => [s.name, s.text]),
      [
        ['Returns', 'nothing'],
        ['Since', '7.2'],
        ['Example', "-> { 'execute': 'frob' }"],
      ],
    );
    assert.equal(exprs[0]?.doc, def);
    assert.equal(def?.info.line, 5);
  });

  test('a heading splits a free-form block', () => {
    const { docs } = parseFiles({ 'a.json': doc('##', '# intro', '# = Heading', '# text', '##') });
    assert.deepEqual(
      docs.map((d) => d.body.text),
      ['intro', '= Heading\ntext'],
    );
  });

  test('plain comments are not documentation', () => {
    const { docs, exprs } = checked(doc('# @Foo:', '# not a doc', STRUCT));
    assert.equal(docs.length, 0);
    assert.equal(exprs[0]?.doc, null);
  });
});

describe('documentation checks run by the model (stage 2)', () => {
  const schema = doc(
    '##',
    '# @Foo:',
    '# @a: documented',
    '# @gone: no such member',
    '# @old: neither',
    '#',
    '# Features:',
    '# @f: a feature',
    '##',
    "{ 'struct': 'Foo', 'data': { 'a': 'int', 'b': 'int' }, 'features': [ 'f' ] }",
  );

  const failure = (fn: () => void): string => {
    try {
      fn();
      return '';
    } catch (e) {
      assert.ok(e instanceof QapiError);
      return formatError(e);
    }
  };

  test('documented members that do not exist', () => {
    const { docs, exprs } = checked(schema);
    const d = docs[0];
    assert.ok(d);
    d.connectMember({ name: 'a' });
    d.connectMember({ name: 'b' }); // undocumented: gets an empty section
    d.connectFeature({ name: 'f', info: exprs[0]?.info ?? null });
    assert.equal(d.args.get('b')?.text, '');
    assert.equal(
      failure(() => d.check()),
      "test.json:1: documented members 'gone', 'old' do not exist",
    );
  });

  test('documented feature that does not exist', () => {
    const { docs } = checked(schema);
    const d = docs[0];
    assert.ok(d);
    for (const name of ['a', 'b', 'gone', 'old']) d.connectMember({ name });
    assert.equal(
      failure(() => d.check()),
      "test.json:1: documented feature 'f' does not exist",
    );
  });

  test('undocumented feature', () => {
    const { docs, exprs } = checked(schema);
    assert.equal(
      failure(() => docs[0]?.connectFeature({ name: 'g', info: exprs[0]?.info ?? null })),
      "test.json: In struct 'Foo':\ntest.json:10: feature 'g' lacks documentation",
    );
  });
});
