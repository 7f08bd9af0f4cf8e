/** `memfail schema check`: the action, loaded only when the command runs. */
import { checkSchemaFile } from '../qapi/load.js';
import type { Io } from './io.js';

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
