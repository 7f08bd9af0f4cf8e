#!/usr/bin/env node
// Regenerate the committed TypeScript in src/generated/ from our schemas
// (npm run gen), or check that it is up to date (npm run gen:check, exit 1
// listing stale files). Runs the built generator: `npm run build` first.
//
//   src/generated/runtime.ts   validator helpers shared by both schemas
//   src/generated/qemu/        from schema/qemu.json (QEMU dialect)
//   src/generated/seed/        from schema/seed.json (seed dialect)
//   src/generated/qemu-7.2/    types.ts only (committed), from QEMU 7.2's
//                              whole schema in .cache/qemu-src (fetched by
//                              scripts/fetch-qemu-source.sh, not committed):
//                              the typed command API for library users. Only
//                              the schema's facts are kept (names, types,
//                              @since), none of QEMU's doc text.
//
// Until schema/qemu.json and schema/seed.json exist, the dialect files
// schema/memory-failure-{qemu,seed}.json are used instead (a note says so).
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const codegenPath = join(root, 'dist/src/codegen/index.js');
if (!existsSync(codegenPath)) {
  console.error('gen: dist/src/codegen/index.js is missing; run `npm run build` first');
  process.exit(1);
}
const { generateFromFile, runtimeSource, staleFiles, writeGenerated } = await import(codegenPath);

const targets = [
  {
    dir: 'src/generated/qemu',
    schema: 'schema/qemu.json',
    fallback: 'schema/memory-failure-qemu.json',
  },
  {
    dir: 'src/generated/seed',
    schema: 'schema/seed.json',
    fallback: 'schema/memory-failure-seed.json',
  },
];

// QEMU's schema is not in the repository: generating or checking its types
// needs the fetched source, and says so rather than skipping.
const QEMU_SCHEMA = '.cache/qemu-src/qemu-7.2.0/qapi/qapi-schema.json';
if (!existsSync(join(root, QEMU_SCHEMA))) {
  console.error(
    `gen: ${QEMU_SCHEMA} is missing (QEMU 7.2's schema, the source of src/generated/qemu-7.2);\n` +
      'gen: fetch it with `bash scripts/fetch-qemu-source.sh` (or `bash scripts/setup.sh --test`)',
  );
  process.exit(1);
}

const outputs = [{ dir: 'src/generated', files: [{ path: 'runtime.ts', text: runtimeSource() }] }];
for (const t of targets) {
  let schema = t.schema;
  if (!existsSync(join(root, schema))) {
    console.error(`gen: note: ${t.schema} does not exist yet; using ${t.fallback}`);
    schema = t.fallback;
  }
  try {
    const files = generateFromFile(join(root, schema), {
      source: schema,
      runtimeModule: '../runtime.js',
    });
    outputs.push({ dir: t.dir, files });
  } catch (err) {
    console.error(`gen: ${schema}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

try {
  const files = generateFromFile(join(root, QEMU_SCHEMA), {
    source: "QEMU 7.2's qapi/qapi-schema.json",
    runtimeModule: '../runtime.js',
    prose: false,
  });
  outputs.push({
    dir: 'src/generated/qemu-7.2',
    files: files.filter((f) => f.path === 'types.ts'),
  });
} catch (err) {
  console.error(`gen: ${QEMU_SCHEMA}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

let stale = 0;
for (const { dir, files } of outputs) {
  const abs = join(root, dir);
  if (check) {
    for (const path of staleFiles(abs, files)) {
      console.error(`stale: ${relative(root, path)}`);
      stale++;
    }
  } else {
    for (const path of writeGenerated(abs, files)) console.log(`wrote ${relative(root, path)}`);
  }
}
if (check) {
  if (stale) {
    console.error(
      `gen:check: ${stale} generated file(s) out of date; run \`npm run gen\` and commit`,
    );
    process.exit(1);
  }
  console.log('gen:check: src/generated is up to date');
}
