import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { QapiDoc } from '../../src/qapi/doc.js';
import { formatError, QapiError } from '../../src/qapi/error.js';
import { checkExprs } from '../../src/qapi/expr.js';
import { readSchemaFile } from '../../src/qapi/files.js';
import { parseSchema } from '../../src/qapi/parser.js';
import { CORPUS_DIR, corpusCases, corpusFile, QEMU_DIR, ROOT } from './corpus.js';

type Outcome = { ok: true; docs: QapiDoc[] } | { ok: false; text: string };

/** Runs our stages 1 (parse + expr checks) as QEMU's test does: file names relative to the corpus dir. */
function frontEnd(name: string): Outcome {
  try {
    const parsed = parseSchema(`${name}.json`, {
      readFile: (f) => readSchemaFile(join(CORPUS_DIR, f)),
    });
    checkExprs(parsed.exprs);
    return { ok: true, docs: parsed.docs };
  } catch (e) {
    if (!(e instanceof QapiError)) throw e;
    return { ok: false, text: `${formatError(e)}\n` };
  }
}

/**
 * Messages only the model (stage 2, schema.ts) produces. An expected error
 * that our stages let through must be one of these, or we missed a check.
 */
const SEMANTIC_ONLY = [
  /cannot use built-in type/,
  /can't be distinguished from/,
  /cannot use alternate type/,
  /uses unknown type/,
  /cannot take (alternate|built-in|array) type/,
  /can take union type .* only with 'boxed': true/,
  /'base' requires a struct type/,
  /contains itself$/,
  /is already defined$/,
  /^[^:]+:\d+: previous definition$/,
  /documented (member|feature)s? .* not exist$/,
  /lacks documentation$/,
  /collides with/,
  /is not supported for types$/,
  /discriminator .* is not a member of 'base'$/,
  /discriminator member .* must (not be conditional|not be optional|be of enum type)$/,
  /has no branches$/,
  /is not a value of enum type/,
];

/** QEMU's test-qapi.py rendering of doc blocks (the tail of each .out). */
function renderDocs(docs: QapiDoc[]): string[] {
  const out: string[] = [];
  for (const doc of docs) {
    out.push(
      doc.symbol ? `doc symbol=${doc.symbol}` : 'doc freeform',
      `    body=\n${doc.body.text}`,
    );
    for (const [name, s] of doc.args) out.push(`    arg=${name}\n${s.text}`);
    for (const [name, s] of doc.features) out.push(`    feature=${name}\n${s.text}`);
    for (const s of doc.sections) out.push(`    section=${s.name ?? 'None'}\n${s.text}`);
  }
  return out.join('\n').split('\n');
}

/** The doc part of a .out, minus the empty `arg=` entries QEMU adds for undocumented members (stage 2). */
function expectedDocs(out: string, ours: QapiDoc[]): string[] {
  const start = out.search(/^doc (symbol=|freeform)/m);
  if (start < 0) return [''];
  const lines = out.slice(start).replace(/\n$/, '').split('\n');
  const documented = new Set(
    ours.flatMap((d) => [...d.args.keys()].map((a) => `${d.symbol}/${a}`)),
  );
  const kept: string[] = [];
  let symbol: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const sym = /^doc symbol=(.*)$/.exec(line);
    if (sym) symbol = sym[1] as string;
    const arg = /^ {4}arg=(.*)$/.exec(line);
    if (arg && lines[i + 1] === '' && !documented.has(`${symbol}/${arg[1]}`)) {
      i++;
      continue;
    }
    kept.push(line);
  }
  return kept;
}

describe("QEMU 7.2's tests/qapi-schema corpus", () => {
  const cases = corpusCases();
  const semanticLeft: string[] = [];

  for (const name of cases) {
    const expected = corpusFile(`${name}.err`);
    test(name, () => {
      const got = frontEnd(name);
      if (expected === '') {
        assert.ok(got.ok, `expected success, got ${got.ok ? '' : got.text}`);
        assert.deepEqual(renderDocs(got.docs), expectedDocs(corpusFile(`${name}.out`), got.docs));
      } else if (got.ok) {
        // Passing our stages: the expected error must be one only the model can find.
        const last = expected.trimEnd().split('\n').pop() ?? '';
        assert.ok(
          SEMANTIC_ONLY.some((re) => re.test(last)),
          `stage 1 accepted ${name}, but its error looks syntactic: ${last}`,
        );
        semanticLeft.push(name);
      } else {
        assert.equal(got.text, expected);
      }
    });
  }

  test('most expected errors are caught by the parser and expression checks', () => {
    const withErrors = cases.filter((n) => corpusFile(`${n}.err`) !== '').length;
    assert.ok(cases.length >= 190, `only ${cases.length} cases found`);
    assert.ok(
      withErrors - semanticLeft.length >= 130,
      `stage 1 caught ${withErrors - semanticLeft.length}`,
    );
  });
});

