/**
 * memfail as a user installs it: `npm pack` the project, install the tarball
 * into an empty project, and there run the CLI end to end and a strict
 * TypeScript program that imports 'memfail/qmp'.
 *
 * The install is offline: the project's lockfile entries for memfail's
 * dependencies (and TypeScript, @types/node) are copied into the temporary
 * project's lockfile, so `npm ci --offline` takes every package from the npm
 * cache that the project's own `npm ci` filled. Install scripts are skipped;
 * better-sqlite3's native addon is copied from this checkout's build rather
 * than compiled again (compiling SQLite is better-sqlite3's business, and
 * minutes on a small machine).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Child, run, start, stop } from '../support/child.js';
import { until, within } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP_SOURCES = join(ROOT, 'test/package/app');
const NPM = 'npm';

interface LockEntry {
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly [key: string]: unknown;
}

let dir = '';
let app = '';
let tarballFiles: string[] = [];
const children: Child[] = [];

/** `npm ...` in `cwd`; fails with npm's own output when it fails. */
async function npm(cwd: string, args: string[]): Promise<string> {
  const r = await run(NPM, args, { cwd });
  assert.equal(r.code, 0, `npm ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `memfail ...` as installed in the temporary project. */
function memfail(args: string[]): Child {
  const child = start(join(app, 'node_modules/.bin/memfail'), args, { cwd: app });
  children.push(child);
  return child;
}

/**
 * The temporary project's package.json and package-lock.json: memfail from
 * the tarball, and every package it (or TypeScript) needs pinned exactly as
 * in this project's lockfile.
 */
function writeProject(tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    bin: Record<string, string>;
    dependencies: Record<string, string>;
  };
  const pinned = (name: string): LockEntry => {
    const entry = lock.packages[`node_modules/${name}`];
    if (entry === undefined) throw new Error(`${name} is not in package-lock.json`);
    return entry;
  };
  const dependencies = {
    memfail: `file:${tarball}`,
    typescript: pinned('typescript').version,
    '@types/node': pinned('@types/node').version,
  };
  const packages: Record<string, unknown> = {
    '': { name: 'memfail-user', dependencies },
    'node_modules/memfail': {
      version: pkg.version,
      resolved: `file:${tarball}`,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
    },
  };
  const todo = [...Object.keys(pkg.dependencies), 'typescript', '@types/node'];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (`node_modules/${name}` in packages) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = pinned(name);
    packages[`node_modules/${name}`] = entry;
    todo.push(...Object.keys(entry.dependencies ?? {}));
    todo.push(...Object.keys(entry.optionalDependencies ?? {}));
  }
  const manifest = { name: 'memfail-user', private: true, type: 'module', dependencies };
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const appLock = { name: 'memfail-user', lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(appLock, null, 2)}\n`);
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      types: ['node'],
      skipLibCheck: false,
      outDir: 'out',
    },
    files: ['main.ts'],
  };
  writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  for (const f of ['main.ts', 'misuse.ts']) copyFileSync(join(APP_SOURCES, f), join(app, f));
}

/** better-sqlite3's compiled addon, from this checkout's install into the temporary one. */
function copySqliteAddon(): void {
  const ours = dirname(
    createRequire(join(ROOT, 'package.json')).resolve('better-sqlite3/package.json'),
  );
  const target = join(app, 'node_modules/better-sqlite3/build/Release');
  mkdirSync(target, { recursive: true });
  copyFileSync(
    join(ours, 'build/Release/better_sqlite3.node'),
    join(target, 'better_sqlite3.node'),
  );
}

/** tsc as installed in the temporary project. */
function tsc(args: string[]) {
  return run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), ...args], {
    cwd: app,
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memfail-pack-'));
  app = join(dir, 'app');
  mkdirSync(app);
  // The build is the one under test: no prepare script rebuilding dist/ meanwhile.
  const packed = JSON.parse(
    await npm(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]),
  ) as { filename: string; files: { path: string }[] }[];
  const tarball = join(dir, packed[0]!.filename);
  tarballFiles = packed[0]!.files.map((f) => f.path);
  writeProject(tarball);
  await npm(app, ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund']);
  copySqliteAddon();
});

