// libvirt burst: COUNT MEMORY_FAILURE events from one libvirt-managed QEMU
// (TCG, the MCE boot-sector guest), injected as fast as QEMU takes them
// through an extra QMP monitor given with <qemu:commandline> (a window of 64
// human-monitor-command "mce" in flight; corrected errors, so the guest is
// never reset). Received in the same run by:
//   memfail: `memfail watch --libvirt -q --db DB`, recording every event durably
//            (QEMU's monitor events, one row each);
//   virsh:   `virsh event --event memory-failure --loop`, lines counted;
//   python:  libvirt's Python binding (python3-libvirt) merely counting
//            (bench/libvirt_count.py);
//   node:    memfail's own libvirt client (src/libvirt) merely counting
//            (bench/libvirt_count.mjs): the floor for any Node receiver;
//   baseline (with --baseline DIR): DIR's memfail (another checkout, built),
//            run as memfail is: a change measured against the code before it.
// Every receiver hears the bench's domain alone: other users of the same
// libvirtd (tests running meanwhile) neither count nor cost.
// Each receiver's time is from the first injection to the moment it had the
// last event (memfail: the last row committed, polled every 10 ms); CPU is its
// user+sys from /proc over the same span. A warm-up event first proves every
// receiver is registered.
//
//   node bench/libvirt-burst.mjs [--events N] [--runs R] [--baseline DIR]
//
// Needs root, libvirt (scripts/setup.sh) and a build (npm run build): it starts
// the shared test libvirtd (test/libvirt/libvirtd.ts) and stops it at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { peerPython, pythonVersion } from './python.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
const { useLibvirtd, createDomain } = await import(dist('test/libvirt/libvirtd.js'));
const { QmpClient } = await import(dist('src/qmp/client.js'));
const { waitForGuest } = await import(dist('src/qemu/guest.js'));
const { presetFault, mceCommandLine } = await import(dist('src/hypervisor/faults.js'));

const python = peerPython();
const flag = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const count = Number(flag('--events', 20_000));
const runs = Number(flag('--runs', 1));
const baselineRoot = flag('--baseline', null);
// MEMFAIL_BENCH_AGENT_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") go to the agent's node alone.
const nodeArgs = (process.env.MEMFAIL_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
const WINDOW = 64;
const WARM = 3;
const TICK = 100; // clock ticks per second in /proc/PID/stat (USER_HZ)

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function startLines(argv, onLine) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  child.stdout.on('data', (c) => {
    buf += c;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  child.stderr.on('data', (c) => (err += c));
  child.stderr_text = () => err;
  return child;
}

async function until(check, what, limitMs) {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(10);
  }
}

/** `memfail watch --libvirt` of the checkout at `at`, recording into `db`; rows of domain `vm` counted. */
function startAgent(at, db, vm) {
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(at, 'bin/memfail.js'), 'watch', '--libvirt', '-q', '--db', db],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  let reader = null;
  const count = (sql) => {
    try {
      reader ??= new Database(db, { readonly: true, fileMustExist: true });
      return reader.prepare(sql).get(vm).n;
    } catch {
      reader = null;
      return 0;
    }
  };
  return {
    child,
    stderr: () => stderr,
    rows: () => count('SELECT count(*) AS n FROM memory_failure WHERE vm = ?'),
    connected: () =>
      count("SELECT count(*) AS n FROM lifecycle WHERE kind = 'CONNECTED' AND vm = ?") > 0,
    async stop() {
      reader?.close();
      reader = null;
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.on('close', r));
    },
  };
}

