/**
 * deploy/memfail.service: the keys a host service needs (sandboxing, state
 * directory, restart policy), an ExecStart that the memfail CLI accepts and
 * whose paths lie in the directories systemd makes for it, and, when
 * systemd-analyze is installed, `systemd-analyze verify`. Without it the
 * checks below still run (systemd is not installed on the test machines).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, memfail, until } from '../agent/child.js';

const UNIT = fileURLToPath(new URL('../../../deploy/memfail.service', import.meta.url));

type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit syntax as far as this file uses it: sections, KEY=VALUE, comments, repeated keys. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] as string, section);
      return;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && section, `line ${i + 1} is not KEY=VALUE inside a section: ${raw}`);
    const values = section.get(kv[1] as string) ?? [];
    values.push(kv[2] as string);
    section.set(kv[1] as string, values);
  });
  return unit;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string) => {
  const v = service.get(key);
  assert.ok(v && v.length === 1, `[Service] ${key} is set exactly once`);
  return v[0] as string;
};

test('the unit has its sections and the sandboxing, state and restart keys', () => {
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
  const expected: Record<string, string> = {
    Type: 'simple',
    Restart: 'on-failure',
    StateDirectory: 'memfail',
    RuntimeDirectory: 'memfail',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    NoNewPrivileges: 'yes',
    KillSignal: 'SIGTERM',
    CapabilityBoundingSet: '',
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(one(key), value, key);
});

test("ExecStart's paths are inside the directories systemd creates and may be written", () => {
  const argv = one('ExecStart').split(/\s+/);
  assert.match(argv[0] ?? '', /^\/.*\/memfail$/, 'an absolute path to memfail');
  assert.equal(argv[1], 'watch');
  const db = argv[argv.indexOf('--db') + 1] ?? '';
  assert.ok(
    db.startsWith(`/var/lib/${one('StateDirectory')}/`),
    `--db ${db} in the StateDirectory`,
  );
  const accept = argv[argv.indexOf('--accept') + 1] ?? '';
  assert.ok(
    accept.startsWith(`unix:/run/${one('RuntimeDirectory')}/`),
    `--accept ${accept} in the RuntimeDirectory`,
  );
  // ProtectSystem=strict leaves libvirtd's socket directory readable; connecting needs it listed writable.
  assert.ok(service.get('ReadWritePaths')?.some((p) => p.replace(/^-/, '') === '/run/libvirt'));
});

test("memfail accepts ExecStart's arguments and stops cleanly on the unit's KillSignal", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memfail-unit-'));
  try {
    const args = one('ExecStart').split(/\s+/).slice(1);
    // Same flags, paths moved into a temp dir; libvirtd need not run (the watch waits for it).
    const local = args.map((a) =>
      a.startsWith('/var/lib/memfail/')
        ? join(dir, 'events.db')
        : a.startsWith('unix:/run/memfail/')
          ? `unix:${join(dir, 'qmp.sock')}`
          : a === 'qemu:///system'
            ? `qemu:///system?socket=${join(dir, 'no-libvirtd')}`
            : a,
    );
    const child = memfail(local);
    await until(() => /listening on unix:/.test(child.stderr()), 'the agent running', 20_000);
    child.process.kill(one('KillSignal') as NodeJS.Signals);
    assert.equal(await child.exited, 0, child.stderr());
    // journald: plain lines, no colour codes.
    assert.doesNotMatch(child.stderr(), /\x1b\[/);
    assert.ok(
      child
        .stderr()
        .split('\n')
        .every((l) => l === '' || l.startsWith('memfail watch: ')),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd-analyze verify accepts the unit (when systemd-analyze is installed)', (t) => {
  const found = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
  if (!found) {
    // Not a skip: the tests above checked the keys themselves.
    t.diagnostic('systemd-analyze not installed; the unit was checked key by key above');
    assert.ok(existsSync(UNIT));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'memfail-unit-'));
  try {
    // verify also checks that ExecStart exists: point it at this checkout's memfail.
    const text = readFileSync(UNIT, 'utf8').replace(
      '/usr/local/bin/memfail',
      `${process.execPath} ${BIN}`,
    );
    const path = join(dir, 'memfail.service');
    writeFileSync(path, text);
    execFileSync('systemd-analyze', ['verify', path], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