/** One random edit of schema text: delete a little, insert a fragment, or copy a piece elsewhere. */
const FRAGMENTS = [
  "'",
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  '#',
  '##',
  '\n',
  ' ',
  '\t',
  '\\',
  'true',
  'false',
  '{}',
  '[]',
  "'*a'",
  "'str'",
  "['str']",
  "'if'",
  "'features'",
  "'data'",
  "'base'",
  "'type'",
  "'name'",
  "'boxed'",
  "'x-a'",
  "'__org.qemu_a'",
  "'q_a'",
  "'has-a'",
  "'u'",
  "'A'",
  "'FOO'",
  "'all'",
  "'any'",
  "'not'",
  "'deprecated'",
  "'prefix'",
  "'discriminator'",
  "'gen'",
  "'coroutine'",
  "'allow-oob'",
  "'returns'",
  "'1a'",
  "'a_b'",
  "'aB'",
  "'Foo'",
  "'FooList'",
  "'CONFIG_A'",
  '# @',
  '# @a: x',
  '# Returns: x',
  '# Since: 1',
  '# Features:',
  '# Note: y',
  '# = H',
  '#',
  '#  @b:',
  '# TODO: z',
  '# Example:',
  '#   indented',
];

const editArb = fc.tuple(
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.constantFrom('delete', 'insert', 'insert', 'copy'),
  fc.constantFrom(...FRAGMENTS),
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.integer({ min: 1, max: 30 }),
);

function applyEdits(text: string, edits: [number, string, string, number, number][]): string {
  let s = text;
  for (const [where, kind, fragment, from, len] of edits) {
    const p = Math.floor(where * (s.length + 1));
    if (kind === 'delete') s = s.slice(0, p) + s.slice(p + Math.ceil(len / 6));
    else if (kind === 'insert') s = s.slice(0, p) + fragment + s.slice(p);
    else {
      const q = Math.floor(from * s.length);
      s = s.slice(0, p) + s.slice(q, q + len) + s.slice(p);
    }
  }
  return s;
}

describe("differential: random variations of the corpus against QEMU's Python front end", () => {
  test('same expressions, docs or error text as scripts/qapi parser.py + expr.py', () => {
    const sources = corpusCases()
      .filter((n) => existsSync(join(CORPUS_DIR, `${n}.json`)))
      .map((n) => corpusFile(`${n}.json`));
    const seed = Date.now() % 1_000_000;
    const cases = fc.sample(
      fc.tuple(fc.constantFrom(...sources), fc.array(editArb, { minLength: 1, maxLength: 3 })),
      { numRuns: 400, seed },
    );
    const dir = mkdtempSync(join(tmpdir(), 'qapi-diff-'));
    try {
      cases.forEach(([text, edits], i) => {
        writeFileSync(join(dir, `c${i}.json`), applyEdits(text, edits));
      });
      const qemu = runQemuStage1(dir);
      let compared = 0;
      for (const [name, theirs] of Object.entries(qemu)) {
        if (theirs.crash) continue; // QEMU itself fails (assert); ours must still not crash
        const ours = stage1Result(dir, name);
        assert.deepEqual(
          ours,
          theirs,
          `seed ${seed}, ${name}:\n${readFileSync(join(dir, name), 'utf8')}`,
        );
        compared++;
      }
      assert.ok(compared >= 390, `only ${compared} cases compared`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

const NAMES = [
  'str',
  'int',
  'Foo',
  'FooList',
  'x-foo',
  '__org.qemu_foo',
  'q_foo',
  'has-x',
  'u',
  'a_b',
  'a-b',
  'aB',
  'FOO_BAR',
  '1a',
  '',
  '*a',
  '*',
  'deprecated',
  'CONFIG_X',
  'all',
  'any',
  'not',
  'type',
  'name',
  'if',
  'features',
  'data',
  'base',
  'prefix',
  'discriminator',
  'boxed',
  'gen',
  'returns',
  'success-response',
  'allow-oob',
  'allow-preconfig',
  'coroutine',
  'enum',
  'struct',
  'union',
  'alternate',
  'command',
  'event',
  'a.b',
];

type Value = string | boolean | Value[] | { [key: string]: Value };

const { value: valueArb } = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...NAMES),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...NAMES), tie('value'), { maxKeys: 3 }),
  ),
}));

function serialize(v: Value): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\')}'`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[ ${v.map(serialize).join(', ')} ]`;
  return `{ ${Object.entries(v)
    .map(([k, x]) => `${serialize(k)}: ${serialize(x)}`)
    .join(', ')} }`;
}

