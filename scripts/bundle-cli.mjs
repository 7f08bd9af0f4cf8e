// Bundle the whole `memfail` command line into one ES module.
//
//   node scripts/bundle-cli.mjs [--dist DIR]      (after `npx tsc -p tsconfig.json`)
//
// Writes DIR/src/cli-bundle.mjs with the compiled src/cli/main.js and every
// module of ours it imports, statically or with `import()`, and
// DIR/src/cli-bundle.json naming those inputs (relative to DIR) with their
// size and mtime. Node's ES module loader spends tens of ms resolving, reading
// and compiling the 30-odd separate modules behind `memfail watch` alone; one
// module loads in a few. bin/memfail.js uses the bundle only while every input
// is exactly as it was when the bundle was made, and the modules otherwise, so
// a stale bundle is never run (`npx tsc` alone leaves it stale).
//
// What stays as it was:
// - Packages (commander, better-sqlite3, prom-client) and node: builtins stay
//   real imports, loaded when the modules would have loaded them: those of
//   the modules main.js imports statically are imported by the bundle itself;
//   those of a module reached only through `import()` are imported when that
//   `import()` runs (all of them first, then that module's code), so that
//   `memfail watch` still loads no prom-client without --metrics.
// - Each module of ours keeps its own scope, and runs once, when and in the
//   order ES modules would run it (dependencies first, in import order; a
//   module behind `import()` only when that runs). `import()` of one of ours
//   gives its exports as a namespace-like object (null prototype, sorted
//   names, frozen, tagged 'Module'). `import.meta.url` is the module's own
//   file, not the bundle's.
//
// The modules are read with TypeScript's parser (not patterns), so a string
// or template that happens to contain `import` is never touched. Anything
// whose meaning would change in a function scope is refused rather than
// guessed at: `export let`/`var` and `export default`, exports that are not
// plain names, top-level `await`/`arguments`, `import.meta` other than
// `.url`, `import()` of anything but a string literal, static import cycles,
// ambiguous `export *`, and names that clash with the bundle's own (__bundle$).
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ENTRY = 'src/cli/main.js';
const BUNDLE = 'src/cli-bundle.mjs';
const MANIFEST = 'src/cli-bundle.json';
const CHUNKS = 'src/cli-bundle';
const PREFIX = '__bundle$';

class BundleError extends Error {}

const isOurs = (spec) => spec.startsWith('.');
/** A module's name in the bundle and manifest: its path under dist, with '/'. */
const idOf = (dist, file) => relative(dist, file).split(sep).join('/');

