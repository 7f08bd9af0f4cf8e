/**
 * A real libvirtd for tests, shared by every test process on the machine.
 *
 *   const daemon = await useLibvirtd();          // starts it, or joins the running one
 *   const dom = await createDomain({ mce: true }); // a transient TCG guest on a boot sector
 *   ...
 *   await dom.destroy();
 *   await daemon.release();                      // the last user stops it
 *
 * Only one system libvirtd can run on a machine, so its users register under
 * /run/memfail-test-libvirtd (a mkdir lock guards the register; a user whose
 * process died no longer counts). The first user prepares the machine as a
 * root-only container needs it (DESIGN.md "libvirt here"): the libvirt-qemu
 * user and group, /etc/libvirt/qemu.conf running QEMU as root without
 * security driver, cgroups or namespaces, `virtlogd -d`, then `libvirtd -d`.
 * The last user stops both (libvirtd takes ~20 s on SIGTERM). A daemon that
 * was running before the first user came is left running.
 *
 * Fails (never skips) when libvirtd is not installed or we are not root.
 */
import { type ExecFileException, execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainXml } from '../../src/qemu/domain-xml.js';
import { alive, readPid, sleep, socketAnswers } from './daemon-process.js';
import { mceBootSector, plainBootSector, waitForGuestVia } from '../../src/qemu/index.js';

export const LIBVIRT_SOCKET = '/var/run/libvirt/libvirt-sock';
const REGISTER = '/run/memfail-test-libvirtd';
const LOCK = join(REGISTER, 'lock');
const USERS = join(REGISTER, 'users');
const STARTED_BY_US = join(REGISTER, 'started-by-tests');
const LIBVIRTD_PID = '/var/run/libvirtd.pid';
const VIRTLOGD_PID = '/var/run/virtlogd.pid';
const QEMU_CONF = '/etc/libvirt/qemu.conf';
const QEMU_CONF_TEXT = `# Written by memfail's tests (test/libvirt/libvirtd.ts) for a root-only container.
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
`;

export interface LibvirtdLease {
  readonly socket: string;
  /** Leaves; the last user stops the daemon (when tests started it). */
  release(): Promise<void>;
}

export async function useLibvirtd(): Promise<LibvirtdLease> {
  for (const tool of ['libvirtd', 'virtlogd', 'virsh']) {
    if (!onPath(tool)) {
      throw new Error(
        `${tool} is not installed: run \`bash scripts/setup.sh --test\` (Debian libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients)`,
      );
    }
  }
  if (process.getuid?.() !== 0)
    throw new Error('the libvirt tests start libvirtd and must run as root');
  const me = join(USERS, `${process.pid}-${Date.now()}`);
  await withLock(async () => {
    await mkdir(USERS, { recursive: true });
    await writeFile(me, String(process.pid));
    if (await socketAnswers(LIBVIRT_SOCKET)) return;
    prepareMachine();
    if (!alive(readPid(VIRTLOGD_PID))) run('virtlogd', ['-d']);
    run('libvirtd', ['-d']);
    await writeFile(STARTED_BY_US, '');
    const deadline = Date.now() + 30_000;
    while (!(await socketAnswers(LIBVIRT_SOCKET))) {
      if (Date.now() > deadline)
        throw new Error(`libvirtd did not serve ${LIBVIRT_SOCKET} within 30 s`);
      await sleep(100);
    }
  });
  let released = false;
  return {
    socket: LIBVIRT_SOCKET,
    release: async () => {
      if (released) return;
      released = true;
      await withLock(async () => {
        await rm(me, { force: true });
        if ((await liveUsers()) > 0 || !existsSync(STARTED_BY_US)) return;
        await stopDaemons();
        await rm(STARTED_BY_US, { force: true });
      });
    },
  };
}

/**
 * Restarts libvirtd (domains keep running; the new daemon takes them over)
 * once this process is its only user. Resolves when the new one serves.
 */
export async function restartLibvirtd(limitMs = 300_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  // Other test processes sharing the daemon would lose their connections:
  // wait until this process is its only user, and keep newcomers out (the
  // register lock) while it restarts.
  for (;;) {
    const done = await withLock(async () => {
      if ((await liveUsers(process.pid)) > 0) return false;
      const pid = readPid(LIBVIRTD_PID);
      if (alive(pid)) {
        process.kill(pid as number, 'SIGTERM');
        const stopBy = Date.now() + 60_000;
        while (alive(pid) && Date.now() < stopBy) await sleep(100);
        if (alive(pid)) process.kill(pid as number, 'SIGKILL');
      }
      run('libvirtd', ['-d']);
      const serveBy = Date.now() + 30_000;
      while (!(await socketAnswers(LIBVIRT_SOCKET))) {
        if (Date.now() > serveBy) throw new Error('libvirtd did not come back within 30 s');
        await sleep(100);
      }
      return true;
    });
    if (done) return;
    if (Date.now() > deadline) {
      throw new Error(
        `libvirtd has other users (${USERS}) after ${limitMs} ms; not restarting it under them`,
      );
    }
    await sleep(500);
  }
}

