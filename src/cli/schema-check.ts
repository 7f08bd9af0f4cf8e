/** `memfail schema check`: the action, loaded only when the command runs. */
import { checkSchemaFile } from '../qapi/load.js';
import { type Io, processIo } from './io.js';

/** Check each file as its own schema; returns the exit code (0 all valid, 1 otherwise). */
export function runSchemaCheck(
  files: readonly string[],
  options: { json: boolean },
  io: Io,
): number {
  const results = files.map((file) => ({ file, ...checkSchemaFile(file) }));
  for (const r of results) {
    for (const e of r.errors) io.stderr(`${e.text}\n`);
  }
  if (options.json) {
    const report = results.map((r) => ({
      file: r.file,
      ok: r.ok,
      errors: r.errors.map((e) => ({ file: e.file, line: e.line, col: e.col, message: e.message })),
    }));
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

/**
 * `schema check` without building the command line (see bin/memfail.js):
 * handles only plain arguments, file names and `--json`, and returns null for
 * anything else (help, `--`, unknown options, no files) so that main() gives
 * the usual usage handling.
 */
export function fastSchemaCheck(args: readonly string[]): number | null {
  const files = args.filter((a) => a !== '--json');
  if (files.length === 0 || files.some((f) => f.startsWith('-'))) return null;
  return runSchemaCheck(files, { json: files.length !== args.length }, processIo);
}
