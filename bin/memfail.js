#!/usr/bin/env node
const argv = process.argv.slice(2);

// `memfail schema check FILE...` runs on every save in editors and CI: with
// plain arguments it skips loading the whole command line (commander and every
// command group), about a tenth of its run time. Anything else goes to main().
const check = argv[0] === 'schema' && argv[1] === 'check';
if (check) {
  // A check is one short burst of branchy code: V8's optimizing compiler
  // would spend more time compiling (and deoptimizing) than it saves before
  // the process exits; without it the whole check takes about a third less
  // CPU (bench/qapi-check.mjs). Long-running commands keep the optimizer.
  (await import('node:v8')).setFlagsFromString('--no-opt');
}
const fast = check
  ? (await import('../dist/src/cli/schema-check.js')).fastSchemaCheck(argv.slice(2))
  : null;

if (fast !== null) {
  process.exitCode = fast;
} else {
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