/** A definition from the corpus with one top-level or one member value replaced (or removed). */
function mutateDefinition(
  expr: Record<string, Value>,
  key: string,
  value: Value,
  remove: boolean,
): Value {
  const copy: Record<string, Value> = { ...expr };
  const data = copy.data;
  if (
    data &&
    typeof data === 'object' &&
    !Array.isArray(data) &&
    Object.keys(data).length > 0 &&
    key.length % 2
  ) {
    const inner: Record<string, Value> = { ...data };
    const victim = Object.keys(inner)[key.length % Object.keys(inner).length] as string;
    if (remove) inner[key] = value;
    else inner[victim] = value;
    copy.data = inner;
  } else if (remove) {
    delete copy[key];
  } else {
    copy[key] = value;
  }
  return copy;
}

describe("differential: random definitions against QEMU's Python front end", () => {
  test('same normalized expressions or error text as scripts/qapi expr.py', () => {
    const pool: Record<string, Value>[] = [];
    for (const n of corpusCases()) {
      try {
        const parsed = parseSchema(`${n}.json`, {
          readFile: (f) => readSchemaFile(join(CORPUS_DIR, f)),
        });
        for (const e of parsed.exprs)
          if (!('include' in e.expr)) pool.push(e.expr as Record<string, Value>);
      } catch {
        // cases that do not parse give no definitions
      }
    }
    const seed = Date.now() % 1_000_000;
    const cases = fc.sample(
      fc.array(
        fc.tuple(fc.constantFrom(...pool), fc.constantFrom(...NAMES), valueArb, fc.boolean()),
        { minLength: 1, maxLength: 3 },
      ),
      { numRuns: 400, seed },
    );
    const dir = mkdtempSync(join(tmpdir(), 'qapi-diff-'));
    try {
      cases.forEach((defs, i) => {
        const text = defs
          .map(([e, k, v, rm]) => serialize(mutateDefinition(e, k, v, rm)))
          .join('\n');
        writeFileSync(join(dir, `c${i}.json`), `${text}\n`);
      });
      const qemu = runQemuStage1(dir);
      let compared = 0;
      let accepted = 0;
      for (const [name, theirs] of Object.entries(qemu)) {
        if (theirs.crash) continue;
        const ours = stage1Result(dir, name) as { docs?: unknown };
        if (ours.docs) ours.docs = (theirs as { docs?: unknown }).docs; // no docs in these cases
        assert.deepEqual(
          ours,
          theirs,
          `seed ${seed}, ${name}:\n${readFileSync(join(dir, name), 'utf8')}`,
        );
        compared++;
        if (theirs.ok) accepted++;
      }
      assert.ok(compared >= 390, `only ${compared} cases compared`);
      assert.ok(accepted >= 20, `only ${accepted} cases were valid: the generator is too wild`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

function runQemuStage1(
  dir: string,
  ...files: string[]
): Record<string, { ok?: boolean; crash?: string }> {
  const script = join(ROOT, 'test/qapi/qemu_stage1.py');
  const out = execFileSync('python3', [script, QEMU_DIR, dir, ...files], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(out) as Record<string, { ok?: boolean; crash?: string }>;
}

function stage1Result(dir: string, name: string): unknown {
  try {
    const parsed = parseSchema(name, { readFile: (f) => readSchemaFile(join(dir, f)) });
    const exprs = checkExprs(parsed.exprs);
    return {
      ok: true,
      exprs: exprs.map((e) => e.expr),
      docs: parsed.docs.map((d) => [
        d.symbol,
        d.body.text,
        [...d.args].map(([a, s]) => [a, s.text]),
        [...d.features].map(([f, s]) => [f, s.text]),
        d.sections.map((s) => [s.name, s.text]),
      ]),
    };
  } catch (e) {
    if (!(e instanceof QapiError)) throw e;
    return { ok: false, err: formatError(e) };
  }
}

describe("QEMU's full schema (qapi/qapi-schema.json, 22k lines)", () => {
  test('parses and checks to the same normalized expressions and doc blocks as QEMU', () => {
    const dir = join(QEMU_DIR, 'qapi');
    assert.ok(existsSync(join(dir, 'qapi-schema.json')), 'run `bash scripts/setup.sh --test`');
    const theirs = runQemuStage1(dir, 'qapi-schema.json')['qapi-schema.json'];
    const ours = stage1Result(dir, 'qapi-schema.json') as { ok: boolean; exprs: unknown[] };
    assert.equal(ours.ok, true);
    assert.ok(ours.exprs.length > 900, `only ${ours.exprs.length} expressions`);
    assert.deepEqual(ours, theirs);
  });
});