/** As waitForGuest (src/qemu/guest.ts), through virsh: the boot sector idles, CR4.MCE set for the MCE guest. */
export async function waitGuestReady(
  domain: string,
  mce: boolean,
  limitMs = 30_000,
): Promise<void> {
  await waitForGuestVia(() => virsh(['qemu-monitor-command', domain, '--hmp', 'info registers']), {
    mce,
    timeoutMs: limitMs,
  });
}

/** Stops libvirtd (SIGTERM, waiting for it to go) and virtlogd. */
async function stopDaemons(): Promise<void> {
  for (const [file, limitMs] of [
    [LIBVIRTD_PID, 60_000],
    [VIRTLOGD_PID, 10_000],
  ] as const) {
    const pid = readPid(file);
    if (!alive(pid)) continue;
    process.kill(pid as number, 'SIGTERM');
    const deadline = Date.now() + limitMs;
    while (alive(pid) && Date.now() < deadline) await sleep(100);
    if (alive(pid)) process.kill(pid as number, 'SIGKILL');
  }
}

/** Users whose process still runs (but `except`); the files of dead ones are removed. */
async function liveUsers(except?: number): Promise<number> {
  let n = 0;
  for (const name of await readdir(USERS)) {
    const pid = Number(name.split('-')[0]);
    if (alive(pid)) {
      if (pid !== except) n++;
    } else await rm(join(USERS, name), { force: true });
  }
  return n;
}

/** A mkdir lock; one whose holder died (its pid file names a dead process) is broken. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(REGISTER, { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(join(LOCK, 'pid'));
      if (holder !== null && !alive(holder)) await rm(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${LOCK} is held too long`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(join(LOCK, 'pid'), { force: true });
    await rmdir(LOCK);
  }
}

function prepareMachine(): void {
  // The package's tmpfiles/systemd set-up would make these; there is no systemd here.
  for (const dir of ['/var/log/libvirt/qemu', '/var/lib/libvirt/qemu', '/var/run/libvirt']) {
    execFileSync('mkdir', ['-p', dir]);
  }
  if (!hasEntry('/etc/group', 'libvirt-qemu')) run('groupadd', ['--system', 'libvirt-qemu']);
  if (!hasEntry('/etc/passwd', 'libvirt-qemu')) {
    run('useradd', ['--system', '--no-create-home', '-g', 'libvirt-qemu', 'libvirt-qemu']);
  }
  const current = existsSync(QEMU_CONF) ? readFileSync(QEMU_CONF, 'utf8') : null;
  if (current === null) {
    execFileSync('mkdir', ['-p', '/etc/libvirt']);
    execFileSync('sh', ['-c', `cat > ${QEMU_CONF}`], { input: QEMU_CONF_TEXT });
  } else if (!current.includes('security_driver = "none"')) {
    throw new Error(
      `${QEMU_CONF} exists without the settings a root-only container needs; add:\n${QEMU_CONF_TEXT}`,
    );
  }
}

export interface TestDomain {
  readonly name: string;
  readonly dir: string;
  /** Destroys the (transient) domain and removes its files. */
  destroy(): Promise<void>;
}

let domainCounter = 0;

/**
 * Creates a transient TCG domain booting one of our boot sectors from a
 * floppy (64 MiB, no balloon). `qemuArgs` go to QEMU through <qemu:commandline>.
 */
export async function createDomain(options: {
  mce: boolean;
  name?: string;
  qemuArgs?: readonly string[];
}): Promise<TestDomain> {
  const name = options.name ?? `memfail-t${process.pid}-${++domainCounter}`;
  const dir = await mkdtemp(join(tmpdir(), 'memfail-dom-'));
  const image = join(dir, 'boot.img');
  const floppy = Buffer.alloc(1_474_560);
  (options.mce ? mceBootSector() : plainBootSector()).copy(floppy);
  await writeFile(image, floppy);
  const xmlPath = join(dir, 'domain.xml');
  await writeFile(xmlPath, domainXml(name, image, { qemuArgs: options.qemuArgs ?? [] }));
  try {
    await virsh(['create', xmlPath]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name,
    dir,
    destroy: async () => {
      await virsh(['destroy', name]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs virsh against qemu:///system; rejects with its stderr. */
export function virsh(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'virsh',
      ['-c', 'qemu:///system', ...args],
      { timeout: timeoutMs },
      (err: ExecFileException | null, stdout: string, stderr: string) => {
        if (err) reject(new Error(`virsh ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

function hasEntry(file: string, name: string): boolean {
  return readFileSync(file, 'utf8')
    .split('\n')
    .some((line) => line.startsWith(`${name}:`));
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => dir !== '' && existsSync(join(dir, tool)));
}

function run(tool: string, args: readonly string[]): void {
  execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
