/**
 * Hosts on one machine for evacuation tests: each host is a runDir of QEMU
 * processes plus its own store; the inventory lists them. Every QEMU started
 * here (or by the qmp driver into these runDirs) is killed by cleanup().
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/agent/store.js';
import { launchVm, vmFiles } from '../../src/evacuate/qmp-driver.js';
import { counterBootSector } from '../../src/qemu/counter.js';
import { QmpClient } from '../../src/qmp/client.js';

export interface TestHosts {
  readonly dir: string;
  readonly inventory: string;
  readonly journal: string;
  runDir(host: string): string;
  db(host: string): string;
  /** Starts a counter guest on `host` and lists it there in the inventory. */
  startVm(host: string, vm: string): Promise<void>;
  /** A connected client on a VM's ops socket on `host` (the control socket is memfail's). */
  control(host: string, vm: string): Promise<QmpClient>;
  cleanup(): Promise<void>;
}

export const QEMU_ARGS = (image: string) => [
  '-machine', 'pc', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config',
  '-m', '64', '-drive', `file=${image},format=raw,if=floppy`,
]; // biome-ignore format: flag and value on one line

export function makeHosts(names: readonly string[]): TestHosts {
  // Short: unix socket paths have a 107-byte limit.
  const dir = mkdtempSync(join(tmpdir(), 'mf-evac-'));
  const inventory = join(dir, 'hosts.json');
  const hosts: Record<string, { db: string; runDir: string; vms: Record<string, unknown> }> = {};
  for (const h of names) {
    const runDir = join(dir, h);
    mkdirSync(runDir);
    const db = join(dir, `${h}.db`);
    Store.open(db).close();
    hosts[h] = { db, runDir, vms: {} };
  }
  writeFileSync(inventory, JSON.stringify({ hosts }, null, 2));
  const clients: QmpClient[] = [];
  const self: TestHosts = {
    dir,
    inventory,
    journal: join(dir, 'journal.db'),
    runDir: (h) => join(dir, h),
    db: (h) => join(dir, `${h}.db`),
    async startVm(host, vm) {
      const image = join(dir, `${vm}.img`);
      writeFileSync(image, counterBootSector());
      truncateSync(image, 1_474_560);
      const qemu = QEMU_ARGS(image);
      launchVm(self.runDir(host), vm, qemu, false);
      const client = await self.control(host, vm);
      await client.close();
      const inv = JSON.parse(readFileSync(inventory, 'utf8'));
      inv.hosts[host].vms[vm] = {
        uuid: `0000-${vm}`,
        qmp: `unix:${vmFiles(self.runDir(host), vm).qmp}`,
        qemu,
      };
      writeFileSync(inventory, JSON.stringify(inv, null, 2));
    },
    async control(host, vm) {
      const path = vmFiles(self.runDir(host), vm).ops;
      const client = new QmpClient();
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await client.connect(path);
          clients.push(client);
          return client;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
    async cleanup() {
      for (const c of clients) await c.close();
      for (const h of names) {
        for (const f of readdirSync(self.runDir(h))) {
          if (!f.endsWith('.pid')) continue;
          const pid = Number(readFileSync(join(self.runDir(h), f), 'utf8'));
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      await new Promise((r) => setTimeout(r, 100));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

export async function status(client: QmpClient): Promise<string> {
  return ((await client.execute('query-status')) as { status: string }).status;
}

/**
 * Whether a pid file's process is alive. A QEMU this test process started and
 * that was killed stays a zombie until Node reaps it: that counts as dead.
 */
export function alive(pidFile: string): boolean {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name, is the state.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