/** One compiled module, read and rewritten into the body of a function. */
function parseModule(dist, file) {
  const id = idOf(dist, file);
  // Stat before reading: a file rewritten in between then looks changed, not current.
  const st = statSync(file);
  const text = readFileSync(file, 'utf8');
  const refuse = (node, why) => {
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    throw new BundleError(`${id}:${line + 1}: cannot bundle ${why}`);
  };
  if (text.includes(PREFIX)) throw new BundleError(`${id}: uses the bundle's prefix ${PREFIX}`);
  if (text.startsWith('#!')) throw new BundleError(`${id}: cannot bundle a #! line`);
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  if (sf.parseDiagnostics?.length) {
    const why = ts.flattenDiagnosticMessageText(sf.parseDiagnostics[0].messageText, ' ');
    throw new BundleError(`${id}: does not parse: ${why}`);
  }

  const edits = []; // [start, end, replacement]
  const requests = []; // in source order: { spec, names: [[imported, local]] | null, ns: local | null }
  const localExports = []; // [exported, local]
  const reExports = []; // { spec, names: [[imported, exported]] } or { spec, star: true } or { spec, ns: exported }
  const dynamic = new Set(); // relative specifiers of import()
  let usesMetaUrl = false;
  const consts = new Set(); // top-level names that cannot be reassigned (const, class, function, import)
  const remove = (node) => edits.push([node.getFullStart(), node.end, '']);
  const plainName = (node) => {
    if (!ts.isIdentifier(node)) refuse(node, 'an export or import name that is not a plain name');
    return node.text;
  };

  for (const stmt of sf.statements) {
    if (ts.isImportDeclaration(stmt)) {
      const spec = stmt.moduleSpecifier.text;
      const clause = stmt.importClause;
      const request = { spec, names: [], ns: null };
      if (clause?.name) request.names.push(['default', clause.name.text]);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) request.ns = bindings.name.text;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          request.names.push([plainName(el.propertyName ?? el.name), el.name.text]);
        }
      }
      if (stmt.attributes) refuse(stmt, 'import attributes');
      for (const [, local] of request.names) consts.add(local);
      if (request.ns) consts.add(request.ns);
      requests.push(request);
      remove(stmt);
    } else if (ts.isExportDeclaration(stmt)) {
      const clause = stmt.exportClause;
      if (stmt.moduleSpecifier) {
        const spec = stmt.moduleSpecifier.text;
        requests.push({ spec, names: [], ns: null });
        if (!clause) reExports.push({ spec, star: true });
        else if (ts.isNamespaceExport(clause)) reExports.push({ spec, ns: plainName(clause.name) });
        else {
          const names = clause.elements.map((el) => [
            plainName(el.propertyName ?? el.name),
            plainName(el.name),
          ]);
          reExports.push({ spec, names });
        }
      } else if (clause && ts.isNamedExports(clause)) {
        for (const el of clause.elements) {
          localExports.push([plainName(el.name), plainName(el.propertyName ?? el.name)]);
        }
      } else {
        refuse(stmt, 'this export form');
      }
      remove(stmt);
    } else if (ts.isExportAssignment(stmt)) {
      refuse(stmt, '`export default` or `export =`');
    } else {
      const mods = ts.canHaveModifiers(stmt) ? (ts.getModifiers(stmt) ?? []) : [];
      const exported = mods.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) {
        refuse(stmt, '`export default`');
      }
      const declared = [];
      if (ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt)) {
        if (stmt.name) declared.push(stmt.name.text);
      } else if (ts.isVariableStatement(stmt)) {
        const isConst = (stmt.declarationList.flags & ts.NodeFlags.Const) !== 0;
        for (const decl of stmt.declarationList.declarations) {
          if (exported && !ts.isIdentifier(decl.name)) {
            refuse(decl, 'an exported destructuring declaration');
          }
          if (exported && !isConst) refuse(decl, 'a live `export let`/`export var` binding');
          if (isConst && ts.isIdentifier(decl.name)) declared.push(decl.name.text);
        }
      } else if (exported) {
        refuse(stmt, 'this export form');
      }
      for (const name of declared) consts.add(name);
      if (exported) {
        for (const name of declared) localExports.push([name, name]);
        edits.push([exported.getStart(sf), exported.end, '']);
      }
    }
  }
  // `export { x }` of a binding that can be reassigned would be live in ES modules.
  for (const [, local] of localExports) {
    if (!consts.has(local)) {
      throw new BundleError(
        `${id}: cannot bundle export of '${local}' (not a const, class, function or import)`,
      );
    }
  }

  const exportedLocals = new Set(localExports.map(([, local]) => local));
  // Everything below the top level: import(), import.meta, top-level await/arguments.
  const visit = (node, inFunction, inArrow) => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg, ...rest] = node.arguments;
      if (!arg || rest.length > 0 || !ts.isStringLiteralLike(arg)) {
        refuse(node, '`import()` of anything but one string literal');
      }
      if (isOurs(arg.text)) {
        dynamic.add(arg.text);
        const target = idOf(dist, resolve(dirname(file), arg.text));
        edits.push([node.getStart(sf), node.end, `${PREFIX}import(${JSON.stringify(target)})`]);
        return; // the literal inside needs no visit
      }
    }
    if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
      const parent = node.parent;
      if (!ts.isPropertyAccessExpression(parent) || parent.name.text !== 'url') {
        refuse(node, '`import.meta` other than `import.meta.url`');
      }
      edits.push([parent.getStart(sf), parent.end, `${PREFIX}url(${JSON.stringify(id)})`]);
      usesMetaUrl = true;
      return;
    }
    const topLevelAwait =
      ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier);
    if (!inFunction && !inArrow && topLevelAwait) refuse(node, 'top-level `await`');
    // Arrows have no `arguments` of their own: at the top level it would be the bundle's function's.
    if (!inFunction && ts.isIdentifier(node) && node.text === 'arguments') {
      refuse(node, 'top-level `arguments`');
    }
    // An exported function or class that is assigned to (anywhere, in any
    // form, whatever scope the name is in there) might change after export.
    if (ts.isIdentifier(node) && exportedLocals.has(node.text) && ts.isAssignmentTarget(node)) {
      refuse(node, `an assignment to the exported '${node.text}'`);
    }
    if (ts.isIdentifier(node) && node.text.startsWith(PREFIX)) refuse(node, `a name ${node.text}`);
    const fn =
      ts.isFunctionDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessor(node) ||
      ts.isSetAccessor(node) ||
      ts.isClassStaticBlockDeclaration(node) ||
      ts.isPropertyDeclaration(node);
    const arrow = ts.isArrowFunction(node);
    ts.forEachChild(node, (child) => visit(child, inFunction || fn, inArrow || arrow));
  };
  visit(sf, false, false);

  edits.sort((a, b) => b[0] - a[0]);
  let body = text;
  for (const [start, end, replacement] of edits) {
    body = body.slice(0, start) + replacement + body.slice(end);
  }
  return {
    id,
    file,
    body,
    requests,
    localExports,
    reExports,
    dynamic,
    usesMetaUrl,
    size: st.size,
    mtimeMs: st.mtimeMs,
  };
}

