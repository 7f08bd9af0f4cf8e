/**
 * Where the database lives when `--db` is not given, by platform convention:
 * Linux and other Unixes follow the XDG base directories (state, not data:
 * it is a record the agent keeps, not a document the user made).
 */
import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

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
