// Parses inline schema text as virtual files, for pinning QEMU's messages.
import { formatError, QapiError } from '../../src/qapi/error.js';
import { checkExprs } from '../../src/qapi/expr.js';
import { loadSchema } from '../../src/qapi/load.js';
import { type ParsedSchema, parseSchema } from '../../src/qapi/parser.js';
import type { QapiSchema } from '../../src/qapi/schema.js';

/** Virtual files: the first one is the main schema. */
export type Files = Record<string, string>;

function reader(files: Files): (path: string) => string {
  return (path) => {
    const text = files[path];
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    }
    return text;
  };
}

export function parseFiles(files: Files): ParsedSchema {
  const main = Object.keys(files)[0] as string;
  return parseSchema(main, { readFile: reader(files) });
}

/** Parse (and by default expr-check) text as 'test.json'; the formatted error, or '' on success. */
export function errorOf(text: string | Files, check = true): string {
  const files = typeof text === 'string' ? { 'test.json': text } : text;
  try {
    const parsed = parseFiles(files);
    if (check) checkExprs(parsed.exprs);
    return '';
  } catch (e) {
    if (e instanceof QapiError) return formatError(e);
    throw e;
  }
}

/** Parse and check; returns the parse result (throws on error). */
export function checked(text: string | Files): ParsedSchema {
  const files = typeof text === 'string' ? { 'test.json': text } : text;
  const parsed = parseFiles(files);
  checkExprs(parsed.exprs);
  return parsed;
}

/** The checked model of `source` as 'test.json' (other files beside it); throws QapiError. */
export function loadModel(source: string, others: Files = {}): QapiSchema {
  return loadSchema('test.json', { readFile: reader({ 'test.json': source, ...others }) });
}

/** The formatted error of loading the model of `source`, or null when accepted. */
export function modelError(source: string, others: Files = {}): string | null {
  try {
    loadModel(source, others);
    return null;
  } catch (err) {
    if (err instanceof QapiError) return formatError(err);
    throw new Error(`not a QapiError: ${String(err)}`);
  }
}
