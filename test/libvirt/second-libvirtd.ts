/**
 * A second libvirtd on this machine that libvirt takes for another host, so
 * a domain can migrate from the shared system daemon (libvirtd.ts) to it.
 *
 *   const b = await startSecondLibvirtd();   // b.uri, b.socket, b.dir
 *   ...
 *   await b.stop();
 *
 * It runs in its own mount namespace (`unshare -m`, private propagation),
 * where private directories are bind-mounted over /etc/libvirt, /run/libvirt,
 * /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt: its own
 * configuration, domain state, monitor sockets and logs, never the system
 * daemon's. Its libvirtd.conf gives it another host_uuid (the one thing
 * libvirt compares to refuse a migration to the same host) and a socket in
 * `dir/sock`, outside the private mounts, so the system daemon reaches it
 * (peer-to-peer: qemu+unix:///system?socket=…). QEMU's stdio goes to files
 * (stdio_handler "file"): it needs no virtlogd of its own. The capability
 * cache is copied from the system daemon's so it starts in a second.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, readPid, sleep, socketAnswers } from './daemon-process.js';

export interface SecondLibvirtd {
  /** Its private tree and its socket directory (shared with the system daemon's view). */
  readonly dir: string;
  readonly socket: string;
  /** The URI another daemon uses to reach it. */
  readonly uri: string;
  readonly hostUuid: string;
  /** The daemon's pid (a test may stop it with SIGSTOP to hold a migration mid-way). */
  pid(): number | null;
  /** virsh against it; rejects with virsh's stderr. */
  virsh(args: readonly string[]): Promise<string>;
  /** Stops the daemon (and any QEMU it still runs) and removes its tree. */
  stop(): Promise<void>;
}

const PRIVATE = {
  etc: '/etc/libvirt',
  run: '/run/libvirt',
  lib: '/var/lib/libvirt',
  log: '/var/log/libvirt',
  cache: '/var/cache/libvirt',
} as const;

export async function startSecondLibvirtd(): Promise<SecondLibvirtd> {
  const dir = await mkdtemp(join(tmpdir(), 'memfail-lvb-'));
  const sockDir = join(dir, 'sock');
  const socket = join(sockDir, 'libvirt-sock');
  const pidFile = join(dir, 'libvirtd.pid');
  const hostUuid = randomUUID();
  const conf = join(dir, 'libvirtd.conf');
  await writeFile(
    conf,
    [
      `unix_sock_dir = "${sockDir}"`,
      `host_uuid = "${hostUuid}"`,
      'auth_unix_rw = "none"',
      'auth_unix_ro = "none"',
      `log_outputs = "3:file:${join(dir, 'libvirtd.log')}"`,
      '',
    ].join('\n'),
  );
  const lines = ['set -e', `mkdir -p ${sockDir}`];
  for (const [name, target] of Object.entries(PRIVATE)) {
    lines.push(`mkdir -p ${dir}/${name} ${target}`);
  }
  lines.push(
    `cp -a /etc/libvirt/. ${dir}/etc/`,
    `cp -a /var/cache/libvirt/. ${dir}/cache/ 2>/dev/null || true`,
    `mkdir -p ${dir}/lib/qemu ${dir}/log/qemu ${dir}/run/qemu`,
    `printf '\\nstdio_handler = "file"\\n' >> ${dir}/etc/qemu.conf`,
  );
  for (const [name, target] of Object.entries(PRIVATE)) {
    lines.push(`mount --bind ${dir}/${name} ${target}`);
  }
  lines.push(`exec libvirtd -d -f ${conf} -p ${pidFile}`);
  const stop = async () => {
    const pid = readPid(pidFile);
    if (pid !== null) {
      // Its QEMUs are in its namespace: they share the daemon's mount namespace id.
      for (const q of qemusOf(pid)) kill(q, 'SIGKILL');
      kill(pid, 'SIGCONT'); // a test may have left it stopped
      kill(pid, 'SIGTERM');
      const deadline = Date.now() + 30_000;
      while (alive(pid) && Date.now() < deadline) await sleep(100);
      if (alive(pid)) kill(pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', lines.join('\n')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const deadline = Date.now() + 30_000;
    while (!(await socketAnswers(socket))) {
      if (Date.now() > deadline) {
        throw new Error(`the second libvirtd did not serve ${socket} within 30 s${logTail(dir)}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const uri = `qemu+unix:///system?socket=${socket}`;
  return {
    dir,
    socket,
    uri,
    hostUuid,
    pid: () => readPid(pidFile),
    virsh: (args) => virshAt(uri, args),
    stop,
  };
}

export function virshAt(uri: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('virsh', ['-c', uri, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`virsh ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** QEMU processes in the daemon's mount namespace. */
function qemusOf(daemon: number): number[] {
  let ns: string;
  try {
    ns = execFileSync('readlink', [`/proc/${daemon}/ns/mnt`], { encoding: 'utf8' }).trim();
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of execFileSync('ps', ['-eo', 'pid=,comm='], { encoding: 'utf8' }).split('\n')) {
    const [pid, comm] = line.trim().split(/\s+/);
    if (comm === undefined || !comm.startsWith('qemu-system')) continue;
    try {
      const their = execFileSync('readlink', [`/proc/${pid}/ns/mnt`], { encoding: 'utf8' }).trim();
      if (their === ns) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

function logTail(dir: string): string {
  try {
    const text = readFileSync(join(dir, 'libvirtd.log'), 'utf8').trim().split('\n').slice(-5);
    return `: ${text.join(' | ')}`;
  } catch {
    return '';
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
