#!/usr/bin/env node
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const argv = process.argv.slice(2);

// The schema commands (check, gen, introspect) build one schema and exit: in
// such a short, branchy run V8's optimizing compiler costs more CPU than it
// saves (BENCHMARKS.md, "No TurboFan for the schema commands"). Set here, for
// this process only; the library never touches V8's flags.
if (argv[0] === 'schema') setFlagsFromString('--no-opt');

// A reader that goes away early (`memfail events | head`) is not an error.
let stdoutGuarded = false;
function guardStdout() {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    // A full disk or a broken terminal: one line, no stack trace.
    process.stderr.write(`memfail: cannot write to standard output (${err.code ?? err.message})\n`);
    process.exit(1);
  });
}

// `memfail schema check FILE...` runs on every save in editors and CI: with
// plain arguments it skips loading the whole command line (commander and every
// command group), about a tenth of its run time. Anything else goes to main().
const check = argv[0] === 'schema' && argv[1] === 'check';
// Creating process.stdout costs a few ms (more on a pipe); a plain check only
// writes to it with --json.
if (!check || argv.includes('--json')) guardStdout();
const fast = check ? (await import(await checkModule())).fastSchemaCheck(argv.slice(2)) : null;

if (fast === 0 && !argv.includes('--json')) {
  // Nothing was written, nothing is pending: exit now rather than let node
  // drain the tasks V8 queued meanwhile (a last garbage collection among
  // them), some 15-20 ms of a check that takes a few hundred.
  process.exit(0);
} else if (fast !== null) {
  process.exitCode = fast;
} else {
  guardStdout();
  const { main } = await import('../dist/src/cli/main.js');
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`memfail: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * The module with the check: dist/src/check-bundle.mjs, the same code as one
 * module (scripts/bundle-check.mjs; some 30 ms less module loading), while
 * every module it was made from is unchanged since; otherwise the modules.
 */
async function checkModule() {
  return (await fresh('src/check-bundle.json', 'src/check-bundle.mjs'))
    ? '../dist/src/check-bundle.mjs'
    : '../dist/src/cli/schema-check.js';
}

/**
 * Whether the bundle a manifest describes is there and was made from the
 * modules as they are: each the same size and mtime, or else (an npm install
 * sets every file's mtime to 1985) the same size and SHA-256.
 */
async function fresh(manifest, bundle) {
  // Paths as strings: each stat a little cheaper than with a URL.
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  try {
    const { inputs } = JSON.parse(readFileSync(dist + manifest, 'utf8'));
    if (inputs.length === 0) return false;
    const stats = inputs.map(([file]) => statSync(dist + file, { throwIfNoEntry: false }));
    if (!inputs.every(([, size], i) => stats[i]?.size === size)) return false;
    if (!inputs.every(([, , mtimeMs], i) => stats[i].mtimeMs === mtimeMs)) {
      const { createHash } = await import('node:crypto');
      const hash = (file) =>
        createHash('sha256')
          .update(readFileSync(dist + file))
          .digest('hex');
      if (!inputs.every(([file, , , sha256]) => hash(file) === sha256)) return false;
    }
    return statSync(dist + bundle, { throwIfNoEntry: false }) !== undefined; // still there
  } catch {
    // No manifest (no bundle made), or one that does not parse: use the modules.
  }
  return false;
}