export function bundleCli(dist) {
  const modules = new Map(); // file → parsed module; null while its static imports are read
  const order = []; // every module, dependencies before dependants
  const exportNames = new Map(); // file → sorted exported names

  function add(file) {
    if (modules.has(file)) {
      if (modules.get(file) === null) {
        throw new BundleError(`${idOf(dist, file)}: cannot bundle an import cycle through it`);
      }
      return;
    }
    modules.set(file, null);
    const mod = parseModule(dist, file);
    const dep = (spec) => resolve(dirname(file), spec);
    for (const { spec } of mod.requests) if (isOurs(spec)) add(dep(spec));
    // Names this module exports: its own, then `export *` of the others (own names win).
    const names = new Map(mod.localExports.map(([exported]) => [exported, 'own']));
    const star = new Map();
    for (const re of mod.reExports) {
      if (!isOurs(re.spec)) {
        throw new BundleError(`${mod.id}: cannot bundle a re-export of package '${re.spec}'`);
      }
      if (re.names) for (const [, exported] of re.names) names.set(exported, 'own');
      if (re.ns) names.set(re.ns, 'own');
    }
    for (const re of mod.reExports) {
      if (!re.star) continue;
      for (const name of exportNames.get(dep(re.spec))) {
        if (name === 'default' || names.has(name)) continue;
        if (star.has(name) && dep(star.get(name)) !== dep(re.spec)) {
          throw new BundleError(`${mod.id}: cannot bundle ambiguous \`export *\` of '${name}'`);
        }
        star.set(name, re.spec);
      }
    }
    mod.starExports = star;
    exportNames.set(file, [...names.keys(), ...star.keys()].sort());
    modules.set(file, mod);
    order.push(file);
    for (const spec of mod.dynamic) behindImport.push(dep(spec));
  }

  // Modules behind import() are read once every static import chain in
  // progress is done: they may import those modules statically, without a
  // cycle (by the time import() runs, those modules have run).
  const behindImport = [];
  const entry = resolve(dist, ENTRY);
  add(entry);
  while (behindImport.length > 0) add(behindImport.shift());

  // The modules main.js reaches by static imports run as the bundle loads; their
  // packages are the bundle's own imports. The others wait for their import().
  const eager = new Set();
  const staticClosure = (file, into) => {
    if (into.has(file)) return;
    into.add(file);
    const mod = modules.get(file);
    for (const { spec } of mod.requests) {
      if (isOurs(spec)) staticClosure(resolve(dirname(file), spec), into);
    }
  };
  staticClosure(entry, eager);
  /** Packages of a module and what it imports statically, in ES module evaluation order. */
  const packagesOf = (file) => {
    const seen = new Set();
    const packages = [];
    const walk = (f) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const { spec } of modules.get(f).requests) {
        if (isOurs(spec)) walk(resolve(dirname(f), spec));
        else if (!packages.includes(spec)) packages.push(spec);
      }
    };
    walk(file);
    return packages;
  };
  const eagerPackages = packagesOf(entry);

  const bundleDir = dirname(resolve(dist, BUNDLE));
  const posix = (path) => path.split(sep).join('/');
  const idsOf = (files) => [...files].map((file) => idOf(dist, file));

  // A chunk per module behind import() (outside the eager part): that module
  // and what it imports statically, less the eager part. Chunks overlap; a
  // module already defined by another chunk keeps that first definition.
  const chunks = new Map(); // chunk file (relative to dist) → [file, ...]
  const lazy = {}; // id → [chunk URL relative to the bundle, packages to load first]
  const targets = new Set();
  for (const file of order) {
    for (const spec of modules.get(file).dynamic) targets.add(resolve(dirname(file), spec));
  }
  for (const file of order) {
    if (!targets.has(file) || eager.has(file)) continue;
    const closure = new Set();
    staticClosure(file, closure);
    const members = order.filter((f) => closure.has(f) && !eager.has(f));
    const name = `${CHUNKS}/${idOf(dist, file)
      .replace(/^src\//, '')
      .replace(/\.js$/, '')
      .replaceAll('/', '.')}.mjs`;
    chunks.set(name, members);
    const packages = packagesOf(file).filter((spec) => !eagerPackages.includes(spec));
    lazy[idOf(dist, file)] = [posix(relative(bundleDir, join(dist, name))), packages];
  }
  const urls = {};
  for (const file of order) {
    if (modules.get(file).usesMetaUrl) urls[idOf(dist, file)] = posix(relative(bundleDir, file));
  }

  const out = [
    `// Generated by scripts/bundle-cli.mjs from ${ENTRY} and the modules it imports: do not edit.\n`,
  ];
  eagerPackages.forEach((spec, i) => {
    out.push(`import * as ${PREFIX}p${i} from ${JSON.stringify(spec)};\n`);
  });
  const eagerList = eagerPackages.map((spec, i) => `[${JSON.stringify(spec)}, ${PREFIX}p${i}]`);
  out.push(
    RUNTIME.replace('EAGER', eagerList.join(', '))
      .replace('LAZY', JSON.stringify(lazy))
      .replace('URLS', JSON.stringify(urls)),
  );
  for (const file of order) if (eager.has(file)) out.push(defineModule(dist, modules.get(file)));
  const entryId = idOf(dist, entry);
  out.push(`const ${PREFIX}entry = ${PREFIX}require(${JSON.stringify(entryId)});\n`);
  out.push(`export const { ${exportNames.get(entry).join(', ')} } = ${PREFIX}entry;\n`);

  const files = new Map([[BUNDLE, out.join('')]]);
  for (const [name, members] of chunks) {
    const text = [
      `// Generated by scripts/bundle-cli.mjs: ${idsOf(members).join(', ')}. Do not edit.\n`,
      `export function ${PREFIX}install(${RUNTIME_NAMES.join(', ')}) {\n`,
      ...members.map((file) => defineModule(dist, modules.get(file))),
      '}\n',
    ];
    files.set(name, text.join(''));
  }
  const inputs = order.map((file) => {
    const { size, mtimeMs } = modules.get(file);
    return [idOf(dist, file), size, mtimeMs];
  });
  return { files, inputs };
}

