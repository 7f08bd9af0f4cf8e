/** `memfail schema introspect` and `memfail schema gen`, through the real CLI entry point. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { SchemaInfo } from '../../src/codegen/introspect-types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const QEMU_DIALECT = join(ROOT, 'schema/memory-failure-qemu.json');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

describe('memfail schema introspect / gen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'memfail-cli-gen-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('introspect prints the SchemaInfo list as JSON, event first', async () => {
    const { code, out } = await run(['schema', 'introspect', QEMU_DIALECT]);
    assert.equal(code, 0);
    const infos = JSON.parse(out) as SchemaInfo[];
    assert.deepEqual(infos[0], {
      name: 'MEMORY_FAILURE',
      'meta-type': 'event',
      'arg-type': 'q_obj_MEMORY_FAILURE-arg',
    });
    const flags = infos.find((i) => i.name === 'MemoryFailureFlags');
    assert.deepEqual(flags, {
      name: 'MemoryFailureFlags',
      'meta-type': 'object',
      members: [
        { name: 'action-required', type: 'bool' },
        { name: 'recursive', type: 'bool' },
      ],
    });
    assert.ok(infos.some((i) => i.name === 'bool' && i['meta-type'] === 'builtin'));
  });

  test('introspect --mask numbers type names as QEMU does', async () => {
    const { code, out } = await run(['schema', 'introspect', '--mask', QEMU_DIALECT]);
    assert.equal(code, 0);
    const infos = JSON.parse(out) as SchemaInfo[];
    assert.equal(infos[0]?.['meta-type'] === 'event' && infos[0]['arg-type'], '0');
    assert.equal(infos[1]?.name, '0');
  });

  test('gen writes the modules; --check reports drift', async () => {
    const out = join(dir, 'gen');
    const first = await run(['schema', 'gen', QEMU_DIALECT, '-o', out]);
    assert.equal(first.code, 0, first.err);
    assert.deepEqual(readdirSync(out).sort(), [
      'index.ts',
      'introspection.ts',
      'runtime.ts',
      'types.ts',
      'validators.ts',
    ]);
    assert.equal((await run(['schema', 'gen', QEMU_DIALECT, '-o', out, '--check'])).code, 0);
    writeFileSync(join(out, 'types.ts'), '// edited\n');
    const drift = await run(['schema', 'gen', QEMU_DIALECT, '-o', out, '--check']);
    assert.equal(drift.code, 1);
    assert.match(drift.err, /stale: .*types\.ts/);
  });

  test('gen --runtime imports a shared runtime instead of writing one', async () => {
    const out = join(dir, 'shared');
    assert.equal(
      (await run(['schema', 'gen', QEMU_DIALECT, '-o', out, '--runtime', '../runtime.js'])).code,
      0,
    );
    assert.ok(!readdirSync(out).includes('runtime.ts'));
  });

  test('a bad schema is reported in QEMU form with exit 1', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, "{ 'event': 'X', 'data': { 'a': 'NoSuchType' } }\n");
    const r = await run(['schema', 'gen', bad, '-o', join(dir, 'never')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.json:1: .*NoSuchType/);
    const missing = await run(['schema', 'introspect', join(dir, 'missing.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /can't read schema file/);
  });

  test('gen without -o is a usage error', async () => {
    assert.equal((await run(['schema', 'gen', QEMU_DIALECT])).code, 2);
  });
});
