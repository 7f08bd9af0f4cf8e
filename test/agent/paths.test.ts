import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultDbPath } from '../../src/agent/paths.js';

test('Linux follows XDG_STATE_HOME, falling back to ~/.local/state', () => {
  assert.equal(
    defaultDbPath({ platform: 'linux', env: { XDG_STATE_HOME: '/s' }, home: '/home/u' }),
    '/s/memfail/events.db',
  );
  assert.equal(
    defaultDbPath({ platform: 'linux', env: {}, home: '/home/u' }),
    '/home/u/.local/state/memfail/events.db',
  );
  // A relative XDG_STATE_HOME is invalid by the spec and ignored.
  assert.equal(
    defaultDbPath({ platform: 'linux', env: { XDG_STATE_HOME: 'rel' }, home: '/home/u' }),
    '/home/u/.local/state/memfail/events.db',
  );
});

test('macOS uses Application Support, Windows LOCALAPPDATA', () => {
  assert.equal(
    defaultDbPath({ platform: 'darwin', env: {}, home: '/Users/u' }),
    '/Users/u/Library/Application Support/memfail/events.db',
  );
  assert.equal(
    defaultDbPath({
      platform: 'win32',
      env: { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' },
      home: 'C:\\Users\\u',
    }),
    'C:\\Users\\u\\AppData\\Local\\memfail\\events.db',
  );
});