/** One module as `__bundle$define(id, () => { imports; body; return exports })`. */
function defineModule(dist, mod) {
  const dep = (spec) => idOf(dist, resolve(dirname(mod.file), spec));
  const prologue = [];
  const from = new Map(); // spec → variable holding its namespace
  for (const req of mod.requests) {
    let holder = from.get(req.spec);
    if (holder === undefined) {
      holder = `${PREFIX}m${from.size}`;
      from.set(req.spec, holder);
      const get = isOurs(req.spec)
        ? `${PREFIX}require(${JSON.stringify(dep(req.spec))})`
        : `${PREFIX}package(${JSON.stringify(req.spec)})`;
      prologue.push(`const ${holder} = ${get};`);
    }
    if (req.ns) prologue.push(`const ${req.ns} = ${holder};`);
    if (req.names.length > 0) {
      const list = req.names.map(([name, local]) => (name === local ? name : `${name}: ${local}`));
      prologue.push(`const { ${list.join(', ')} } = ${holder};`);
    }
  }
  const entry = (name, value) => `[${JSON.stringify(name)}, ${value}]`;
  const entries = mod.localExports.map(([exported, local]) => entry(exported, local));
  for (const re of mod.reExports) {
    const holder = from.get(re.spec);
    if (re.ns) entries.push(entry(re.ns, holder));
    for (const [name, exported] of re.names ?? []) {
      entries.push(entry(exported, `${holder}[${JSON.stringify(name)}]`));
    }
  }
  for (const [name, spec] of mod.starExports) {
    entries.push(entry(name, `${from.get(spec)}[${JSON.stringify(name)}]`));
  }
  return (
    `// ${mod.id}\n${PREFIX}define(${JSON.stringify(mod.id)}, () => {\n` +
    `${prologue.join('\n')}\n${mod.body}\n` +
    `return ${PREFIX}namespace([${entries.join(', ')}]);\n});\n`
  );
}

