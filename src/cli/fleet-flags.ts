/** Flag helpers of the fleet commands, in a leaf module: the lazily loaded command modules import them without a cycle. */
import { UsageError } from './io.js';

/** --pg, else $MEMFAIL_PG_URL unless --db was given. */
export function pgUrl(opts: { pg?: string; db?: string }): string | undefined {
  if (opts.pg !== undefined) return opts.pg;
  return opts.db === undefined ? process.env.MEMFAIL_PG_URL || undefined : undefined;
}

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} '${text}' is not a positive integer`);
  return n;
}
