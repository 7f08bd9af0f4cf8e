/**
 * Test support: a real QEMU 7.2 (TCG) running a 512-byte boot-sector guest,
 * reached over QMP. The guest points interrupt vector 18 (#MC) at a handler
 * that never returns and, in its `mce` variant, sets CR4.MCE first: the
 * first AR machine check is delivered, the second finds MCIP still set.
 *
 * A stand-in for src/qemu (bootsector.ts, launch.ts), which the QMP side is
 * building; the differential test moves to it when it lands.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../../src/qmp/client.js';

export const QEMU = 'qemu-system-x86_64';

/** Fails (never skips) when QEMU is missing, saying how to get it. */
export function requireQemu(): void {
  const probe = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`${QEMU} is not runnable: run \`bash scripts/setup.sh --test\``);
  }
}

const HANDLER = 0x7c1e;

/** The boot sector; `mce: false` replaces the three CR4 instructions with NOPs. */
export function bootSector(mce: boolean): Buffer {
  const setCr4 = [0x0f, 0x20, 0xe0, 0x66, 0x83, 0xc8, 0x40, 0x0f, 0x22, 0xe0]; // mov eax,cr4; or eax,0x40; mov cr4,eax
  const code = [
    0xfa, // cli
    0x31,
    0xc0, // xor ax, ax
    0x8e,
    0xd8, // mov ds, ax
    0xc7,
    0x06,
    0x48,
    0x00,
    HANDLER & 0xff,
    HANDLER >> 8, // mov word [18*4], handler
    0xc7,
    0x06,
    0x4a,
    0x00,
    0x00,
    0x00, // mov word [18*4+2], 0
    ...(mce ? setCr4 : setCr4.map(() => 0x90)),
    0xf4,
    0xeb,
    0xfd, // idle: hlt; jmp idle   (0x7c1b)
    0xf4,
    0xeb,
    0xfd, // #MC handler: hlt; jmp handler, never returns (0x7c1e)
  ];
  if (0x7c00 + code.length - 3 !== HANDLER) throw new Error('boot sector layout changed');
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export interface QemuGuest {
  readonly client: QmpClient;
  readonly process: ChildProcess;
  /** QEMU's exit status. */
  readonly exited: Promise<number | null>;
  /** A second QMP socket for another client (a QMP socket serves one client at a time). */
  readonly secondQmp: string;
  /** Polls `info registers` until the guest idles at its hlt loop (after boot or reboot). */
  waitReady(): Promise<void>;
  stop(): Promise<void>;
}

export interface GuestOptions {
  readonly mce: boolean;
  readonly vcpus?: number;
  readonly noReboot?: boolean;
}

export async function startQemuGuest(options: GuestOptions): Promise<QemuGuest> {
  requireQemu();
  const dir = await mkdtemp(join(tmpdir(), 'memfail-qemu-'));
  const disk = join(dir, 'boot.img');
  const image = Buffer.alloc(1 << 20);
  bootSector(options.mce).copy(image);
  await writeFile(disk, image);
  const sock = join(dir, 'qmp.sock');
  const args = [
    '-nodefaults',
    '-display',
    'none',
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    '32',
    '-smp',
    String(options.vcpus ?? 1),
    '-drive',
    `file=${disk},format=raw,if=ide`,
    '-qmp',
    `unix:${sock},server=on,wait=on`,
    '-qmp',
    `unix:${join(dir, 'qmp2.sock')},server=on,wait=off`,
    ...(options.noReboot ? ['-no-reboot'] : []),
  ];
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const client = new QmpClient();
  await connectWithRetry(client, sock, exited, () => stderr);
  const guest: QemuGuest = {
    client,
    process: child,
    exited,
    secondQmp: join(dir, 'qmp2.sock'),
    waitReady: async () => {
      for (let i = 0; i < 600; i++) {
        const regs = String(
          await client.execute('human-monitor-command', { 'command-line': 'info registers' }),
        );
        const eip = /EIP=([0-9a-f]{8})/.exec(regs)?.[1];
        const cr4 = Number.parseInt(/CR4=([0-9a-f]{8})/.exec(regs)?.[1] ?? '0', 16);
        const idle = eip === '00007c1b' || eip === '00007c1c';
        if (idle && ((cr4 & 0x40) !== 0) === options.mce) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the boot-sector guest never reached its idle loop');
    },
    stop: async () => {
      await client.close().catch(() => {});
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return guest;
}

async function connectWithRetry(
  client: QmpClient,
  sock: string,
  exited: Promise<number | null>,
  stderr: () => string,
): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (let i = 0; i < 200; i++) {
    if (gone) throw new Error(`QEMU exited before QMP came up: ${stderr()}`);
    try {
      await client.connect(sock);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`QEMU's QMP socket never came up: ${stderr()}`);
}
