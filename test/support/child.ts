/** Child processes in tests: output captured, exit awaited, nothing left running. */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

export interface Child {
  readonly process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Exit code (or the signal's name) once it ended. */
  readonly exited: Promise<number | string>;
}

/** Starts `command args` with stdout and stderr captured (stdin closed). */
export function start(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'stdio'> = {},
): Child {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return { process: child, stdout: () => out, stderr: () => err, exited };
}

export interface Ran {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command args` to its end. */
export async function run(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'stdio'> = {},
): Promise<Ran> {
  const child = start(command, args, options);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Kills a child that is still running (SIGKILL) and waits for it. */
export async function stop(child: Child | undefined): Promise<void> {
  if (child === undefined) return;
  if (child.process.exitCode === null && child.process.signalCode === null) {
    child.process.kill('SIGKILL');
  }
  await child.exited.catch(() => {});
}