async function oneRun(injectSock, domainName, dir, run) {
  const total = count + WARM; // python's: the warm-up events and the burst
  const db = join(dir, `run${run}.db`);
  const done = {};
  let target = null;
  const memfail = startAgent(root, db, domainName);
  const baseline =
    baselineRoot === null ? null : startAgent(baselineRoot, `${db}.baseline`, domainName);
  const agents = { memfail, ...(baseline === null ? {} : { baseline }) };
  const memfailRows = memfail.rows;
  // virsh
  let virshCount = 0;
  const virsh = startLines(
    [
      'virsh',
      '-c',
      'qemu:///system',
      'event',
      '--domain',
      domainName,
      '--event',
      'memory-failure',
      '--loop',
    ],
    (line) => {
      if (line.includes("'memory-failure'")) {
        virshCount++;
        if (virshCount === target?.virsh) done.virsh = Date.now();
      }
    },
  );
  // python
  let pyReady = false;
  let pyResult = null;
  const py = startLines(
    [python, join(root, 'bench/libvirt_count.py'), String(total), 'qemu:///system', domainName],
    (line) => {
      if (line === 'ready') pyReady = true;
      else pyResult = line.split(' ').map(Number);
    },
  );

  // node floor
  let nodeReady = false;
  let nodeResult = null;
  const floor = startLines(
    [
      process.execPath,
      join(root, 'bench/libvirt_count.mjs'),
      String(total),
      'qemu:///system',
      domainName,
    ],
    (line) => {
      if (line === 'ready') nodeReady = true;
      else nodeResult = line.split(' ').map(Number);
    },
  );

  const client = new QmpClient();
  await client.connect(`unix:${injectSock}`);
  await waitForGuest(client, { mce: true, timeoutMs: 60_000 });
  const cmd = mceCommandLine(presetFault('corrected', 0, 0x1000n));
  const hmp = () => client.execute('human-monitor-command', { 'command-line': cmd });
  await until(() => pyReady, 'python registered', 30_000);
  await until(() => nodeReady, 'node floor registered', 30_000);
  for (const [who, a] of Object.entries(agents)) {
    await until(() => a.connected(), `${who} registered`, 30_000);
  }
  // Warm-up: WARM events a second apart; python (registered) gets all of them,
  // virsh and memfail at least the last. Their targets count from what they had.
  for (let i = 0; i < WARM; i++) {
    await hmp();
    await sleep(1000);
  }
  if (Object.values(agents).some((a) => a.rows() < 1) || virshCount < 1) {
    throw new Error(
      `receivers not ready: memfail ${memfailRows()} virsh ${virshCount}\n${memfail.stderr()}`,
    );
  }
  target = { virsh: virshCount + count };
  for (const [who, a] of Object.entries(agents)) target[who] = a.rows() + count;
  const cpu0 = {
    ...Object.fromEntries(Object.entries(agents).map(([who, a]) => [who, cpuMs(a.child.pid)])),
    virsh: cpuMs(virsh.pid),
    python: cpuMs(py.pid),
    node: cpuMs(floor.pid),
  };
  const t0 = Date.now();
  let sent = 0;
  const inflight = new Set();
  while (sent < count) {
    while (inflight.size < WINDOW && sent < count) {
      const p = hmp().then(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const injectedMs = Date.now() - t0;
  const poll = setInterval(() => {
    for (const [who, a] of Object.entries(agents)) {
      if (done[who] === undefined && a.rows() >= target[who]) done[who] = Date.now();
    }
  }, 10);
  await until(
    () =>
      Object.keys(agents).every((who) => done[who] !== undefined) &&
      done.virsh !== undefined &&
      pyResult !== null &&
      nodeResult !== null,
    'every receiver',
    300_000,
  );
  clearInterval(poll);
  done.python = Math.round(pyResult[1] * 1000);
  done.node = Math.round(nodeResult[1] * 1000);
  const cpu = {
    ...Object.fromEntries(
      Object.entries(agents).map(([who, a]) => [who, cpuMs(a.child.pid) - cpu0[who]]),
    ),
    virsh: cpuMs(virsh.pid) - cpu0.virsh,
    python: cpuMs(py.pid) - cpu0.python,
    node: cpuMs(floor.pid) - cpu0.node,
  };
  const got = {
    ...Object.fromEntries(
      Object.entries(agents).map(([who, a]) => [who, a.rows() - (target[who] - count)]),
    ),
    virsh: virshCount - (target.virsh - count),
    python: pyResult[0] - WARM,
    node: nodeResult[0] - WARM,
  };
  await client.close();
  for (const a of Object.values(agents)) await a.stop();
  virsh.kill('SIGTERM');
  py.stdin.end();
  floor.stdin.end();
  // Every row: valid, canonical (guest inject, corrected → action-optional), QEMU's timestamp kept.
  const check = new Database(db, { readonly: true });
  const bad = check
    .prepare(
      "SELECT count(*) AS n FROM memory_failure WHERE vm = ? AND (valid = 0 OR recipient <> 'guest' OR action <> 'inject' OR ts_seconds < 0)",
    )
    .get(domainName).n;
  check.close();
  if (bad !== 0) throw new Error(`${bad} memfail rows are not the injected failure`);
  return {
    injectedMs,
    got,
    ms: Object.fromEntries(Object.entries(done).map(([k, v]) => [k, v - t0])),
    cpu,
    total,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-libvirt-'));
const daemon = await useLibvirtd();
let domain = null;
try {
  const injectSock = join(dir, 'inject.qmp');
  domain = await createDomain({
    mce: true,
    qemuArgs: ['-qmp', `unix:${injectSock},server=on,wait=off`],
  });
  console.log(
    `libvirt burst: ${count} MEMORY_FAILURE per run, ${runs} run(s); python ${pythonVersion(python)}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  for (let run = 1; run <= runs; run++) {
    const r = await oneRun(injectSock, domain.name, dir, run);
    const fastest = Math.min(...Object.values(r.ms));
    console.log(`run ${run}: injected in ${r.injectedMs} ms`);
    for (const who of [
      'memfail',
      ...(baselineRoot === null ? [] : ['baseline']),
      'virsh',
      'python',
      'node',
    ]) {
      console.log(
        `  ${who.padEnd(8)} received ${String(r.got[who]).padStart(6)}/${count}  last at ${String(r.ms[who]).padStart(6)} ms (${(r.ms[who] / fastest).toFixed(2)}x fastest)  CPU ${r.cpu[who].toFixed(0).padStart(5)} ms (${(r.cpu[who] / r.cpu.python).toFixed(2)}x python)`,
      );
    }
  }
} finally {
  await domain?.destroy();
  await daemon.release();
  rmSync(dir, { recursive: true, force: true });
}