const RUNTIME_NAMES = ['define', 'require', 'import', 'package', 'url', 'namespace'].map(
  (n) => PREFIX + n,
);

// The bundle's own few lines: a module table, run-once require, import() and namespaces.
const RUNTIME = `const ${PREFIX}packages = new Map([EAGER]);
const ${PREFIX}lazy = LAZY;
const ${PREFIX}urls = URLS;
const ${PREFIX}modules = new Map();
function ${PREFIX}define(id, run) {
  if (!${PREFIX}modules.has(id)) ${PREFIX}modules.set(id, { run, state: 'new', value: undefined });
}
function ${PREFIX}require(id) {
  const m = ${PREFIX}modules.get(id);
  if (m.state === 'done') return m.value;
  if (m.state === 'failed') throw m.value;
  if (m.state === 'running') throw new Error(\`import cycle through \${id}\`);
  m.state = 'running';
  try {
    m.value = m.run();
    m.state = 'done';
  } catch (err) {
    m.value = err;
    m.state = 'failed';
    throw err;
  }
  return m.value;
}
function ${PREFIX}package(spec) {
  return ${PREFIX}packages.get(spec);
}
async function ${PREFIX}import(id) {
  const lazy = ${PREFIX}lazy[id];
  if (lazy !== undefined) {
    const [chunk, packages] = lazy;
    if (!${PREFIX}modules.has(id)) {
      const { ${PREFIX}install } = await import(new URL(chunk, import.meta.url).href);
      ${PREFIX}install(${RUNTIME_NAMES.join(', ')});
    }
    for (const p of packages) {
      if (!${PREFIX}packages.has(p)) ${PREFIX}packages.set(p, await import(p));
    }
  }
  return ${PREFIX}require(id);
}
function ${PREFIX}url(id) {
  return new URL(${PREFIX}urls[id], import.meta.url).href;
}
function ${PREFIX}namespace(entries) {
  const ns = Object.create(null);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, value] of entries) ns[name] = value;
  Object.defineProperty(ns, Symbol.toStringTag, { value: 'Module' });
  return Object.freeze(ns);
}
`;

/**
 * Write the bundle, its chunks and last the manifest, each via a rename (a
 * reader never sees half a file; until the manifest is written, it names
 * inputs or outputs that have changed). Chunks of an earlier build go.
 */
export function writeCliBundle(dist) {
  const { files, inputs } = bundleCli(dist);
  mkdirSync(join(dist, CHUNKS), { recursive: true });
  for (const old of readdirSync(join(dist, CHUNKS))) {
    if (!files.has(`${CHUNKS}/${old}`)) rmSync(join(dist, CHUNKS, old), { force: true });
  }
  const write = (name, text) => {
    const tmp = join(dist, `${name}.${process.pid}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dist, name));
  };
  const outputs = [];
  for (const [name, text] of files) {
    write(name, text);
    const st = statSync(join(dist, name));
    outputs.push([name, st.size, st.mtimeMs]);
  }
  write(MANIFEST, `${JSON.stringify({ entry: ENTRY, inputs, outputs })}\n`);
  return { modules: inputs.length, chunks: files.size - 1 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--dist');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dist = resolve(at >= 0 ? args[at + 1] : join(root, 'dist'));
  try {
    const { modules, chunks } = writeCliBundle(dist);
    console.log(`${dist}/${BUNDLE}: ${modules} modules (${chunks} chunks behind import())`);
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    // The bundle only saves start-up time: without it the modules run, so the
    // build goes on (test/cli/cli-bundle.test.ts fails until this is fixed).
    rmSync(join(dist, MANIFEST), { force: true });
    console.error(`bundle-cli: ${err.message}; no bundle, the modules will run`);
  }
}
