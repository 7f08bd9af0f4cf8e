/**
 * Regression cases from differential hunts against QEMU 7.2's scripts/qapi
 * (generated schemas checked by both front ends). Where QEMU gives an
 * error, the text pinned here is QEMU's; where QEMU's own code fails
 * (an assertion), we pin our own error instead of accepting the schema.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatError, QapiError } from '../../src/qapi/error.js';
import { loadSchema } from '../../src/qapi/load.js';

/** Load `test.json` from memory; the formatted error, or null when accepted. */
function errorText(source: string): string | null {
  try {
    loadSchema('test.json', {
      readFile: (path) => {
        if (path !== 'test.json') throw Object.assign(new Error(path), { code: 'ENOENT' });
        return source;
      },
    });
    return null;
  } catch (err) {
    assert.ok(err instanceof QapiError, `not a QapiError: ${String(err)}`);
    return formatError(err);
  }
}

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