after(async () => {
  await Promise.all(children.map(stop));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed tarball, installed into an empty project', () => {
  test('holds the library with its type declarations, not the tests', () => {
    for (const path of [
      'dist/src/qmp/index.js',
      'dist/src/qmp/index.d.ts',
      'dist/src/generated/qemu-7.2/types.d.ts',
      'src/codegen/runtime.ts',
      'schema/qemu.json',
    ]) {
      assert.ok(tarballFiles.includes(path), `${path} is not packed`);
    }
    assert.deepEqual(
      tarballFiles.filter((p) => p.startsWith('dist/test/') || p.startsWith('test/')),
      [],
    );
  });

  test('memfail schema gen writes TypeScript from a packed schema', async () => {
    const gen = memfail(['schema', 'gen', 'node_modules/memfail/schema/qemu.json', '-o', 'gen']);
    assert.equal(await gen.exited, 0, gen.stderr());
    const types = readFileSync(join(app, 'gen/types.ts'), 'utf8');
    assert.match(types, /MEMORY_FAILURE: MemoryFailureData;/);
    assert.match(readFileSync(join(app, 'gen/runtime.ts'), 'utf8'), /export function/);
  });

  test('memfail sim, memfail watch --once and a typed program, end to end', async () => {
    const sock = join(dir, 'vm.sock');
    const db = join(dir, 'events.db');
    const sim = memfail(['sim', '--listen', `unix:${sock}`]);
    await until(() => sim.stdout().includes('listening on'), 'memfail sim to listen');
    const watch = memfail(['watch', `vm1=unix:${sock}`, '--db', db, '--once']);
    await until(() => watch.stderr().includes('connected to'), 'memfail watch to connect');

    const compiled = await tsc(['-p', 'tsconfig.json']);
    assert.equal(compiled.code, 0, `tsc (strict) rejected main.ts:\n${compiled.stdout}`);
    const program = await run(process.execPath, [join(app, 'out/main.js'), `unix:${sock}`], {
      cwd: app,
    });
    assert.equal(program.code, 0, program.stderr);
    assert.deepEqual(JSON.parse(program.stdout), {
      state: 'running',
      running: true,
      major: 7,
      reply: '',
      recipient: 'guest',
      action: 'inject',
      actionRequired: true,
      recursive: false,
    });

    assert.equal(await within(sim.exited, 'memfail sim to exit after quit'), 0);
    assert.equal(await within(watch.exited, 'memfail watch --once to exit'), 0, watch.stderr());
    const events = memfail(['events', '--db', db, '--json']);
    assert.equal(await events.exited, 0, events.stderr());
    const records = JSON.parse(events.stdout()) as Record<string, unknown>[];
    assert.equal(records.length, 1);
    assert.deepEqual(
      [records[0]!.vm, records[0]!.recipient, records[0]!.action, records[0]!.actionRequired],
      ['vm1', 'guest', 'inject', true],
    );
  });

  test('the typed API rejects each misuse, at the line it is on', async () => {
    const checked = await tsc([
      '--noEmit',
      '--strict',
      '--target',
      'ES2022',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--types',
      'node',
      'misuse.ts',
    ]);
    assert.notEqual(checked.code, 0);
    const lines = readFileSync(join(app, 'misuse.ts'), 'utf8').split('\n');
    const expected = lines.flatMap((l, i) => (l.includes('// MISUSE') ? [i + 1] : []));
    const reported = [...checked.stdout.matchAll(/^misuse\.ts\((\d+),\d+\): error/gm)].map((m) =>
      Number(m[1]),
    );
    assert.equal(expected.length, 4);
    assert.deepEqual([...new Set(reported)], expected, checked.stdout);
  });
});
