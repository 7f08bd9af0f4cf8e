// Locates QEMU's QAPI test corpus (fetched source) for the conformance tests.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const QEMU_DIR = join(ROOT, '.cache/qemu-src/qemu-7.2.0');
export const CORPUS_DIR = join(QEMU_DIR, 'tests/qapi-schema');

/** Test case names (without .json) in meson.build order, without duplicates. */
export function corpusCases(): string[] {
  const meson = join(CORPUS_DIR, 'meson.build');
  if (!existsSync(meson)) {
    throw new Error(
      `QEMU's QAPI test corpus is missing at ${CORPUS_DIR}: run \`bash scripts/setup.sh --test\``,
    );
  }
  const text = readFileSync(meson, 'utf8');
  return [...new Set([...text.matchAll(/'([^']+)\.json'/g)].map((m) => m[1] as string))];
}

export function corpusFile(name: string): string {
  return readFileSync(join(CORPUS_DIR, name), 'utf8');
}
