/**
 * The bundled command line (scripts/bundle-cli.mjs, chosen by bin/memfail.js):
 * made from the real compiled tree without a refusal, run only while every
 * input and output is as it was made, giving the modules' results, and
 * keeping ES module semantics (evaluation order, namespaces, import.meta.url,
 * import()) on a small made-up tree. Which files a run loaded is seen through
 * a module resolve hook (node --import), not guessed from timings.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { serveStream, startVm } from '../agent/qmp-peers.js';
import { REPO_ROOT } from '../qapi/qemu-source.js';

const BUNDLER = join(REPO_ROOT, 'scripts/bundle-cli.mjs');
const BUNDLE = 'dist/src/cli-bundle.mjs';
const MANIFEST = 'dist/src/cli-bundle.json';
const MAIN = 'dist/src/cli/main.js';

let dir = '';
let trees = 0;

/** scripts/bundle-cli.mjs in this process (TypeScript's parser loads once, not per bundle). */
interface Bundler {
  writeCliBundle(dist: string): { modules: number; chunks: number };
}
const bundler = (await import(pathToFileURL(BUNDLER).href)) as Bundler;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'memfail-cli-bundle-'));
  // Logs every module a run resolves (one URL a line) to the file $MEMFAIL_LOADED names.
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (process.env.MEMFAIL_LOADED) appendFileSync(process.env.MEMFAIL_LOADED, result.url + '\\n');
  return result;
}
`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
  );
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A copy of bin/ and the compiled dist/src/ (without any bundle) to bundle and tamper with. */
function copyTree(): string {
  const root = join(dir, `tree-${trees++}`);
  mkdirSync(root);
  cpSync(join(REPO_ROOT, 'bin'), join(root, 'bin'), { recursive: true });
  cpSync(join(REPO_ROOT, 'dist/src'), join(root, 'dist/src'), {
    recursive: true,
    filter: (src) => !src.includes('cli-bundle'),
  });
  cpSync(join(REPO_ROOT, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

interface Made {
  status: number | null;
  stdout: string;
  stderr: string;
}

function bundle(root: string): Made {
  const r = spawnSync(process.execPath, [BUNDLER, '--dist', join(root, 'dist')], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function bundleOk(root: string): void {
  const made = bundler.writeCliBundle(join(root, 'dist'));
  assert.ok(made.modules > 0);
  assert.ok(existsSync(join(root, MANIFEST)));
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Files the run loaded: paths under the tree, package names, node: builtins. */
  loaded: string[];
}

let runs = 0;

/** `node bin/memfail.js ARGS` in the tree, as a user runs it (async: a test VM may be serving). */
function run(root: string, args: readonly string[]): Promise<Run> {
  const log = join(dir, `loaded-${runs++}.txt`);
  writeFileSync(log, '');
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(dir, 'register.mjs')).href,
      join(root, 'bin/memfail.js'),
      ...args,
    ],
    { env: { ...process.env, MEMFAIL_LOADED: log }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const tree = pathToFileURL(root).href;
      const modules = pathToFileURL(join(REPO_ROOT, 'node_modules')).href;
      const loaded = readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((url) =>
          url.startsWith(`${tree}/`)
            ? url.slice(tree.length + 1)
            : url.startsWith(`${modules}/`)
              ? url.slice(modules.length + 1).split('/')[0]!
              : url,
        );
      resolve({ code, stdout, stderr, loaded });
    });
  });
}

function assertBundled(r: Run, what: string): void {
  assert.ok(r.loaded.includes(BUNDLE), `${what}: the bundle did not run`);
  assert.ok(!r.loaded.includes(MAIN), `${what}: the modules ran`);
}

function assertModules(r: Run, what: string): void {
  assert.ok(r.loaded.includes(MAIN), `${what}: the modules did not run`);
  assert.ok(!r.loaded.some((f) => f.includes('cli-bundle')), `${what}: a bundle file was loaded`);
}

describe('the bundled command line (scripts/bundle-cli.mjs)', () => {
  test('the real tree bundles without a refusal, and bin/memfail.js runs it', async () => {
    const root = copyTree();
    const made = bundle(root);
    assert.equal(made.status, 0, made.stderr);
    assert.equal(made.stderr, '');
    assert.match(made.stdout, /cli-bundle\.mjs: \d+ modules \(\d+ chunks behind import\(\)\)/);
    const help = await run(root, ['--help']);
    assert.equal(help.code, 0, help.stderr);
    assertBundled(help, 'memfail --help');
  });

  test('watch, events, report, schema, help and errors: the same from the bundle as from the modules', async () => {
    const root = copyTree();
    bundleOk(root);
    const vm = await startVm(join(root, 'vm.qmp'));
    const stop = serveStream(vm.server, 3, { endAfter: true });
    const db = join(root, 'events.db');
    const schema = join(REPO_ROOT, 'schema/memory-failure-qemu.json');
    const script: { args: string[]; fresh?: boolean }[] = [
      { args: ['--help'] },
      { args: ['-V'] },
      { args: ['watch', '--help'] },
      { args: ['sim', '--help'] },
      { args: ['inject', '--help'] },
      { args: ['demo', '--help'] },
      { args: ['bogus'] },
      { args: ['watch'] },
      { args: ['watch', 'vm=nowhere:x', '--db', db] },
      { args: ['watch', `vm=${vm.address}`, '--db', db, '--once'], fresh: true },
      {
        args: ['watch', `vm=${vm.address}`, '--db', db, '--once', '-q', '--metrics', '127.0.0.1:0'],
      },
      { args: ['events', '--db', db] },
      { args: ['events', '--db', db, '--json'] },
      { args: ['events', '--db', db, '--since', 'soon'] },
      { args: ['report', '--db', db] },
      { args: ['report', '--db', db, '--json'] },
      { args: ['schema', 'introspect', schema] },
    ];
    // Times of receipt differ from run to run, nothing else may.
    const same = (text: string) =>
      text
        .replace(/"receivedAt": "[^"]*"/g, '"receivedAt": "…"')
        .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T');
    const results: Record<'bundle' | 'modules', Run[]> = { bundle: [], modules: [] };
    try {
      for (const mode of ['bundle', 'modules'] as const) {
        if (mode === 'modules') rmSync(join(root, MANIFEST));
        rmSync(db, { force: true });
        for (const { args, fresh } of script) {
          if (fresh) rmSync(db, { force: true });
          const r = await run(root, args);
          if (mode === 'bundle') assertBundled(r, args.join(' '));
          else assertModules(r, args.join(' '));
          results[mode].push(r);
        }
      }
    } finally {
      stop();
      await vm.server.close();
    }
    script.forEach(({ args }, i) => {
      const b = results.bundle[i]!;
      const m = results.modules[i]!;
      const what = `memfail ${args.join(' ')}`;
      assert.equal(b.code, m.code, what);
      assert.equal(same(b.stdout), same(m.stdout), what);
      assert.equal(same(b.stderr), same(m.stderr), what);
    });
    const watched = results.bundle[9]!;
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stderr, /recorded 3 new memory failures/);
    assert.ok(watched.loaded.includes('dist/src/cli-bundle/cli.agent-watch.mjs'));
    // Metrics (prom-client) and alerts load only when asked for.
    assert.ok(!watched.loaded.includes('prom-client'), 'a plain watch loaded prom-client');
    assert.ok(!watched.loaded.includes('dist/src/cli-bundle/agent.alerts.mjs'));
    assert.ok(results.bundle[10]!.loaded.includes('prom-client'));
    assert.equal(results.bundle[13]!.code, 2, 'a usage error thrown in a chunk is still one');
    assert.equal(results.bundle[12]!.code, 0);
    assert.equal((JSON.parse(results.bundle[12]!.stdout) as unknown[]).length, 3);
  });

  test('is never run once an input or an output changed, or is gone', async () => {
    const root = copyTree();
    const version = async (what: string, bundled: boolean) => {
      const r = await run(root, ['-V']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '0.1.0\n');
      if (bundled) assertBundled(r, what);
      else assertModules(r, what);
    };
    await version('before any bundle', false);
    bundleOk(root);
    await version('fresh', true);

    const later = new Date(Date.now() + 5000);
    utimesSync(join(root, 'dist/src/agent/store.js'), later, later);
    await version('an input touched', false);
    bundleOk(root);
    await version('rebuilt', true);

    appendFileSync(join(root, 'dist/src/qmp/framing.js'), '// rebuilt\n');
    await version('an input rewritten', false);
    bundleOk(root);

    appendFileSync(join(root, 'dist/src/cli-bundle/cli.agent-watch.mjs'), '// edited\n');
    await version('a chunk edited', false);
    bundleOk(root);

    rmSync(join(root, 'dist/src/cli-bundle/cli.agent-read.mjs'));
    await version('a chunk gone', false);
    bundleOk(root);

    rmSync(join(root, 'dist/src/qemu/launch.js'));
    await version('an input gone', false);
    cpSync(join(REPO_ROOT, 'dist/src/qemu/launch.js'), join(root, 'dist/src/qemu/launch.js'));
    bundleOk(root);

    writeFileSync(join(root, MANIFEST), '{"inputs": [');
    await version('a manifest cut short', false);
    rmSync(join(root, MANIFEST));
    await version('no manifest', false);
  });

  test('a module it cannot bundle leaves no bundle; the build goes on and the modules run', async () => {
    const root = copyTree();
    bundleOk(root);
    appendFileSync(join(root, 'dist/src/cli/io.js'), 'export let late = 1;\n');
    const made = bundle(root);
    assert.equal(made.status, 0);
    assert.match(made.stderr, /src\/cli\/io\.js:\d+: cannot bundle a live `export let`/);
    assert.ok(!existsSync(join(root, MANIFEST)));
    const r = await run(root, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assertModules(r, 'after a refusal');
  });
});

describe('bundle-cli keeps ES module semantics', () => {
  /** A made-up tree: dist/src/cli/main.js (the bundler's entry) and FILES under dist/src. */
  function fixture(files: Record<string, string>): string {
    const root = join(dir, `fixture-${trees++}`);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, 'dist/src', name)), { recursive: true });
      writeFileSync(join(root, 'dist/src', name), text);
    }
    writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
    return root;
  }

  test('evaluation order, namespaces, re-exports, import.meta.url and import()', () => {
    const root = fixture({
      'log.js': 'export const order = [];\nexport function note(name) {\n  order.push(name);\n}\n',
      'b.js': "import { note } from './log.js';\nnote('b');\nexport const b = 'b';\n",
      'a.js':
        "import { note } from './log.js';\nimport { b } from './b.js';\nnote('a');\nexport const a = 'a' + b;\n",
      'c.js': [
        "import { note } from './log.js';",
        "note('c');",
        "export * from './b.js';",
        "export { a as renamed } from './a.js';",
        "export * as all from './a.js';",
        "export function c() {\n  return 'c';\n}",
        'export class K {}',
        '// Back into the module that imports this one: no cycle, main.js has run by then.',
        "export const back = () => import('./cli/main.js');",
        '',
      ].join('\n'),
      'lazy.js': [
        "import { note } from './log.js';",
        "import { sep } from 'node:path';",
        "import { c } from './c.js';",
        "note('lazy');",
        'export const lazy = sep + c();',
        'export const url = import.meta.url;',
        '// import { fake } from "./nowhere.js" is a comment, and so is `import("./x.js")`',
        "export const text = `\nimport { x } from './y.js';\n`;",
        '',
      ].join('\n'),
      'cli/main.js': [
        "import { note, order } from '../log.js';",
        "import * as c from '../c.js';",
        "import { a } from '../a.js';",
        "import path from 'node:path';",
        "note('main');",
        'export { order, c as cNamespace };',
        'export const url = import.meta.url;',
        'export const joined = path.join(a, c.b);',
        'export async function later() {',
        "  note('before import()');",
        "  const ns = await import('../lazy.js');",
        "  const again = await import('../lazy.js');",
        '  return { ns, same: ns === again };',
        '}',
        '',
      ].join('\n'),
    });
    bundler.writeCliBundle(join(root, 'dist'));
    const probe = join(root, 'probe.mjs');
    writeFileSync(
      probe,
      `const m = await import(process.argv[2]);
