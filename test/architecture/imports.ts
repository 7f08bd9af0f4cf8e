/**
 * The import graph of src/ and the folder rules ARCHITECTURE.md states, as
 * plain data and functions, so that the check itself can be tested.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Folder → the folders its files may import (besides their own). */
export type Rules = ReadonlyMap<string, ReadonlySet<string>>;

/** File (relative to its root, with `/`) → the files it imports, relative to the same root. */
export type Graph = ReadonlyMap<string, readonly string[]>;

/**
 * The rules from the ```deps block of a markdown text: one line per folder,
 * the folder, then the folders it may import, or `-` for none.
 */
export function parseRules(markdown: string): Rules {
  const block = /^```deps\n([\s\S]*?)^```/m.exec(markdown);
  if (block === null) throw new Error('no ```deps block');
  const rules = new Map<string, ReadonlySet<string>>();
  for (const line of block[1]!.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const [folder, ...allowed] = words as [string, ...string[]];
    if (rules.has(folder)) throw new Error(`${folder} has two lines`);
    rules.set(folder, new Set(allowed.filter((w) => w !== '-')));
  }
  for (const [folder, allowed] of rules) {
    for (const to of allowed) {
      if (!rules.has(to)) throw new Error(`${folder} may import ${to}, which has no line`);
    }
  }
  return rules;
}

function filesUnder(root: string, extension: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(extension)) out.push(path);
    }
  };
  walk(root);
  return out;
}

function graphOf(root: string, files: string[], specifiers: (text: string) => string[]): Graph {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = specifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) =>
        relative(root, resolve(dirname(file), s))
          .split('\\')
          .join('/'),
      );
    graph.set(relative(root, file).split('\\').join('/'), [...new Set(targets)]);
  }
  return graph;
}

/**
 * Every import of every .ts file under `src` (static, dynamic, `import type`,
 * re-exports), targets named as .js files like the specifiers are: what the
 * folder rules apply to, since a type import ties folders together too.
 */
export function sourceGraph(src: string): Graph {
  return graphOf(src, filesUnder(src, '.ts'), (text) =>
    ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName),
  );
}

const RUNTIME_IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?\bfrom\s*'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^import\s*'([^']+)'/gm;

/**
 * The imports compiled JavaScript under `dist` still makes: what runs, so
 * where a cycle would mean a module used before it is evaluated. (Type-only
 * imports are gone; the checked model's classes and their visitor name each
 * other's types, as QEMU's schema.py does, without importing each other.)
 */
export function compiledGraph(dist: string): Graph {
  return graphOf(dist, filesUnder(dist, '.js'), (text) =>
    [...withoutComments(text).matchAll(RUNTIME_IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3])!),
  );
}

/** Block and whole-line comments blanked (header comments show imports as examples). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** The folder of a file relative to src/ (`agent/store.js` → `agent`). */
export function folderOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? '.' : file.slice(0, slash);
}

/** Each import that crosses folders against the rules, as `from → to` lines. */
export function ruleViolations(graph: Graph, rules: Rules): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    const allowed = rules.get(from);
    if (allowed === undefined) {
      out.push(`${file}: folder '${from}' has no line in the rules`);
      continue;
    }
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== from && !allowed.has(to)) out.push(`${file} imports ${target}: ${from} → ${to}`);
    }
  }
  return out;
}

/** The import cycles among the graph's files, each as `a → b → … → a`. */
export function cycles(graph: Graph): string[] {
  const out: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      const seen = state.get(target);
      if (seen === 'open') out.push([...stack.slice(stack.indexOf(target)), target].join(' → '));
      else if (seen === undefined) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return out;
}
