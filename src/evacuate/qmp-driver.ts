/**
 * The `qmp` driver, for QEMUs memfail can start again (demo, drills, hosts
 * that are sets of QEMU processes): starts the destination QEMU with the
 * VM's arguments and `-incoming unix:…` in the destination host's runDir,
 * turns on the `events` migration capability on both sides, `migrate`s,
 * follows the source's MIGRATION events, waits for the destination to run,
 * then quits the source.
 *
 * In runDir, per VM: NAME.qmp (control, becomes the VM's address in the
 * inventory), NAME.watch.qmp (for a `memfail watch` on that host),
 * NAME.ops.qmp (for anyone else: a QMP socket serves one client), NAME.mig
 * (the migration socket), NAME.pid (QEMU's -pidfile), NAME.log (its stderr).
 * The destination QEMU is detached: it outlives memfail, like any VM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { findQemu } from '../qemu/launch.js';
import { QmpClient } from '../qmp/client.js';
import type {
  MigrationDriver,
  MigrationJob,
  MigrationResult,
  MigrationStats,
  RunningCheck,
} from './driver.js';

export interface QmpDriverOptions {
  /** How long a migration may take before it is cancelled (default 5 min). */
  readonly migrateTimeoutMs?: number;
  /** How long the destination QEMU may take to listen (default 20 s). */
  readonly startTimeoutMs?: number;
  /** Bytes per second the migration may use (QEMU's max-bandwidth; default QEMU's own). */
  readonly maxBandwidth?: number;
}

/** Where a VM's files go in a host's runDir. */
export function vmFiles(runDir: string, vm: string) {
  return {
    qmp: join(runDir, `${vm}.qmp`),
    watch: join(runDir, `${vm}.watch.qmp`),
    ops: join(runDir, `${vm}.ops.qmp`),
    mig: join(runDir, `${vm}.mig`),
    pid: join(runDir, `${vm}.pid`),
    log: join(runDir, `${vm}.log`),
  };
}

/**
 * Starts a VM's QEMU in a host's runDir, detached (it outlives memfail):
 * control and watch QMP sockets, a pid file, stderr to NAME.log; with
 * `incoming`, waiting for a migration on NAME.mig. Also how a drill or the
 * demo starts the VMs a host begins with.
 */
export function launchVm(
  runDir: string,
  vm: string,
  qemu: readonly string[],
  incoming: boolean,
): ChildProcess {
  const files = vmFiles(runDir, vm);
  const log = openSync(files.log, 'a');
  const child = spawn(
    findQemu(),
    [
      ...qemu,
      '-qmp', `unix:${files.qmp},server=on,wait=off`,
      '-qmp', `unix:${files.watch},server=on,wait=off`,
      '-qmp', `unix:${files.ops},server=on,wait=off`,
      ...(incoming ? ['-incoming', `unix:${files.mig}`] : []),
      '-pidfile', files.pid,
    ], // biome-ignore format: flag and value on one line
    { detached: true, stdio: ['ignore', 'ignore', log] },
  );
  closeSync(log);
  child.unref();
  return child;
}

type MigrationEnd =
  | { readonly kind: 'status'; readonly status: 'completed' | 'failed' | 'cancelled' }
  | { readonly kind: 'source-gone'; readonly why: string }
  | { readonly kind: 'timeout' };

export class QmpDriver implements MigrationDriver {
  readonly name = 'qmp' as const;
  constructor(private readonly options: QmpDriverOptions = {}) {}

  async check(job: MigrationJob): Promise<RunningCheck> {
    if (job.spec.qmp === undefined)
      return { running: false, why: 'no "qmp" address in the inventory' };
    const client = new QmpClient();
    try {
      await client.connect(job.spec.qmp);
      const status = await queryStatus(client);
      return status === 'running'
        ? { running: true }
        : { running: false, why: `QEMU is ${status}` };
    } catch (err) {
      return { running: false, why: `cannot reach ${job.spec.qmp}: ${(err as Error).message}` };
    } finally {
      await client.close();
    }
  }

