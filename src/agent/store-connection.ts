/**
 * Opening the store's SQLite file (WAL mode) and bringing its schema to the
 * last migration; the errors that say why a file cannot be used.
 *
 * Durability: `synchronous=NORMAL` in WAL mode syncs the log only at
 * checkpoints, so a committed transaction survives the agent being killed at
 * any moment (the OS holds the written pages) but the last transactions before
 * a power loss or kernel crash may roll back. `durability: 'full'` syncs every
 * commit; bench/agent-ingest.mjs measures what that costs.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.js';
import { createPrivately } from './paths.js';

export type StoreErrorCode =
  | 'missing'
  | 'corrupt'
  | 'not-memfail'
  | 'newer-schema'
  | 'older-schema'
  | 'unwritable';

/** Why a database could not be used; the message says what to do. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** SQLite said busy (another connection held a lock it could not wait for). */
    readonly busy = false,
  ) {
    super(message);
  }
}

export type Durability = 'normal' | 'full';

export interface OpenOptions {
  /** Fail with `missing` instead of creating the file (read-side commands). */
  readonly mustExist?: boolean;
  readonly durability?: Durability;
}

/**
 * Opens (creating unless `mustExist`) and migrates the database at `path`.
 * Throws StoreError when the file is missing, not a database, or newer.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database.Database {
  if (options.mustExist && !existsSync(path)) {
    throw new StoreError('missing', `no database at ${path} (has \`memfail watch\` run?)`);
  }
  // Several processes opening one new file at once can meet SQLITE_BUSY
  // that no busy handler waited for (seen once under load in CI: "database is
  // locked" 0.4 s into a 6-process race on a new file, well inside the busy
  // timeout): open again, a few times, briefly.
  // A busy error after a long wait is a real lock holder: reported, not retried.
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    try {
      return openOnce(path, options);
    } catch (err) {
      const quick = performance.now() - started < QUICK_BUSY_MS;
      const busy = err instanceof StoreError && err.busy && quick;
      if (!busy || attempt >= OPEN_ATTEMPTS) throw err;
      Atomics.wait(SLEEPER, 0, 0, 20 * attempt);
    }
  }
}

/** Tries before a busy database is reported: under 1 s of waiting in all. */
const OPEN_ATTEMPTS = 10;
/** A busy error sooner than this came without the busy timeout's wait. */
const QUICK_BUSY_MS = 1000;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function openOnce(path: string, options: OpenOptions): Database.Database {
  let db: Database.Database;
  try {
    if (!options.mustExist) createPrivately(path);
    db = new Database(path, { fileMustExist: true });
  } catch (err) {
    throw new StoreError('unwritable', `cannot open database ${path}: ${errorText(err)}`);
  }
  try {
    // Another program's SQLite file is not ours to migrate into.
    if (
      (db.pragma('user_version', { simple: true }) as number) === 0 &&
      (db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number) > 0
    ) {
      throw notMemfail(path);
    }
    // A busy wait rather than SQLITE_BUSY when a reader and the watcher meet.
    db.pragma('busy_timeout = 5000');
    // 16 KiB pages: fewer pages, so fewer WAL frames per commit, for rows that
    // carry their raw message. Takes effect only on a new, empty file (before WAL).
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    // A larger page cache keeps the indexes' hot pages in memory during bursts.
    db.pragma('cache_size = -32768');
    // Checkpoint (copy the WAL into the file, the only step that fsyncs with
    // synchronous=NORMAL) every ~32 MiB of WAL rather than every 4 MiB, and
    // truncate the WAL back to 64 MiB at most afterwards.
    db.pragma('wal_autocheckpoint = 2000');
    db.pragma('journal_size_limit = 67108864');
    migrate(db, path);
    db.pragma('foreign_keys = ON');
  } catch (err) {
    db.close();
    throw asStoreError(err, path);
  }
  return db;
}

/**
 * Opens an existing memfail database for reading only: nothing is written
 * to the file (no migration, no pragma that changes it). Refuses a file
 * that is not memfail's, or not at this memfail's schema version.
 */
export function openDatabaseReadOnly(path: string): Database.Database {
  if (!existsSync(path)) {
    throw new StoreError('missing', `no database at ${path} (has \`memfail watch\` run?)`);
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StoreError('unwritable', `cannot open database ${path}: ${errorText(err)}`);
  }
  try {
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = db
      .prepare(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'memory_failure'",
      )
      .pluck()
      .get() as number;
    if (version === 0 || tables === 0) throw notMemfail(path);
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    if (version > latest) {
      throw new StoreError(
        'newer-schema',
        `${path} has schema version ${version}, newer than this memfail understands (${latest}); upgrade memfail`,
      );
    }
    if (version < latest) {
      throw new StoreError(
        'older-schema',
        `${path} has schema version ${version}, older than this memfail's (${latest}); ` +
          'read commands never write to it: run `memfail watch` on it once to upgrade it',
      );
    }
  } catch (err) {
    db.close();
    throw asStoreError(err, path);
  }
  return db;
}

/**
 * Brings `db` to the last of `migrations`, each in its own transaction with
 * its `user_version` bump: a migration that fails leaves the previous version.
 */
export function migrate(
  db: Database.Database,
  path: string,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new StoreError(
      'newer-schema',
      `${path} has schema version ${current}, newer than this memfail understands (${latest}); upgrade memfail`,
    );
  }
  // A migration may rebuild a table others refer to: keys are checked once it
  // is done, not statement by statement (the pragma is a no-op inside a transaction).
  const keys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.transaction(() => {
        // Another process may have run it since `current` was read (two opening
        // a new file at once): look again, now that this one holds the write lock.
        if ((db.pragma('user_version', { simple: true }) as number) >= migration.version) return;
        db.exec(migration.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) {
          throw new Error(`migration ${migration.version} broke ${broken.length} foreign keys`);
        }
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  } finally {
    db.pragma(`foreign_keys = ${keys ? 'ON' : 'OFF'}`);
  }
}

function notMemfail(path: string): StoreError {
  return new StoreError(
    'not-memfail',
    `${path} is an SQLite database but not memfail's (no memfail tables); refusing to touch it`,
  );
}

function asStoreError(err: unknown, path: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError('corrupt', `${path} is not a memfail database (${errorText(err)})`);
  }
  const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
  return new StoreError('unwritable', `cannot use database ${path}: ${errorText(err)}`, busy);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
