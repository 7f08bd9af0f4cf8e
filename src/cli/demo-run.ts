/** `memfail demo` and its variants (--evacuate, --fleet, --serve). */
import type { DemoFlags } from './demo.js';
import { type Io, UsageError } from './io.js';

export async function demo(opts: DemoFlags, io: Io): Promise<number> {
  if (opts.evacuate && opts.fleet) throw new UsageError('give --evacuate or --fleet, not both');
  if (opts.evacuate) {
    const { evacuationDemo } = await import('./health-demo.js');
    return evacuationDemo(io);
  }
  if (opts.fleet) {
    const { runFleetDemo } = await import('../fleet/demo.js');
    return (await runFleetDemo((text) => io.stdout(text))).ok ? 0 : 1;
  }
  const { runDemo } = await import('../demo/run.js');
  const realQemu = opts.simulator !== true && (await qemuAvailable());
  const result = await runDemo({
    ...(opts.db === undefined ? {} : { db: opts.db }),
    simulatorOnly: opts.simulator === true,
    qemuAvailable: realQemu,
    libvirt: opts.libvirt,
    out: (text) => io.stdout(text),
  });
  let code = result.ok ? 0 : 1;
  if (realQemu && opts.evacuation) {
    // Acting on it: live migration needs real guests, so only with QEMU.
    io.stdout('\nHost health and evacuation (memfail demo --evacuate runs only this part):\n');
    const { evacuationDemo } = await import('./health-demo.js');
    if ((await evacuationDemo(io)) !== 0) code = 1;
  }
  if (opts.serve !== true) {
    io.stdout(`See it in a browser: memfail serve --db ${result.db}\n`);
    return code;
  }
  return serveRecording(result.db, opts.listen, io, code);
}

async function qemuAvailable(): Promise<boolean> {
  const { findQemu, QemuNotFoundError } = await import('../qemu/launch.js');
  try {
    findQemu();
    return true;
  } catch (err) {
    if (!(err instanceof QemuNotFoundError)) throw err;
    return false;
  }
}

/** --serve: the dashboard over the demo's recording until Ctrl-C; the demo's status after. */
async function serveRecording(db: string, listenText: string, io: Io, code: number) {
  const { parseListen } = await import('../web/listen.js');
  const { openDashboard, untilSignal } = await import('./serve-run.js');
  const { hostname } = await import('node:os');
  let listen: ReturnType<typeof parseListen>;
  try {
    listen = parseListen(listenText);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const dashboard = await openDashboard(db, hostname(), listen, io);
  if (dashboard === null) return 1;
  io.stdout(`\nDashboard: ${dashboard.url}  (live; Ctrl-C to stop)\n`);
  await untilSignal();
  await dashboard.close();
  return code;
}
