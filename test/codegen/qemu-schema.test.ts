/**
 * The generator against QEMU 7.2's whole schema (qapi/qapi-schema.json):
 * the TypeScript compiles under --strict, misuse does not compile, every
 * event example in the schema's docs passes the generated validator, and
 * systematic mutations of each fail with the right path and reason.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { generate, writeGenerated } from '../../src/codegen/index.js';
import { interpret } from '../../src/codegen/interpret.js';
import type { WireModel } from '../../src/codegen/model.js';
import type { Validation } from '../../src/codegen/runtime.js';
import { loadSchema } from '../../src/qapi/index.js';
import { requireQemuSource } from '../qapi/qemu-source.js';
import fc from 'fast-check';
import { arbitraryValue } from './arbitrary.js';
import { compile, type Diagnostic } from './compile.js';
import { mutate } from './mutations.js';
import { extractEventExamples, normalise, type ParsedExample } from './qemu-examples.js';

interface GeneratedValidators {
  validateEvent(name: string, data: unknown): Validation<unknown>;
  validateCommandArgs(name: string, args: unknown): Validation<unknown>;
  isEventName(name: string): boolean;
  isCommandName(name: string): boolean;
}

/** Lines marked `// error TSnnnn` must fail with that code; every other line must compile. */
const MISUSE = `import type { Commands, Events } from './types.js';
import { validateEvent } from './validators.js';

declare function execute<K extends keyof Commands>(
  name: K,
  ...args: undefined extends Commands[K]['args'] ? [args?: Commands[K]['args']] : [args: Commands[K]['args']]
): Promise<Commands[K]['returns']>;
declare function emit<K extends keyof Events>(name: K, data: Events[K]): void;

emit('MEMORY_FAILURE', { recipient: 'guest', action: 'inject', flags: { 'action-required': true, recursive: false } });
emit('MEMORY_FAILURE', { recipient: 'guest', action: 'inject', flags: { 'action-required': 'yes', recursive: false } }); // error TS2322
emit('MEMORY_FAILURE', { recipient: 'guest', action: 'explode', flags: { 'action-required': true, recursive: false } }); // error TS2322
emit('MEMORY_FAILURE', { recipient: 'guest', action: 'inject' }); // error TS2345
emit('MEMORY_FAILURE', { recipient: 'guest', action: 'inject', flags: { 'action-required': true, recursive: false }, extra: 1 }); // error TS2353
emit('NO_SUCH_EVENT', {}); // error TS2345
void execute('query-status');
void execute('query-status', { verbose: true }); // error TS2322
void execute('device_del', { id: 'disk0' });
void execute('device_del'); // error TS2554
void execute('device_del', { id: 1 }); // error TS2322
void execute('blockdev-add', { driver: 'file', 'node-name': 'n0', filename: '/tmp/x' });
void execute('blockdev-add', { driver: 'file', 'node-name': 'n0' }); // error TS2345
void execute('no-such-command'); // error TS2345
export async function returns(): Promise<void> {
  const status = await execute('query-status');
  const running: boolean = status.running;
  const wrong: string = status.running; // error TS2322
  void running;
  void wrong;
}
const checked = validateEvent('MEMORY_FAILURE', JSON.parse('{}'));
if (checked.ok) {
  const action: 'ignore' | 'inject' | 'fatal' | 'reset' = checked.value.action;
  const wrong: number = checked.value.flags.recursive; // error TS2322
  void action;
  void wrong;
}
`;

/**
 * Examples QEMU 7.2's docs get wrong, with the exact rejection we expect:
 * RTC_CHANGE gained the required member qom-path in 7.2 and its example was
 * not updated (real QEMU 7.2 sends qom-path).
 */
const STALE_EXAMPLES: ReadonlyMap<string, string> = new Map([
  ['misc.json RTC_CHANGE', 'data.qom-path: missing required member'],
]);

const staleKey = (ex: ParsedExample) => `${ex.file} ${ex.event}`;

