// libvirt idle: one `memfail watch --libvirt` agent watching N running
// libvirt domains (small TCG guests: 64 MiB, the plain boot sector, halted),
// measured at idle: its RSS (VmRSS, VmHWM) and CPU (user+sys from /proc)
// over a quiet window after every domain is recorded as CONNECTED.
//
//   sudo node bench/libvirt-idle.mjs [--domains N] [--window SECONDS]
//
// Needs root, libvirt (scripts/setup.sh) and a build (npm run build); starts
// the shared test libvirtd and stops it at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { useLibvirtd, createDomain } = await import(join(root, 'dist/test/libvirt/libvirtd.js'));
const flag = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const n = Number(flag('--domains', 100));
const windowS = Number(flag('--window', 30));

const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const status = (pid, key) =>
  Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-idle-'));
const daemon = await useLibvirtd();
const domains = [];
let agent = null;
try {
  const t0 = Date.now();
  for (let i = 0; i < n; i++) domains.push(await createDomain({ mce: false }));
  console.log(`${n} domains started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const db = join(dir, 'idle.db');
  agent = spawn(
    process.execPath,
    [join(root, 'bin/memfail.js'), 'watch', '--libvirt', '-q', '--db', db],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    let connected = 0;
    try {
      const r = new Database(db, { readonly: true, fileMustExist: true });
      connected = r
        .prepare("SELECT count(DISTINCT vm) AS n FROM lifecycle WHERE kind = 'CONNECTED'")
        .get().n;
      r.close();
    } catch {}
    if (connected >= n) break;
    if (Date.now() > deadline)
      throw new Error(`only ${connected}/${n} domains recorded as CONNECTED`);
    await sleep(200);
  }
  await sleep(2000);
  const c0 = cpuMs(agent.pid);
  await sleep(windowS * 1000);
  const cpu = cpuMs(agent.pid) - c0;
  console.log(
    `agent watching ${n} domains, idle ${windowS} s: RSS ${(status(agent.pid, 'VmRSS') / 1024).toFixed(1)} MiB (peak ${(status(agent.pid, 'VmHWM') / 1024).toFixed(1)} MiB), CPU ${cpu} ms (${((cpu / (windowS * 1000)) * 100).toFixed(2)}% of a core)`,
  );
} finally {
  agent?.kill('SIGTERM');
  for (const d of domains) await d.destroy();
  await daemon.release();
  rmSync(dir, { recursive: true, force: true });
}
