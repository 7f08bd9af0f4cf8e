import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { QapiDoc } from '../../src/qapi/doc.js';
import { formatError, QapiError } from '../../src/qapi/error.js';
import { checkExprs } from '../../src/qapi/expr.js';
import { parseSchema, readSchemaFile } from '../../src/qapi/parser.js';
import { CORPUS_DIR, corpusCases, corpusFile } from './corpus.js';

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
