/** Runs `node bin/memfail.js ...` as a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/memfail.js', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Exit code (or the signal's name) once it ended. */
  readonly exited: Promise<number | string>;
}

export function memfail(args: readonly string[]): Child {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { process: child, stderr: () => err, stdout: () => out, exited };
}

export function until(check: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      let ok = false;
      try {
        ok = check();
      } catch {
        ok = false;
      }
      if (ok) resolve();
      else if (Date.now() > deadline) reject(new Error(`gave up waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}
