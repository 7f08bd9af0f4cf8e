/**
 * Where the database lives when `--db` is not given, by platform convention:
 * Linux and other Unixes follow the XDG base directories (state, not data:
 * it is a record the agent keeps, not a document the user made).
 */
import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, posix, win32 } from 'node:path';

export interface PathEnvironment {
  readonly platform: NodeJS.Platform;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
}

const DB_FILE = 'events.db';

export function defaultDbPath(
  where: PathEnvironment = { platform: process.platform, env: process.env, home: homedir() },
): string {
  const { platform, env, home } = where;
  if (platform === 'win32') {
    const base = nonEmpty(env.LOCALAPPDATA) ?? win32.join(home, 'AppData', 'Local');
    return win32.join(base, 'memfail', DB_FILE);
  }
  if (platform === 'darwin') {
    return posix.join(home, 'Library', 'Application Support', 'memfail', DB_FILE);
  }
  // XDG: a relative XDG_STATE_HOME is invalid and must be ignored.
  const state = nonEmpty(env.XDG_STATE_HOME);
  const base = state?.startsWith('/') ? state : posix.join(home, '.local', 'state');
  return posix.join(base, 'memfail', DB_FILE);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Creates the database file (if missing) 0600 and the directories leading to
 * it (those missing) 0700, whatever the umask: the record names VMs and what
 * happened to them. Files and directories that exist are left as they are.
 * (SQLite creates -wal and -shm with the database file's mode.)
 */
export function createPrivately(path: string): void {
  const missing: string[] = [];
  for (let dir = dirname(path); !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
      continue;
    }
    // mkdir's mode passes through the umask; this does not.
    chmodSync(dir, 0o700);
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EEXIST') return;
    throw err;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}
