/**
 * ARCHITECTURE.md's folder rules are the imports: every import in src/ that
 * crosses folders is one the rules allow, every folder has its line, and the
 * compiled modules import each other without a cycle.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compiledGraph, cycles, parseRules, ruleViolations, sourceGraph } from './imports.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const rules = parseRules(readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8'));

describe('the code follows ARCHITECTURE.md', () => {
  test('every folder of src/ has its line in the rules', () => {
    const folders = readdirSync(join(ROOT, 'src')).filter((n) =>
      statSync(join(ROOT, 'src', n)).isDirectory(),
    );
    assert.ok(folders.length >= 10, `only ${folders.length} folders in src/`);
    assert.deepEqual(
      folders.filter((f) => !rules.has(f)),
      [],
    );
  });

  test('every import across folders is one the rules allow', () => {
    const graph = sourceGraph(join(ROOT, 'src'));
    assert.ok(graph.size > 50, `only ${graph.size} files read`);
    assert.deepEqual(ruleViolations(graph, rules), []);
  });

  test('no import cycle between the compiled modules', () => {
    const graph = compiledGraph(join(ROOT, 'dist/src'));
    assert.ok(graph.size > 50, `only ${graph.size} modules read`);
    assert.deepEqual(cycles(graph), []);
  });
});

describe('the check itself', () => {
  const small = parseRules(
    '```deps\ncli    agent hypervisor qmp\nagent  qmp\nhypervisor qmp\nqmp -\nfleet agent qmp\n```\n',
  );

  test('reads each folder line, `-` for none', () => {
    assert.deepEqual([...small.keys()], ['cli', 'agent', 'hypervisor', 'qmp', 'fleet']);
    assert.deepEqual([...small.get('qmp')!], []);
    assert.throws(() => parseRules('```deps\nagent qmp\n```\n'), /qmp, which has no line/);
    assert.throws(() => parseRules('no block'), /no ```deps block/);
  });

  test('flags an import upwards, sideways between the ends, into a new room, or from an unknown folder', () => {
    const graph = new Map([
      ['cli/main.js', ['agent/store.js', 'qmp/client.js']],
      ['agent/store.js', ['agent/rows.js', 'hypervisor/mca.js']],
      ['qmp/client.js', ['cli/io.js']],
      ['hypervisor/sim.js', ['fleet/pool.js']],
      ['web/app.js', ['agent/store.js']],
    ]);
    assert.deepEqual(ruleViolations(graph, small), [
      'agent/store.js imports hypervisor/mca.js: agent → hypervisor',
      'qmp/client.js imports cli/io.js: qmp → cli',
      'hypervisor/sim.js imports fleet/pool.js: hypervisor → fleet',
      "web/app.js: folder 'web' has no line in the rules",
    ]);
  });

  test('finds a cycle, and only one where there is one', () => {
    const graph = new Map([
      ['a.js', ['b.js']],
      ['b.js', ['c.js', 'd.js']],
      ['c.js', ['a.js']],
      ['d.js', []],
    ]);
    assert.deepEqual(cycles(graph), ['a.js → b.js → c.js → a.js']);
    assert.deepEqual(
      cycles(
        new Map([
          ['a.js', ['b.js']],
          ['b.js', []],
        ]),
      ),
      [],
    );
  });
});
