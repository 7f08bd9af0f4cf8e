/**
 * The `exec` driver: the operator's own command per VM (an OpenStack,
 * Proxmox or virsh call), a template with {vm} {uuid} {host} {dest} filled in
 * word by word (no shell: use sh -c '…' for one). Exit status 0 is success;
 * anything else is recorded with the status and the end of its stderr.
 */
import { spawn } from 'node:child_process';
import type { MigrationDriver, MigrationJob, MigrationResult } from './driver.js';

export interface ExecOptions {
  /** The template, already split into words. */
  readonly argv: readonly string[];
  readonly timeoutMs?: number;
}

export function fillTemplate(argv: readonly string[], job: MigrationJob): string[] {
  const values: Record<string, string> = {
    vm: job.vm,
    uuid: job.spec.uuid ?? '',
    host: job.from,
    dest: job.to,
  };
  return argv.map((w) => w.replace(/\{(vm|uuid|host|dest)\}/g, (_, k: string) => values[k] ?? ''));
}

export class ExecDriver implements MigrationDriver {
  readonly name = 'exec' as const;
  constructor(private readonly options: ExecOptions) {}

  async check(): Promise<{ running: true }> {
    // The command knows; memfail cannot tell from here.
    return { running: true };
  }

  async migrate(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult> {
    const argv = fillTemplate(this.options.argv, job);
    progress(`running ${argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    const started = Date.now();
    const { code, signal, stderr, error } = await run(argv, this.options.timeoutMs ?? 600_000);
    const took = `${Date.now() - started} ms`;
    if (error !== null)
      return { ok: false, detail: `cannot run ${argv[0]}: ${error}`, runsOn: 'source' };
    if (code === 0) {
      return {
        ok: true,
        detail: `command exited 0 after ${took}`,
        runsOn: 'destination',
        spec: job.spec,
      };
    }
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    const status = code === null ? `was killed by ${signal}` : `exited ${code}`;
    return {
      ok: false,
      detail: `command ${status} after ${took}${tail ? `: ${tail}` : ''}`,
      runsOn: 'unknown',
    };
  }

  async recover(): Promise<MigrationResult> {
    return {
      ok: false,
      detail:
        'memfail stopped while the command ran, so its outcome is unknown: check where the VM runs; ' +
        'running evacuate again runs the command again',
      runsOn: 'unknown',
    };
  }
}

function run(
  argv: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; signal: string | null; stderr: string; error: string | null }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4096);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stderr, error: err.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, error: null });
    });
  });
}