const shape = (ns) => ({
  keys: Object.keys(ns),
  entries: Object.entries(ns).map(([k, v]) => [k, typeof v === 'function' ? v.name : typeof v === 'object' ? Object.keys(v) : v]),
  tag: Object.prototype.toString.call(ns),
  proto: Object.getPrototypeOf(ns),
  extensible: Object.isExtensible(ns),
  set: Reflect.set(ns, 'x', 1),
});
const before = [...m.order];
const { ns, same } = await m.later();
const back = await m.cNamespace.back();
console.log(JSON.stringify({ before, after: [...m.order], main: shape(m.cNamespace), lazy: shape(ns), all: shape(m.cNamespace.all), back: shape(back), same, url: m.url, joined: m.joined }));
`,
    );
    const probeRun = (entry: string) => {
      const r = spawnSync(process.execPath, [probe, pathToFileURL(join(root, entry)).href], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as {
        before: string[];
        url: string;
        lazy: { entries: unknown[] };
      };
    };
    const viaModules = probeRun(MAIN);
    const viaBundle = probeRun(BUNDLE);
    assert.deepEqual(viaBundle, viaModules);
    // What the modules do, spelled out: dependencies first, in import order; lazy.js only on import().
    assert.deepEqual(viaModules.before, ['b', 'a', 'c', 'main']);
    assert.equal(viaBundle.url, pathToFileURL(join(root, MAIN)).href);
    assert.ok(viaBundle.lazy.entries.some((e) => JSON.stringify(e).includes('lazy.js')));
  });

  const refusals: [string, Record<string, string>, RegExp][] = [
    ['a live export let', { 'cli/main.js': 'export let x = 1;\n' }, /live `export let`/],
    ['export default', { 'cli/main.js': 'export default 1;\n' }, /`export default`/],
    ['top-level await', { 'cli/main.js': 'await 0;\nexport const x = 1;\n' }, /top-level `await`/],
    [
      'import.meta.resolve',
      { 'cli/main.js': "export const u = import.meta.resolve('x');\n" },
      /import\.meta/,
    ],
    [
      'import() of a variable',
      { 'cli/main.js': "const s = './x.js';\nexport const f = () => import(s);\n" },
      /string literal/,
    ],
    [
      'an import cycle',
      {
        'cli/main.js': "import { y } from '../x.js';\nexport const m = y;\n",
        'x.js':
          "import { m } from './cli/main.js';\nexport const y = 1;\nexport const z = () => m;\n",
      },
      /import cycle/,
    ],
    [
      'an ambiguous export *',
      {
        'cli/main.js': "export * from '../p.js';\nexport * from '../q.js';\n",
        'p.js': 'export const same = 1;\n',
        'q.js': 'export const same = 2;\n',
      },
      /ambiguous `export \*` of 'same'/,
    ],
    [
      'an exported function reassigned',
      { 'cli/main.js': 'export function f() {}\nexport function g() {\n  f = null;\n}\n' },
      /assignment to the exported 'f'/,
    ],
    ["the bundle's own prefix", { 'cli/main.js': 'export const __bundle$x = 1;\n' }, /prefix/],
  ];
  for (const [what, files, why] of refusals) {
    test(`refuses ${what}, naming the file`, () => {
      const root = fixture(files);
      assert.throws(
        () => bundler.writeCliBundle(join(root, 'dist')),
        (err: Error) => /^src\/[\w/]+\.js(:\d+)?: /.test(err.message) && why.test(err.message),
      );
      assert.deepEqual(
        readdirSync(join(root, 'dist/src')).filter((f) => f.startsWith('cli-bundle')),
        [],
      );
    });
  }
});
