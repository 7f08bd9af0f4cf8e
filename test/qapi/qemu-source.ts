/** Where tests find the fetched QEMU 7.2 source; missing source fails the test with a fix. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/<area>/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const QEMU_SRC = `${REPO_ROOT}.cache/qemu-src/qemu-7.2.0`;

export function requireQemuSource(sub: string): string {
  const path = `${QEMU_SRC}/${sub}`;
  assert.ok(
    existsSync(path),
    `QEMU 7.2 source missing (${path}): run \`bash scripts/setup.sh --test\``,
  );
  return path;
}
