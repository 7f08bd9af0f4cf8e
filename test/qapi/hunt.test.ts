/**
 * Regression cases from differential hunts against QEMU 7.2's scripts/qapi
 * (generated schemas checked by both front ends). Where QEMU gives an
 * error, the text pinned here is QEMU's; where QEMU's own code fails
 * (an assertion), we pin our own error instead of accepting the schema.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dumpSchema } from './dump.js';
import { loadModel as load, modelError as errorText } from './helpers.js';

describe('inputs on which QEMU 7.2 stops on an internal assertion', () => {
  test('an array of arrays in a struct member is rejected, naming the definition and line', () => {
    const source =
      "{ 'enum': 'Kind', 'data': [ 'a' ] }\n{ 'struct': 'Obj', 'data': { 'two': 'bool', 'k': [ 'intList' ] } }\n";
    assert.equal(
      errorText(source),
      "test.json: In struct 'Obj':\ntest.json:2: struct uses array of arrays '[intList]', which is not supported",
    );
  });

  test('an array of arrays is rejected in alternates, commands and conditional members too', () => {
    assert.equal(
      errorText(
        "{ 'struct': 'Obj', 'data': {} }\n{ 'struct': 'Other', 'data': { 'o': [ 'Obj' ] } }\n" +
          "{ 'alternate': 'Alt', 'data': { 'n': 'number', 'a': [ 'ObjList' ] } }\n",
      ),
      "test.json: In alternate 'Alt':\ntest.json:3: alternate uses array of arrays '[ObjList]', which is not supported",
    );
    assert.equal(
      errorText("{ 'command': 'do-it', 'returns': [ 'strList' ] }\n"),
      "test.json: In command 'do-it':\ntest.json:1: command uses array of arrays '[strList]', which is not supported",
    );
    assert.equal(
      errorText(
        "{ 'struct': 'Obj', 'data': { 'x': { 'type': [ 'intList' ], 'if': { 'all': [ 'A', 'B' ] } } } }\n",
      ),
      "test.json: In struct 'Obj':\ntest.json:1: struct uses array of arrays '[intList]', which is not supported",
    );
  });

  test("an earlier definition's error still comes first, as QEMU checks entities in order", () => {
    const source =
      "{ 'struct': 'First', 'data': { 'a': 'Nope' } }\n{ 'struct': 'Obj', 'data': { 'k': [ 'intList' ] } }\n";
    assert.equal(
      errorText(source),
      "test.json: In struct 'First':\ntest.json:1: member 'a' uses unknown type 'Nope'",
    );
  });

  test('a named list type as a member (one level of array) stays accepted', () => {
    assert.equal(
      errorText("{ 'struct': 'Obj', 'data': { 'k': 'intList', 'l': [ 'int' ] } }\n"),
      null,
    );
  });
});

describe('doc comment lines on which QEMU 7.2 stops on an internal assertion', () => {
  // "@name:" whose name holds whitespace other than ' ' (QEMU's header
  // pattern then fails to match): a parse error at the line, whitespace shown.
  test('a tab inside an argument name is rejected at its line', () => {
    const source =
      "##\n# @Foo:\n# @a: x\n# @b\tc: y\n##\n{ 'struct': 'Foo', 'data': { 'a': 'int', 'b': 'int' } }\n";
    assert.equal(
      errorText(source),
      "test.json:4:1: parameter name in '@b\\tc:' contains whitespace",
    );
  });

  test('other whitespace before the colon of a feature name is rejected and shown escaped', () => {
    const source =
      "##\n# @Foo:\n#\n# Features:\n# @f\u3000: y\n##\n{ 'struct': 'Foo', 'data': {}, 'features': [ 'f' ] }\n";
    assert.equal(
      errorText(source),
      "test.json:5:1: parameter name in '@f\\u3000:' contains whitespace",
    );
    assert.equal(
      errorText("##\n# @Foo:\n# text\n# @\x0c:\n##\n{ 'struct': 'Foo', 'data': {} }\n"),
      "test.json:4:1: parameter name in '@\\x0c:' contains whitespace",
    );
  });

  test('whitespace after the colon stays part of the header, as in QEMU', () => {
    const source =
      "##\n# @Foo:\n# @a: \tx\n#      y\n##\n{ 'struct': 'Foo', 'data': { 'a': 'int' } }\n";
    assert.equal(errorText(source), null);
    const [doc] = load(source).docs;
    assert.equal(doc?.args.get('a')?.text, 'x\ny');
  });
});

describe('alternate ambiguity where QEMU iterates a Python set', () => {
  // A 'str' branch conflicts with both an earlier number and an earlier bool
  // branch; which one QEMU names depends on its set's hash order (varies with
  // PYTHONHASHSEED). We name the number branch, the more frequent outcome.
  test('names the number branch, deterministically', () => {
    const source = "{ 'alternate': 'Alt', 'data': { 'n': 'uint64', 'b': 'bool', 's': 'str' } }\n";
    assert.equal(
      errorText(source),
      "test.json: In alternate 'Alt':\ntest.json:1: branch 's' can't be distinguished from 'n'",
    );
  });
});

describe('QEMU quirks confirmed by the hunts (pinned with QEMU 7.2 output)', () => {
  test('two definitions on one line share its source info: the later name is the context', () => {
    assert.equal(
      errorText("{ 'struct': 'St', 'data': { 'a': 'Nope' } } { 'struct': 'Tt', 'data': {} }\n"),
      "test.json: In struct 'Tt':\ntest.json:1: member 'a' of type 'St' uses unknown type 'Nope'",
    );
  });

  test('a pragma applies to definitions before it, since checks run after parsing', () => {
    assert.equal(
      errorText("{ 'struct': 'Obj', 'data': {} }\n{ 'pragma': { 'doc-required': true } }\n"),
      "test.json: In struct 'Obj':\ntest.json:1: documentation comment required",
    );
  });

  test("an included file's pragma applies to the including file, before or after the include", () => {
    const inc = { 'sub/inc.json': "{ 'pragma': { 'command-name-exceptions': [ 'do_it' ] } }\n" };
    assert.equal(errorText("{ 'include': 'sub/inc.json' }\n{ 'command': 'do_it' }\n", inc), null);
    assert.equal(errorText("{ 'command': 'do_it' }\n{ 'include': 'sub/inc.json' }\n", inc), null);
    assert.equal(
      errorText("{ 'command': 'do_it' }\n"),
      "test.json: In command 'do_it':\ntest.json:1: name of command must not use uppercase or '_'",
    );
  });
});

describe('empty type names count as absent, as in QEMU 7.2 (found by the type-position matrix)', () => {
  test("'base': '', command 'data'/'returns': '' and event 'data': '' are accepted as no type", () => {
    const source =
      "{ 'struct': 'Obj', 'base': '', 'data': { 'x': 'int' } }\n" +
      "{ 'command': 'do-it', 'data': '', 'returns': '' }\n" +
      "{ 'event': 'EVT', 'data': '', 'boxed': true }\n";
    const dump = dumpSchema(load(source));
    // QEMU's test-qapi dump of the same schema (module a.json part).
    assert.ok(
      dump.includes(
        'object Obj\n    member x: int optional=False\n' +
          'command do-it None -> None\n' +
          '    gen=True success_response=True boxed=False oob=False preconfig=False\n' +
          'event EVT None\n    boxed=True\n',
      ),
      dump,
    );
  });

  test("a union with 'base': '' has no base, so no discriminator member", () => {
    assert.equal(
      errorText(
        "{ 'enum': 'Kind', 'data': [ 'one' ] }\n{ 'struct': 'Br', 'data': {} }\n" +
          "{ 'union': 'Un', 'base': '', 'discriminator': 'k', 'data': { 'one': 'Br' } }\n",
      ),
      "test.json: In union 'Un':\ntest.json:3: discriminator 'k' is not a member of 'base'",
    );
  });

  test("a command with 'data': '' has no parameters to document", () => {
    assert.equal(
      errorText("##\n# @do-it:\n# @a: x\n##\n{ 'command': 'do-it', 'data': '' }\n"),
      "test.json:1: documented member 'a' does not exist",
    );
  });
});

describe("a struct's 'data' naming a type (QEMU 7.2 fails on it with an internal error)", () => {
  test('is rejected at the struct, in definition order', () => {
    assert.equal(
      errorText("{ 'struct': 'Br', 'data': { 'x': 'int' } }\n{ 'struct': 'Obj', 'data': 'Br' }\n"),
      "test.json: In struct 'Obj':\ntest.json:2: 'data' must be an object",
    );
    assert.equal(
      errorText("{ 'struct': 'Obj', 'data': '' }\n"),
      "test.json: In struct 'Obj':\ntest.json:1: 'data' must be an object",
    );
  });
});
