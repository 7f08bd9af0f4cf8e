/** Runs `node bin/memfail.js ...` as a child process, as a user would. */
import { fileURLToPath } from 'node:url';
import { type Child, start } from '../support/child.js';

export type { Child } from '../support/child.js';
// Other rooms' tests import until from here too.
export { until } from '../support/wait.js';

export const BIN = fileURLToPath(new URL('../../../bin/memfail.js', import.meta.url));

export function memfail(args: readonly string[]): Child {
  return start(process.execPath, [BIN, ...args]);
}
