/**
 * Entry points for loading a schema file from disk with the limits a tool
 * facing arbitrary input needs: oversized files, invalid UTF-8 and runaway
 * nesting become QapiErrors instead of crashes.
 */
import { readFileSync, statSync } from 'node:fs';
import { formatError, QapiError } from './error.js';
import { readFailure, strictUtf8 } from './files.js';
import { type LoadOptions, QapiSchema } from './schema.js';

/** Larger than any real schema file (QEMU's biggest module is ~300 KiB). */
export const MAX_SCHEMA_FILE_BYTES = 32 * 1024 * 1024;

/** One error of a schema check, as `memfail schema check --json` reports it. */
export interface QapiErrorInfo {
  /** The file the error is in (may be an included file); null when unknown. */
  readonly file: string | null;
  readonly line: number | null;
  readonly col: number | null;
  /** QEMU's message (may span lines, e.g. "... is already defined\n...: previous definition"). */
  readonly message: string;
  /** The full text QEMU prints: context lines, then `FILE:LINE[:COL]: message`. */
  readonly text: string;
}

export interface SchemaCheckResult {
  readonly ok: boolean;
  readonly errors: QapiErrorInfo[];
}

/** Parse and check `fname` with everything it includes; throws QapiError. */
export function loadSchema(fname: string, options: LoadOptions = {}): QapiSchema {
  const readFile = options.readFile ?? readSchemaText;
  try {
    return new QapiSchema(fname, { readFile });
  } catch (err) {
    throw asQapiError(fname, err);
  }
}

/** Check one schema file; never throws for bad input, returns its errors instead. */
export function checkSchemaFile(fname: string, options: LoadOptions = {}): SchemaCheckResult {
  try {
    loadSchema(fname, options);
    return { ok: true, errors: [] };
  } catch (err) {
    return { ok: false, errors: [errorInfo(fname, asQapiError(fname, err))] };
  }
}

/** Read a schema file as strict UTF-8 within the size limit; throws NodeJS-style errors. */
export function readSchemaText(path: string): string {
  const stat = statSync(path);
  // Devices and pipes (/dev/zero, a FIFO) could be read forever.
  if (!stat.isFile() && !stat.isDirectory()) throw new SchemaReadError('not a regular file');
  const size = stat.size;
  if (size > MAX_SCHEMA_FILE_BYTES) {
    throw new SchemaReadError(`file too large (${size} bytes, limit ${MAX_SCHEMA_FILE_BYTES})`);
  }
  const bytes = readFileSync(path);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new SchemaReadError('not valid UTF-8 text');
  }
}

/** A file that exists but cannot be a schema (too large, not text). */
export class SchemaReadError extends Error {
  override name = 'SchemaReadError';
}

function asQapiError(fname: string, err: unknown): QapiError {
  if (err instanceof QapiError) return err;
  if (err instanceof RangeError) {
    // Deeply nested input exhausts the stack of the recursive parser.
    return new QapiError(
      null,
      `schema file '${fname}' is nested too deeply to check (e.g. a very long chain of base types)`,
    );
  }
  if (err instanceof SchemaReadError || (err instanceof Error && 'code' in err)) {
    return new QapiError(null, `can't read schema file '${fname}': ${readFailure(err)}`);
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new QapiError(null, `internal error while checking '${fname}': ${detail}`);
}

function errorInfo(fname: string, e: QapiError): QapiErrorInfo {
  const file = e.info?.fname ?? fname;
  return {
    file,
    line: e.info?.line ?? null,
    col: e.col ?? null,
    message: e.message,
    // Errors without a position name their file in the message, as QEMU's do.
    text: formatError(e),
  };
}
