/**
 * Private instances of the fleet's real services, for `memfail demo --fleet`,
 * the tests and the benchmarks: nats-server with JetStream and PostgreSQL 15,
 * each in its own temporary directory on a free port, stopped (and
 * restartable, same port and data) by the caller. PostgreSQL refuses to run
 * as root: as root the cluster belongs to the system user `memfail-pg`
 * (created when absent). Never for production: trust auth on loopback.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_USER = 'memfail-pg';

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, limitMs = 20_000) {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    import('node:net').then(({ connect }) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  });
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGTERM and wait; the store dir is kept for start(). */
  stop(): Promise<void>;
  /** Starts again on the same port and store dir. */
  start(): Promise<void>;
  /** Stops and removes the directory. */
  dispose(): Promise<void>;
}

/** `port`: a port chosen beforehand (freePort()), e.g. to start NATS after its clients. */
export async function startNats(
  extraArgs: readonly string[] = [],
  port?: number,
): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'memfail-nats-'));
  port ??= await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    const proc = spawn(
      'nats-server',
      ['-js', '-sd', dir, '-p', String(port), '-a', '127.0.0.1', ...extraArgs],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const failed = new Promise<never>((_, reject) => {
      proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
      proc.once('error', (err) =>
        reject(new Error(`cannot run nats-server (${err.message}); scripts/setup.sh installs it`)),
      );
    });
    child = proc;
    // A test runner that kills its file mid-test still ends the server.
    const onExit = () => proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.once('exit', () => process.off('exit', onExit));
    await Promise.race([
      waitFor(async () => log.includes('Server is ready'), 'nats-server to be ready'),
      failed,
    ]);
    failed.catch(() => {});
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PostgresServer {
  /** postgres://memfail@127.0.0.1:PORT/memfail */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** pg_ctl stop -m fast (the data directory is kept). */
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

function runAsIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    execFileSync('id', ['-u', PG_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/false', PG_USER]);
  }
  const uid = Number(execFileSync('id', ['-u', PG_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', PG_USER]).toString().trim());
  return { uid, gid };
}

function pgRun(ids: { uid: number; gid: number } | null, bin: string, args: readonly string[]) {
  execFileSync(join(PG_BIN, bin), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(ids ?? {}),
    env: { ...process.env, LC_ALL: 'C' },
  });
}

/**
 * A fresh cluster with a `memfail` superuser (trust auth on loopback) and a
 * `memfail` database. `settings` are extra `-c name=value` server settings.
 */
export async function startPostgres(settings: readonly string[] = []): Promise<PostgresServer> {
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`PostgreSQL 15 not found in ${PG_BIN}`);
  const ids = runAsIds();
  const root = mkdtempSync(join(tmpdir(), 'memfail-pg-'));
  if (ids) chownSync(root, ids.uid, ids.gid);
  const data = join(root, 'data');
  const port = await freePort();
  pgRun(ids, 'initdb', ['-D', data, '-U', 'memfail', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = [`-p ${port}`, `-k ${root}`, "-c listen_addresses='127.0.0.1'"]
    .concat(settings.map((s) => `-c ${s}`))
    .join(' ');
  const onExit = () => {
    try {
      pgRun(ids, 'pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    } catch {}
  };
  process.once('exit', onExit);
  const start = async () => {
    pgRun(ids, 'pg_ctl', ['-D', data, '-o', options, '-l', join(root, 'log'), '-w', 'start']);
    await waitFor(() => portOpen(port), 'PostgreSQL to listen');
  };
  const stop = async () => {
    if (!existsSync(join(data, 'postmaster.pid'))) return;
    pgRun(ids, 'pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  };
  await start();
  pgRun(ids, 'createdb', ['-h', root, '-p', String(port), '-U', 'memfail', 'memfail']);
  return {
    url: `postgres://memfail@127.0.0.1:${port}/memfail`,
    port,
    dir: root,
    stop,
    start,
    dispose: async () => {
      await stop();
      process.off('exit', onExit);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
