/** Watching the test daemons' processes and sockets (libvirtd.ts, second-libvirtd.ts). */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** Whether something accepts connections on the unix socket `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function readPid(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    // A daemon whose parent is gone may stay a zombie when PID 1 does not reap: that is dead.
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
