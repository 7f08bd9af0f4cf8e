/**
 * An agent's store for a command: opened read-only (or, with `write`, for
 * writing, never created), or null after saying why on stderr (the command
 * then exits 1). Kept out of io.ts so that commands that need no database
 * (schema check's fast path) do not load SQLite.
 */
import { defaultDbPath } from '../agent/paths.js';
import { Store, StoreError } from '../agent/store.js';
import type { Io } from './io.js';

export function openStoreFor(db: string | undefined, io: Io, write = false): Store | null {
  const path = db ?? defaultDbPath();
  try {
    return write ? Store.open(path, { mustExist: true }) : Store.openReadOnly(path);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return null;
  }
}