describe("codegen on QEMU 7.2's schema", () => {
  let dir = '';
  let model: WireModel;
  let diagnostics: Diagnostic[] = [];
  let generated: GeneratedValidators;
  let examples: ParsedExample[] = [];

  before(async () => {
    const schemaFile = requireQemuSource('qapi/qapi-schema.json');
    model = modelFromSchema(loadSchema(schemaFile));
    dir = mkdtempSync(join(tmpdir(), 'memfail-codegen-'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    const files = writeGenerated(dir, generate(model, { source: 'qapi/qapi-schema.json' }));
    writeFileSync(join(dir, 'misuse.ts'), MISUSE);
    diagnostics = compile([...files, join(dir, 'misuse.ts')], join(dir, 'js'));
    generated = (await import(
      pathToFileURL(join(dir, 'js', 'validators.js')).href
    )) as GeneratedValidators;
    const raw = extractEventExamples(requireQemuSource('qapi'));
    examples = raw.map(normalise).filter((e): e is ParsedExample => e !== null);
    assert.equal(
      examples.length,
      raw.length,
      'every event example should be usable after normalising',
    );
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the generated TypeScript compiles under --strict with no errors', () => {
    const errors = diagnostics.filter((d) => !d.file?.endsWith('misuse.ts'));
    assert.deepEqual(errors, []);
  });

  test('misuse of the generated types does not compile, each at the marked line', () => {
    const lines = MISUSE.split('\n');
    const expected = lines
      .map((text, i) => ({ line: i + 1, code: /\/\/ error TS(\d+)/.exec(text)?.[1] }))
      .filter((e) => e.code !== undefined)
      .map((e) => `${e.line}:TS${e.code}`);
    const actual = [
      ...new Set(
        diagnostics
          .filter((d) => d.file?.endsWith('misuse.ts'))
          .map((d) => `${d.line}:TS${d.code}`),
      ),
    ];
    assert.ok(expected.length >= 12);
    assert.deepEqual(actual.sort(), expected.sort());
  });

  test('every command and event has a validator entry', () => {
    for (const name of model.events.keys()) assert.ok(generated.isEventName(name), name);
    for (const name of model.commands.keys()) assert.ok(generated.isCommandName(name), name);
    assert.equal(generated.isEventName('NO_SUCH_EVENT'), false);
  });

  test('every event example in the schema docs passes the validator for its event', () => {
    assert.ok(examples.length >= 70, `only ${examples.length} examples found`);
    const interpreted = interpret(model);
    for (const ex of examples) {
      const where = `${ex.file}:${ex.line} ${ex.event}`;
      const r = generated.validateEvent(ex.event, ex.data);
      const stale = STALE_EXAMPLES.get(staleKey(ex));
      if (stale !== undefined) {
        assert.equal(r.ok ? '' : r.message, stale, `${where}: known stale example`);
        continue;
      }
      assert.ok(r.ok, `${where}: ${r.ok ? '' : r.message}`);
      assert.ok(interpreted.validateEvent(ex.event, ex.data).ok, where);
    }
    // Each stale entry must still be met: drop it when QEMU fixes the example.
    for (const key of STALE_EXAMPLES.keys())
      assert.ok(
        examples.some((e) => staleKey(e) === key),
        key,
      );
    assert.ok(examples.some((e) => e.event === 'MEMORY_FAILURE'));
  });

  test('mutations of every example fail with the right path and reason', () => {
    const interpreted = interpret(model);
    let count = 0;
    for (const ex of examples) {
      const argType = model.events.get(ex.event)?.argType;
      if (!argType || STALE_EXAMPLES.has(staleKey(ex))) continue;
      for (const m of mutate(model, argType, ex.data ?? {}, 'data')) {
        const r = generated.validateEvent(ex.event, m.value);
        const where = `${ex.file}:${ex.line} ${m.what}`;
        assert.equal(r.ok, false, `${where}: accepted`);
        if (r.ok) continue;
        assert.match(r.message, m.message, where);
        const i = interpreted.validateEvent(ex.event, m.value);
        assert.equal(i.ok ? '' : i.message, r.message, `${where}: interpreted validator differs`);
        count++;
      }
    }
    assert.ok(count > 300, `only ${count} mutations`);
  });

  test('generated and interpreted validators agree on arbitrary blockdev-add, object-add and MEMORY_FAILURE values', () => {
    const interpreted = interpret(model);
    const cases: [string, 'command' | 'event', string][] = [
      ['blockdev-add', 'command', 'BlockdevOptions'],
      ['object-add', 'command', 'ObjectOptions'],
      ['MEMORY_FAILURE', 'event', 'q_obj_MEMORY_FAILURE-arg'],
    ];
    for (const [name, kind, type] of cases) {
      let accepted = 0;
      fc.assert(
        fc.property(arbitraryValue(model, type), (value) => {
          const [a, b] =
            kind === 'event'
              ? [generated.validateEvent(name, value), interpreted.validateEvent(name, value)]
              : [
                  generated.validateCommandArgs(name, value),
                  interpreted.validateCommandArgs(name, value),
                ];
          if (a.ok) accepted++;
          assert.equal(b.ok ? 'ok' : b.message, a.ok ? 'ok' : a.message);
        }),
        { numRuns: 1000, seed: 11 },
      );
      assert.ok(accepted > 10 && accepted < 990, `${name}: ${accepted} of 1000 accepted`);
    }
  });

  test('MEMORY_FAILURE: precise messages', () => {
    const data = {
      recipient: 'guest',
      action: 'inject',
      flags: { 'action-required': true, recursive: 'yes' },
    };
    const r = generated.validateEvent('MEMORY_FAILURE', data);
    assert.equal(r.ok ? '' : r.message, 'data.flags.recursive: expected bool, got "yes"');
  });

  test('command arguments: absent arguments count as {}; required ones are enforced', () => {
    assert.ok(generated.validateCommandArgs('query-status', undefined).ok);
    const r = generated.validateCommandArgs('device_del', {});
    assert.equal(r.ok ? '' : r.message, 'arguments.id: missing required member');
    const u = generated.validateCommandArgs('no-such-command', {});
    assert.equal(u.ok ? '' : u.message, "execute: unknown command 'no-such-command'");
  });

  test('TSDoc carries the doc comment, @since, @deprecated and if conditions', () => {
    const types = readFileSync(join(dir, 'types.ts'), 'utf8');
    assert.match(
      types,
      / {3}\* Emitted when memory hot unplug error occurs\.\n {3}\*\n {3}\* @since 2\.4\n {3}\* @deprecated This event is deprecated\. Use @DEVICE_UNPLUG_GUEST_ERROR\n {3}\* instead\.\n {3}\*\/\n {2}MEM_UNPLUG_ERROR: MemUnplugErrorData;/,
    );
    assert.match(
      types,
      /@remarks Only when built with: CONFIG_LINUX\n {3}\*\/\n {2}abstract\?: boolean;/,
    );
    assert.match(
      types,
      /\* - `guest`: memory failure at guest memory,\n \*\n \* @since 5\.2\n \*\/\nexport type MemoryFailureRecipient = 'hypervisor' \| 'guest';/,
    );
  });

  test("QEMU's positive test schema (qapi-schema-test.json: __org names, features, ifs) compiles too", () => {
    const testSchema = requireQemuSource('tests/qapi-schema/qapi-schema-test.json');
    const out = join(dir, 'corpus');
    const files = writeGenerated(
      out,
      generate(modelFromSchema(loadSchema(testSchema)), { source: 'test' }),
    );
    assert.deepEqual(compile(files), []);
  });

  test('generated text is deterministic', () => {
    const again = generate(model, { source: 'qapi/qapi-schema.json' });
    for (const f of again) {
      if (f.path === 'runtime.ts') continue;
      assert.equal(f.text, readFileSync(join(dir, f.path), 'utf8'), f.path);
    }
  });
});