  async migrate(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult> {
    const runDir = job.dest.runDir;
    if (runDir === undefined)
      return fail(`host "${job.to}" has no "runDir" in the inventory`, 'source');
    if (job.spec.qmp === undefined || job.spec.qemu === undefined) {
      return fail('the qmp driver needs the VM\'s "qmp" and "qemu" in the inventory', 'source');
    }
    const files = vmFiles(runDir, job.vm);
    stopLeftover(files.pid, runDir);
    for (const p of [files.qmp, files.watch, files.ops, files.mig, files.pid])
      rmSync(p, { force: true });

    const src = new QmpClient();
    const dst = new QmpClient();
    let destExit: string | null = null;
    try {
      await src.connect(job.spec.qmp);
      const child = launchVm(runDir, job.vm, job.spec.qemu, true);
      const destEnded = new Promise<void>((resolve) =>
        child.once('exit', (code, signal) => {
          destExit = signal ?? `exit ${code}`;
          resolve();
        }),
      );
      progress(`destination QEMU pid ${child.pid} on ${job.to}`);
      await connectWhenUp(dst, files.qmp, this.options.startTimeoutMs ?? 20_000, () =>
        destExit === null ? null : `${destExit}${lastLine(files.log)}`,
      );

      const events = { capabilities: [{ capability: 'events', state: true }] };
      await src.execute('migrate-set-capabilities', events);
      await dst.execute('migrate-set-capabilities', events);
      if (this.options.maxBandwidth !== undefined) {
        await src.execute('migrate-set-parameters', { 'max-bandwidth': this.options.maxBandwidth });
      }
      const ended = this.followMigration(src, progress);
      await src.execute('migrate', { uri: `unix:${files.mig}` });
      const end = await ended;

      if (end.kind === 'status' && end.status === 'completed') {
        const stats = await migrationStats(src);
        await waitStatus(dst, 'running', 10_000);
        await quit(src);
        return {
          ok: true,
          detail: `migrated to ${job.to}${stats ? ` in ${stats.totalMs} ms, downtime ${stats.downtimeMs} ms` : ''}`,
          runsOn: 'destination',
          spec: { ...job.spec, qmp: `unix:${files.qmp}` },
          ...(stats ? { stats } : {}),
        };
      }
      // Not completed: the destination's copy is incomplete; stop it, keep the source.
      // (If the destination died, that is the cause: give its exit a moment to be seen.)
      await Promise.race([destEnded, new Promise((r) => setTimeout(r, 300))]);
      const destCause = destExit;
      killPidFile(files.pid, runDir);
      child.kill('SIGKILL');
      if (end.kind === 'source-gone') {
        return fail(
          `the source QEMU went away during the migration (${end.why}); the destination's incomplete copy was stopped, so the VM runs nowhere`,
          'nowhere',
        );
      }
      if (end.kind === 'timeout') await src.execute('migrate_cancel').catch(() => {});
      const cause =
        end.kind === 'timeout'
          ? 'the migration did not finish in time and was cancelled'
          : `the migration ${end.status}${destCause !== null ? ` (the destination QEMU ended: ${destCause})` : ''}`;
      const back = await resumeSource(src);
      return fail(`${cause}; ${back}`, back.startsWith('the VM runs on') ? 'source' : 'unknown');
    } catch (err) {
      killPidFile(files.pid, runDir);
      const message = (err as Error).message;
      const back = src.state === 'running' ? await resumeSource(src) : 'the source is unreachable';
      return fail(
        `${message}${destExit !== null ? ` (destination QEMU ended: ${destExit})` : ''}; ${back}`,
        back.startsWith('the VM runs on') ? 'source' : 'unknown',
      );
    } finally {
      await src.close();
      await dst.close();
    }
  }

  async recover(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult> {
    const runDir = job.dest.runDir;
    if (runDir === undefined || job.spec.qmp === undefined) {
      return fail('cannot tell where the VM is: no runDir or qmp in the inventory', 'unknown');
    }
    const files = vmFiles(runDir, job.vm);
    const dst = new QmpClient();
    const src = new QmpClient();
    try {
      let destStatus: string | null = null;
      if (existsSync(files.qmp)) {
        try {
          await dst.connect(files.qmp);
          destStatus = await queryStatus(dst);
          // A migration QEMU carried on while memfail was away may still be in flight.
          if (destStatus === 'inmigrate') destStatus = await waitStatus(dst, 'running', 30_000);
        } catch {
          destStatus = null;
        }
      }
      const srcStatus = await src.connect(job.spec.qmp).then(
        () => queryStatus(src),
        () => null,
      );
      progress(`found: source ${srcStatus ?? 'gone'}, destination ${destStatus ?? 'absent'}`);
      if (destStatus === 'running') {
        if (srcStatus !== null) await quit(src);
        return {
          ok: true,
          detail: `the migration had completed while memfail was stopped; source ${srcStatus === null ? 'already gone' : 'stopped'}`,
          runsOn: 'destination',
          spec: { ...job.spec, qmp: `unix:${files.qmp}` },
        };
      }
      killPidFile(files.pid, runDir);
      if (srcStatus === null) {
        return fail('memfail stopped mid-migration and neither side runs the VM now', 'nowhere');
      }
      const back = await resumeSource(src);
      return fail(
        `memfail stopped mid-migration before it completed; the destination's copy was stopped; ${back}`,
        back.startsWith('the VM runs on') ? 'source' : 'unknown',
      );
    } finally {
      await src.close();
      await dst.close();
    }
  }

  private followMigration(src: QmpClient, progress: (note: string) => void): Promise<MigrationEnd> {
    return new Promise<MigrationEnd>((resolve) => {
      const timer = setTimeout(
        () => resolve({ kind: 'timeout' }),
        this.options.migrateTimeoutMs ?? 300_000,
      );
      const off = src.on(
        'event',
        (ev) => {
          const status = (ev.data as { status?: unknown } | undefined)?.status;
          if (typeof status !== 'string') return;
          if (status !== 'setup') progress(`migration ${status}`);
          if (status === 'completed' || status === 'failed' || status === 'cancelled') {
            clearTimeout(timer);
            off();
            resolve({ kind: 'status', status });
          }
        },
        { names: ['MIGRATION'] },
      );
      void src.closed.then((info) => {
        clearTimeout(timer);
        off();
        resolve({ kind: 'source-gone', why: `QMP connection ${info.reason}` });
      });
    });
  }
}

function fail(detail: string, runsOn: MigrationResult['runsOn']): MigrationResult {
  return { ok: false, detail, runsOn };
}

async function queryStatus(client: QmpClient): Promise<string> {
  const out = (await client.execute('query-status')) as { status?: unknown };
  return typeof out.status === 'string' ? out.status : 'unknown';
}

/** Polls until `status` (returned) or the deadline (the last status seen is returned). */
async function waitStatus(client: QmpClient, status: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await queryStatus(client);
    if (now === status || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function migrationStats(src: QmpClient): Promise<MigrationStats | undefined> {
  const info = (await src.execute('query-migrate')) as {
    'total-time'?: unknown;
    downtime?: unknown;
  };
  const total = info['total-time'];
  const down = info.downtime;
  return typeof total === 'number' && typeof down === 'number'
    ? { totalMs: total, downtimeMs: down }
    : undefined;
}

/** After a failed migration QEMU resumes the source itself when it can; make sure. */
async function resumeSource(src: QmpClient): Promise<string> {
  try {
    let status = await queryStatus(src);
    if (status === 'postmigrate' || status === 'paused' || status === 'finish-migrate') {
      await src.execute('cont');
      status = await waitStatus(src, 'running', 5_000);
    }
    return status === 'running' ? 'the VM runs on its source' : `the source QEMU is ${status}`;
  } catch (err) {
    return `the source is unreachable (${(err as Error).message})`;
  }
}

async function quit(src: QmpClient): Promise<void> {
  // QEMU closes the connection as it quits: the reply may never come.
  await Promise.race([src.execute('quit').catch(() => {}), src.closed]);
}

async function connectWhenUp(
  client: QmpClient,
  path: string,
  timeoutMs: number,
  exited: () => string | null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone !== null) throw new Error(`the destination QEMU ended while starting (${gone})`);
    if (existsSync(path)) {
      try {
        await client.connect(path);
        return;
      } catch {
        // bound but not yet listening
      }
    }
    if (Date.now() > deadline)
      throw new Error('the destination QEMU did not open its QMP socket in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills the QEMU a pid file names, only if it is one of ours (its command line names runDir). */
function killPidFile(pidFile: string, runDir: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(runDir)) return;
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A destination left by an earlier attempt (not running the VM) must not hold the sockets. */
function stopLeftover(pidFile: string, runDir: string): void {
  if (existsSync(pidFile)) killPidFile(pidFile, runDir);
}

/** The last line QEMU wrote to its log, as ": …" (empty when there is none). */
function lastLine(log: string): string {
  try {
    const line = readFileSync(log, 'utf8').trim().split('\n').at(-1)?.trim();
    return line ? `: ${line}` : '';
  } catch {
    return '';
  }
}
