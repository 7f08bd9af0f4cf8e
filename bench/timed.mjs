// Runs a command to exit, timed the way every whole-process benchmark here is:
// wall time from spawn to exit, CPU (user + sys) and peak RSS from
// /usr/bin/time when it is there (NaN otherwise), and what it printed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const TIME = '/usr/bin/time';
export const haveTime = existsSync(TIME);

/** Resolves { ms, cpuMs, rssKiB, out }; rejects when the command exits non-zero. */
export function timed(argv, env = {}) {
  return new Promise((resolve, reject) => {
    const cmd = haveTime ? [TIME, '-f', '%U %S %M', ...argv] : argv;
    const start = performance.now();
    const child = spawn(cmd[0], cmd.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => {
      const ms = performance.now() - start;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      const [user, sys, rssKiB] = haveTime
        ? err.trim().split('\n').at(-1).split(' ').map(Number)
        : [Number.NaN, Number.NaN, Number.NaN];
      resolve({ ms, cpuMs: (user + sys) * 1000, rssKiB, out });
    });
  });
}
