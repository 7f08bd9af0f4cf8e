/**
 * Generator rules on a small schema that has one of everything: integer
 * ranges, unions with an inline base and an empty branch, alternates,
 * arrays, optional and conditional members, downstream (`__org.`) and
 * dashed names, name collisions, boxed commands. Generated validators,
 * the interpreted validator and the one rebuilt from our own introspection
 * must agree.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { validatorFromIntrospection } from '../../src/codegen/from-introspection.js';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { generate, writeGenerated } from '../../src/codegen/index.js';
import { interpret, type SchemaValidator } from '../../src/codegen/interpret.js';
import { introspect } from '../../src/codegen/introspect.js';
import type { WireModel } from '../../src/codegen/model.js';
import type { Validation } from '../../src/codegen/runtime.js';
import { loadSchema } from '../../src/qapi/index.js';
import fc from 'fast-check';
import { arbitraryValue } from './arbitrary.js';
import { compile } from './compile.js';

const SCHEMA = `
{ 'enum': 'Shape', 'data': [ 'circle', 'square', 'blob' ] }
{ 'struct': 'Circle', 'data': { 'radius': 'uint16' } }
{ 'struct': 'Square', 'data': { 'side': 'number', '*label': 'str' } }
{ 'union': 'Figure',
  'base': { 'kind': 'Shape', '*note': 'str' },
  'discriminator': 'kind',
  'data': { 'circle': 'Circle', 'square': 'Square' } }
{ 'alternate': 'Size', 'data': { 'bytes': 'size', 'none': 'null' } }
{ 'alternate': 'FigureOrRef', 'data': { 'figure': 'Figure', 'ref': 'str' } }
{ 'struct': 'Ints',
  'data': { '*i8': 'int8', '*i16': 'int16', '*i32': 'int32', '*i64': 'int64', '*int': 'int',
            '*u8': 'uint8', '*u16': 'uint16', '*u32': 'uint32', '*u64': 'uint64', '*sz': 'size' } }
{ 'struct': 'String', 'data': { 'str': 'str' } }
{ 'struct': '__org.example_XThing', 'data': { 'a-b': 'bool', '*__org.example_x-y': 'any',
                                 '*only-linux': { 'type': 'str', 'if': 'CONFIG_LINUX' } } }
{ 'struct': 'OrgExampleXThing', 'data': { 'n': 'int' } }
{ 'struct': 'Base', 'data': { 'id': 'str' } }
{ 'struct': 'Derived', 'base': 'Base', 'data': { 'extra': [ 'Size' ] } }
{ 'event': 'FIGURE_DRAWN', 'data': { 'figure': 'Figure', '*size': 'Size', 'ints': 'Ints' } }
{ 'event': 'PING' }
{ 'event': 'BOXED', 'data': 'Derived', 'boxed': true }
{ 'command': 'draw', 'data': { 'figures': [ 'FigureOrRef' ], '*thing': '__org.example_XThing' },
  'returns': [ 'Derived' ] }
{ 'command': 'reset' }
{ 'command': 'query-string', 'data': { '*verbose': 'bool' }, 'returns': 'String' }
`;

interface Generated {
  validateEvent(name: string, data: unknown): Validation<unknown>;
  validateCommandArgs(name: string, args: unknown): Validation<unknown>;
  validateCommandReturn(name: string, ret: unknown): Validation<unknown>;
  describeInvalidEvent(message: { event: string; data?: unknown }): string | null;
}

const message = (r: Validation<unknown>) => (r.ok ? 'ok' : r.message);

describe('codegen rules on a small schema', () => {
  let dir = '';
  let model: WireModel;
  let gen: Generated;
  let interpreted: SchemaValidator;
  let types = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'memfail-small-'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(dir, 'small.json'), SCHEMA);
    model = modelFromSchema(loadSchema(join(dir, 'small.json')));
    const files = writeGenerated(join(dir, 'out'), generate(model, { source: 'small.json' }));
    const diagnostics = compile(files, join(dir, 'js'));
    assert.deepEqual(diagnostics, []);
    gen = (await import(pathToFileURL(join(dir, 'js', 'validators.js')).href)) as Generated;
    interpreted = interpret(model);
    types = readFileSync(join(dir, 'out', 'types.ts'), 'utf8');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Generated and interpreted validators must give the same verdict and message. */
  const event = (name: string, data: unknown): string => {
    const a = message(gen.validateEvent(name, data));
    assert.equal(
      message(interpreted.validateEvent(name, data)),
      a,
      `interpreted differs on ${JSON.stringify(data)}`,
    );
    return a;
  };

  const ints = {};
  const circle = { kind: 'circle', radius: 3 };

  test('unions: the tag selects the branch; branch members are required and known only there', () => {
    assert.equal(event('FIGURE_DRAWN', { figure: circle, ints }), 'ok');
    assert.equal(
      event('FIGURE_DRAWN', { figure: { kind: 'square', side: 1.5, label: 'a' }, ints }),
      'ok',
    );
    assert.equal(event('FIGURE_DRAWN', { figure: { kind: 'blob' }, ints }), 'ok');
    assert.equal(
      event('FIGURE_DRAWN', { figure: { kind: 'blob', radius: 1 }, ints }),
      'data.figure.radius: unknown member',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: { kind: 'circle' }, ints }),
      'data.figure.radius: missing required member',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: { kind: 'circle', radius: 1, side: 2 }, ints }),
      'data.figure.side: unknown member',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: { kind: 'oval' }, ints }),
      `data.figure.kind: expected one of 'circle', 'square', 'blob', got "oval"`,
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: { radius: 1 }, ints }),
      'data.figure.kind: missing required member',
    );
  });

  test('alternates dispatch on the JSON type of the value', () => {
    for (const size of [0, 2 ** 40, null])
      assert.equal(event('FIGURE_DRAWN', { figure: circle, ints, size }), 'ok');
    assert.equal(
      event('FIGURE_DRAWN', { figure: circle, ints, size: -1 }),
      'data.size: size out of range: -1',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: circle, ints, size: 1.5 }),
      'data.size: expected size, got 1.5',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: circle, ints, size: true }),
      'data.size: expected number or null, got true',
    );
    assert.equal(
      message(gen.validateCommandArgs('draw', { figures: [true] })),
      'arguments.figures[0]: expected object or string, got true',
    );
  });

  test('integer types are range-checked at their limits', () => {
    const limits: [string, number, number][] = [
      ['i8', -128, 127],
      ['i16', -32768, 32767],
      ['i32', -(2 ** 31), 2 ** 31 - 1],
      ['u8', 0, 255],
      ['u16', 0, 65535],
      ['u32', 0, 2 ** 32 - 1],
    ];
    for (const [member, min, max] of limits) {
      for (const ok of [min, max])
        assert.equal(event('FIGURE_DRAWN', { figure: circle, ints: { [member]: ok } }), 'ok');
      for (const bad of [min - 1, max + 1]) {
        assert.match(
          event('FIGURE_DRAWN', { figure: circle, ints: { [member]: bad } }),
          /out of range/,
          `${member}=${bad}`,
        );
      }
    }
    // 64-bit limits are checked on doubles: 2^64 - 1 parses as 2^64 and is accepted; beyond is not.
    const big = JSON.parse(
      '{"u64": 18446744073709551615, "sz": 18446744073709551615, "i64": -9223372036854775808}',
    );
    assert.equal(event('FIGURE_DRAWN', { figure: circle, ints: big }), 'ok');
    assert.match(
      event('FIGURE_DRAWN', { figure: circle, ints: { u64: 2 ** 65 } }),
      /uint64 out of range/,
    );
    assert.match(
      event('FIGURE_DRAWN', { figure: circle, ints: { int: 2 ** 64 } }),
      /int out of range/,
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: circle, ints: { u64: -1 } }),
      'data.ints.u64: uint64 out of range: -1',
    );
    assert.equal(
      event('FIGURE_DRAWN', { figure: circle, ints: { i8: '1' } }),
      'data.ints.i8: expected int8, got "1"',
    );
  });

  test('events without data accept absent data and {}, nothing else', () => {
    assert.equal(event('PING', undefined), 'ok');
    assert.equal(event('PING', {}), 'ok');
    assert.equal(event('PING', { a: 1 }), 'data.a: unknown member');
    assert.equal(event('PING', []), 'data: expected object, got an array');
    assert.equal(event('NOPE', {}), "event: unknown event 'NOPE'");
    assert.equal(gen.describeInvalidEvent({ event: 'PING' }), null);
    assert.equal(
      gen.describeInvalidEvent({ event: 'PING', data: 1 }),
      'data: expected object, got 1',
    );
  });

  test('boxed events and base types: the base members are required too', () => {
    assert.equal(event('BOXED', { id: 'a', extra: [1, null] }), 'ok');
    assert.equal(event('BOXED', { extra: [] }), 'data.id: missing required member');
    assert.equal(
      event('BOXED', { id: 'a', extra: [1, false] }),
      'data.extra[1]: expected number or null, got false',
    );
  });

  test('commands: arguments, nested arrays of alternates, returns', () => {
    const args = {
      figures: ['ref0', { kind: 'square', side: 2 }],
      thing: { 'a-b': true, '__org.example_x-y': [1] },
    };
    assert.equal(message(gen.validateCommandArgs('draw', args)), 'ok');
    assert.equal(
      message(gen.validateCommandArgs('draw', { figures: [{ kind: 'square' }] })),
      'arguments.figures[0].side: missing required member',
    );
    assert.equal(message(gen.validateCommandArgs('reset', undefined)), 'ok');
    assert.equal(message(gen.validateCommandReturn('reset', {})), 'ok');
    assert.equal(message(gen.validateCommandReturn('draw', [{ id: 'a', extra: [] }])), 'ok');
    assert.equal(
      message(gen.validateCommandReturn('draw', [{ id: 1, extra: [] }])),
      'return[0].id: expected str, got 1',
    );
    // A conditional member is accepted: we cannot know how the peer was built.
    assert.equal(
      message(
        gen.validateCommandArgs('draw', {
          figures: [],
          thing: { 'a-b': false, 'only-linux': 'x' },
        }),
      ),
      'ok',
    );
  });

  test("a validator rebuilt from our own introspection agrees (ranges fold to int64, as QEMU's do)", () => {
    const fromInfo = validatorFromIntrospection(introspect(model, { mask: true }));
    const cases: unknown[] = [
      { figure: circle, ints },
      { figure: { kind: 'blob', radius: 1 }, ints },
      { figure: circle, ints, size: true },
      { figure: circle, ints: { i8: 'x' } },
    ];
    for (const data of cases) {
      const ours = message(gen.validateEvent('FIGURE_DRAWN', data)).replace(
        /expected int8/,
        'expected int',
      );
      assert.equal(message(fromInfo.validateEvent('FIGURE_DRAWN', data)), ours);
    }
    assert.equal(
      message(fromInfo.validateEvent('FIGURE_DRAWN', { figure: circle, ints: { i8: 1000 } })),
      'ok',
    );
  });

  test('generated and interpreted validators agree on arbitrary values', () => {
    const data = arbitraryValue(model, 'q_obj_FIGURE_DRAWN-arg');
    let accepted = 0;
    fc.assert(
      fc.property(data, (value) => {
        const verdict = event('FIGURE_DRAWN', value);
        if (verdict === 'ok') accepted++;
      }),
      { numRuns: 2000, seed: 7 },
    );
    fc.assert(
      fc.property(arbitraryValue(model, 'q_obj_draw-arg'), (value) => {
        const a = message(gen.validateCommandArgs('draw', value));
        assert.equal(message(interpreted.validateCommandArgs('draw', value)), a);
      }),
      { numRuns: 2000, seed: 7 },
    );
    // Both outcomes were exercised.
    assert.ok(accepted > 20 && accepted < 1980, `${accepted} of 2000 accepted`);
  });

  test('TypeScript names: kept when identifiers, Pascal-cased otherwise, reserved and colliding ones renamed', () => {
    assert.match(types, /^export interface QapiString \{$/m);
    assert.match(types, /^export interface OrgExampleXThing \{$/m);
    assert.match(types, /^export interface OrgExampleXThing_2 \{$/m);
    assert.match(types, /^export interface FigureDrawnData \{$/m);
    assert.match(types, /^export interface DrawArguments \{$/m);
    assert.match(types, /^export interface FigureBase \{$/m);
    assert.match(types, /^export interface Derived extends Base \{$/m);
    assert.match(types, /^ {2}'a-b': boolean;$/m);
    assert.match(types, /^ {2}'__org\.example_x-y'\?: unknown;$/m);
    assert.match(types, /@remarks Only when built with: CONFIG_LINUX/);
    assert.match(types, /^export type Shape = 'circle' \| 'square' \| 'blob';$/m);
    assert.match(
      types,
      /^export const ShapeValues: readonly Shape\[\] = \['circle', 'square', 'blob'\];$/m,
    );
    assert.match(types, /^export type Size = number \| null;$/m);
    assert.match(
      types,
      /^ {2}reset: \{ args: Record<string, never> \| undefined; returns: Record<string, never> \};$/m,
    );
    assert.match(
      types,
      /^ {2}'query-string': \{ args: QueryStringArguments \| undefined; returns: QapiString \};$/m,
    );
    assert.match(types, /^ {2}draw: \{ args: DrawArguments; returns: Derived\[\] \};$/m);
  });
});
