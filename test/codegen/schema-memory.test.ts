/**
 * Memory of `memfail schema check|introspect|gen` on a large valid schema
 * stays a small multiple of its size: each runs in a child process whose
 * V8 old generation is capped (`--max-old-space-size`), and must finish.
 * No timing. The caps are about ten times the schema's size; the code
 * before doc sections kept their lines in the file and output was written
 * as made needed 100, 140 and 160 MiB for this 8 MB schema (and the
 * 30 MB one of bench/schema-memory.mjs took 0.45, 0.74 and 0.98 GB).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeLargeSchema } from '../qapi/large-schema.js';
import { REPO_ROOT } from '../qapi/qemu-source.js';

const dir = mkdtempSync(join(tmpdir(), 'memfail-schema-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const schema = writeLargeSchema(dir, 8_000_000);
const MiB = 1 << 20;

/** Runs `memfail schema ARGS...` with the old generation capped at `capMiB`. */
function runCapped(capMiB: number, args: string[]) {
  return spawnSync(
    process.execPath,
    [`--max-old-space-size=${capMiB}`, join(REPO_ROOT, 'bin/memfail.js'), 'schema', ...args],
    { encoding: 'utf8', maxBuffer: 256 * MiB },
  );
}

function assertFinished(r: ReturnType<typeof runCapped>, what: string): void {
  assert.doesNotMatch(r.stderr, /heap out of memory|Reached heap limit/, `${what} ran out of heap`);
  assert.equal(r.signal, null, `${what} was killed (${r.signal}): ${r.stderr.slice(-500)}`);
  assert.equal(r.status, 0, `${what} failed: ${r.stderr.slice(-500)}`);
}

describe('schema commands on an 8 MB schema, old generation capped at ~10x its size', () => {
  test('the schema is the size the caps are set for', () => {
    const size = statSync(schema).size;
    assert.ok(size >= 8_000_000 && size < 8_100_000, `${size} bytes`);
  });

  test('check: 80 MiB', () => {
    assertFinished(runCapped(80, ['check', schema]), 'schema check');
  });

  test('introspect: 90 MiB, the whole list printed', () => {
    const r = runCapped(90, ['introspect', schema]);
    assertFinished(r, 'schema introspect');
    const infos = JSON.parse(r.stdout) as { name: string }[];
    assert.ok(infos.length > 20_000, `${infos.length} entries`);
    assert.ok(infos.some((i) => i.name === 'UNIT_100_CHANGED'));
  });

  test('gen: 110 MiB, every module written', () => {
    const out = join(dir, 'out');
    assertFinished(runCapped(110, ['gen', schema, '-o', out]), 'schema gen');
    assert.deepEqual(readdirSync(out).sort(), [
      'index.ts',
      'introspection.ts',
      'runtime.ts',
      'types.ts',
      'validators.ts',
    ]);
    // About four times the schema: declarations, checks and introspection data.
    const total = readdirSync(out).reduce((n, f) => n + statSync(join(out, f)).size, 0);
    assert.ok(total > 25_000_000, `${total} bytes generated`);
    assertFinished(runCapped(110, ['gen', schema, '-o', out, '--check']), 'schema gen --check');
  });
});
