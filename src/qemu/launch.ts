/**
 * Starts a real qemu-system-x86_64 (TCG, no display, 64 MiB) booting one of
 * our boot sectors from a floppy image, with one or more QMP unix sockets.
 *
 *   const vm = await launchQemu({ bootSector: mceBootSector(), noReboot: true, qmpSockets: 2 });
 *   const client = new QmpClient();
 *   await client.connect(vm.qmp[0]);
 *   ...
 *   await vm.kill();   // SIGKILL if still running, waits, removes the temp dir
 *
 * A QMP socket serves one client at a time: ask for one socket per client.
 * findQemu() fails with a clear QemuNotFoundError when QEMU is not installed.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type UnixAddress, unixAddress } from '../qmp/address.js';
import { mceBootSector } from './bootsector.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
/** A 1.44 MB floppy: QEMU picks the geometry from the image size. */
const FLOPPY_BYTES = 1_474_560;

export class QemuNotFoundError extends Error {
  override readonly name = 'QemuNotFoundError';
  constructor() {
    super(
      `${QEMU_BINARY} was not found on PATH. Install it with \`bash scripts/setup.sh --test\` ` +
        '(Debian package qemu-system-x86).',
    );
  }
}

export class QemuStartError extends Error {
  override readonly name = 'QemuStartError';
}

/** The path of qemu-system-x86_64 (MEMFAIL_QEMU overrides the PATH search). */
export function findQemu(): string {
  const override = process.env.MEMFAIL_QEMU;
  if (override) {
    if (!existsSync(override)) throw new QemuNotFoundError();
    return override;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, QEMU_BINARY);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new QemuNotFoundError();
}

export interface LaunchOptions {
  /** 512 bytes to boot (default: the MCE guest). */
  readonly bootSector?: Buffer;
  /** How many QMP sockets (default 1). */
  readonly qmpSockets?: number;
  /** Exit instead of rebooting (guest reset → SHUTDOWN event → QEMU exits). */
  readonly noReboot?: boolean;
  /** Start with the vCPU stopped (-S). */
  readonly paused?: boolean;
  /** How many vCPUs (-smp N, default 1): broadcast injections need more than one. */
  readonly vcpus?: number;
  readonly extraArgs?: readonly string[];
  /** How long to wait for the QMP sockets (default 20 s). */
  readonly startTimeoutMs?: number;
}

export interface QemuExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface QemuHandle {
  readonly qmp: readonly UnixAddress[];
  readonly process: ChildProcess;
  /** Resolves when QEMU has exited (and its temp dir is removed). */
  readonly exited: Promise<QemuExit>;
  /** What QEMU wrote to stderr so far. */
  stderr(): string;
  /** Kills QEMU if still running and waits for it. */
  kill(): Promise<QemuExit>;
}

export async function launchQemu(options: LaunchOptions = {}): Promise<QemuHandle> {
  const vcpus = options.vcpus ?? 1;
  if (!Number.isInteger(vcpus) || vcpus < 1) {
    throw new RangeError(`vcpus must be a positive integer, not ${vcpus}`);
  }
  const binary = findQemu();
  const dir = await mkdtemp(join(tmpdir(), 'memfail-qemu-'));
  const image = join(dir, 'boot.img');
  await writeFile(image, options.bootSector ?? mceBootSector());
  await truncate(image, FLOPPY_BYTES);
  const count = options.qmpSockets ?? 1;
  const qmp = Array.from({ length: count }, (_, i) => unixAddress(join(dir, `qmp${i}.sock`)));
  const child = spawn(binary, qemuArgs(options, vcpus, image, qmp), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const run = watch(child, dir);
  await untilListening(run, qmp, binary, dir, options.startTimeoutMs ?? 20_000);
  return {
    qmp,
    process: child,
    exited: run.exited,
    stderr: run.stderr,
    async kill() {
      if (run.alive()) child.kill('SIGKILL');
      return run.exited;
    },
  };
}

function qemuArgs(
  options: LaunchOptions,
  vcpus: number,
  image: string,
  qmp: readonly UnixAddress[],
): string[] {
  return [
    '-machine', 'pc', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config',
    '-m', '64', '-smp', String(vcpus), '-drive', `file=${image},format=raw,if=floppy`,
    ...qmp.flatMap((a) => ['-qmp', `unix:${a.path},server=on,wait=off`]),
    ...(options.noReboot ? ['-no-reboot'] : []),
    ...(options.paused ? ['-S'] : []),
    ...(options.extraArgs ?? []),
  ]; // biome-ignore format: one flag per pair reads better than one per line
}

/** A started QEMU process as seen from here: its exit, stderr so far, and a failure to spawn. */
interface Watched {
  readonly child: ChildProcess;
  readonly exited: Promise<QemuExit>;
  readonly spawnError: Promise<Error>;
  stderr(): string;
  alive(): boolean;
}

/** Follows the child's stderr and exit; its temp dir goes once it has exited. */
function watch(child: ChildProcess, dir: string): Watched {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<QemuExit>((resolve) => {
    child.once('exit', (code, signal) => {
      void rm(dir, { recursive: true, force: true }).finally(() => resolve({ code, signal }));
    });
  });
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  return { child, exited, spawnError, stderr: () => stderr, alive: () => alive };
}

/** Waits until every QMP socket listens (QEMU sets them up before running the guest). */
async function untilListening(
  run: Watched,
  qmp: readonly UnixAddress[],
  binary: string,
  dir: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (qmp.every((a) => existsSync(a.path)) && (await listening(qmp.map((a) => a.path)))) return;
    const early = await Promise.race([
      run.spawnError,
      run.exited.then(
        (e) =>
          new QemuStartError(
            `QEMU exited during start-up (${e.code ?? e.signal}): ${run.stderr().trim()}`,
          ),
      ),
      new Promise<null>((r) => setTimeout(() => r(null), 10)),
    ]);
    if (early !== null) {
      await rm(dir, { recursive: true, force: true });
      throw early instanceof QemuStartError
        ? early
        : new QemuStartError(`cannot run ${binary}: ${early.message}`);
    }
    if (Date.now() > deadline) {
      run.child.kill('SIGKILL');
      await run.exited;
      throw new QemuStartError(
        `QEMU did not create its QMP sockets in time: ${run.stderr().trim()}`,
      );
    }
  }
}

/** Listening unix sockets carry __SO_ACCEPTCON in the Flags column of /proc/net/unix. */
const SO_ACCEPTCON = 0x10000;

/**
 * Whether every path is a listening unix socket. QEMU binds (the file
 * appears) a moment before it listens; a connect in between is refused. Where
 * /proc/net/unix cannot be read, the file's existence has to do.
 */
async function listening(paths: readonly string[]): Promise<boolean> {
  let table: string;
  try {
    table = await readFile('/proc/net/unix', 'utf8');
  } catch {
    return true;
  }
  const listeners = new Set<string>();
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const flags = Number.parseInt(fields[3] ?? '', 16);
    const path = fields[7];
    if (path !== undefined && (flags & SO_ACCEPTCON) !== 0) listeners.add(path);
  }
  return paths.every((p) => listeners.has(p));
}
