/**
 * `memfail demo`: start the demo's VMs, watch them with the agent (the same
 * Watcher, BatchWriter and Store as `memfail watch`), inject the scripted
 * faults one at a time, show each MEMORY_FAILURE as the agent records it with
 * its explanation, and finish with the report.
 */
import { explain } from '../event/explain.js';
import type { MemoryFailure } from '../event/model.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriter } from '../agent/batch.js';
import type { Observation } from '../agent/records.js';
import { reportText } from '../agent/report.js';
import { Store } from '../agent/store.js';
import { Watcher } from '../agent/watcher.js';
import { inject } from '../qemu/inject.js';
import { runLibvirtPart } from './libvirt.js';
import { DEMO_STEPS, DEMO_VMS, type DemoStep, type VmKind } from './plan.js';
import { type DemoVm, demoDir, startDemoVm } from './vms.js';

export interface DemoOptions {
  /** Database to record into (default: a fresh one in the demo's temporary folder). */
  readonly db?: string;
  /** Use the simulator even where real QEMU is installed. */
  readonly simulatorOnly: boolean;
  /** Whether qemu-system-x86_64 can be run here. */
  readonly qemuAvailable: boolean;
  readonly out: (text: string) => void;
  /** Run the libvirt part when libvirtd answers (needs real QEMU; the CLI's default, off here). */
  readonly libvirt?: boolean;
  /** libvirtd's socket (default /var/run/libvirt/libvirt-sock). */
  readonly libvirtSocket?: string;
  /** How long one step may wait for its event to be recorded (default 60 s). */
  readonly stepTimeoutMs?: number;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly db: string;
  readonly recorded: number;
  readonly mismatches: readonly string[];
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { out } = options;
  const useQemu = options.qemuAvailable && !options.simulatorOnly;
  out(introduction(options, useQemu));
  const dir = await demoDir();
  const dbPath = options.db ?? defaultDemoDb();
  const store = Store.open(dbPath);
  const recorder = new Recorder(store, out);
  const vms = new Map<string, DemoVm>();
  let watcher: Watcher | null = null;
  const mismatches: string[] = [];
  try {
    await startVms(vms, useQemu, dir.path, out);
    watcher = await watchEveryVm(vms, recorder);
    out(`\nRecording to ${dbPath}\n\n`);
    for (const [i, step] of DEMO_STEPS.entries()) {
      const vm = vms.get(step.vm)!;
      const mismatch = await runStep(step, i + 1, vm, recorder, options);
      if (mismatch !== null) mismatches.push(mismatch);
    }
    if (useQemu && options.libvirt === true) {
      out('\nlibvirt: ');
      const part = await runLibvirtPart({
        writer: recorder.writer,
        dir: dir.path,
        out,
        ...(options.libvirtSocket ? { socket: options.libvirtSocket } : {}),
        // The libvirt part's VM names are its own: any committed observation may match.
        waitFor: (match, what, timeoutMs) => recorder.until((o) => match(o), what, timeoutMs),
      });
      if (!part.ran) out(`libvirtd not reachable (${part.why}); the libvirt part is skipped.\n`);
      else if (!sameFailure(part.got, part.expect)) {
        mismatches.push(
          `libvirt (${part.vm}): expected ${show(part.expect)}, got ${show(part.got)}`,
        );
      }
    }
  } finally {
    await watcher?.stop();
    recorder.close();
    await Promise.all([...vms.values()].map((vm) => vm.stop().catch(() => {})));
    await dir.remove();
  }
  // The same streamed report as `memfail report`.
  out('\n');
  for (const piece of reportText(store.reportSource())) out(piece);
  store.close();
  const failures = recorder.recorded.filter((o) => o.kind === 'failure').length;
  out(
    `\n${failures} memory failures recorded in ${dbPath}` +
      `\nExplore them: memfail events --db ${dbPath}   memfail report --db ${dbPath} --json\n`,
  );
  for (const m of mismatches) out(`MISMATCH ${m}\n`);
  return { ok: mismatches.length === 0, db: dbPath, recorded: failures, mismatches };
}

function introduction(options: DemoOptions, useQemu: boolean): string {
  if (useQemu) {
    return 'Real QEMU found: the guest-path VMs are real QEMU 7.2 guests (TCG); host-side failures need KVM and a poisoned page, so those VMs are simulated.\n';
  }
  return options.simulatorOnly
    ? "Simulator only (--simulator): every VM is memfail's QMP simulator.\n"
    : "qemu-system-x86_64 not found (run `bash scripts/setup.sh` to install it): every VM is memfail's QMP simulator.\n";
}

async function startVms(
  vms: Map<string, DemoVm>,
  useQemu: boolean,
  dir: string,
  out: (text: string) => void,
): Promise<void> {
  for (const spec of DEMO_VMS) {
    const kind: VmKind = useQemu && !spec.simulatorOnly ? 'qemu' : 'simulator';
    const vm = await startDemoVm(spec, kind, dir);
    vms.set(spec.name, vm);
    out(
      `  started ${spec.name.padEnd(9)} ${kind === 'qemu' ? 'QEMU     ' : 'simulator'}  ${spec.role}\n`,
    );
  }
}

/** Starts the agent's watcher on every VM; resolves once each is ready and connected. */
async function watchEveryVm(vms: Map<string, DemoVm>, recorder: Recorder): Promise<Watcher> {
  const watcher = new Watcher(
    [...vms.values()].map((vm) => ({ name: vm.spec.name, address: vm.watchAddress })),
    recorder.writer,
    { backoffInitialMs: 20, backoffMaxMs: 200 },
  );
  watcher.start();
  await Promise.all([...vms.values()].map((vm) => vm.waitReady()));
  await recorder.until(
    (_o, _i, all) => countConnected(all) >= vms.size,
    'every VM connected',
    30_000,
  );
  return watcher;
}

/** One scripted injection: inject, await its record and what follows; a mismatch, or null. */
async function runStep(
  s: DemoStep,
  step: number,
  vm: DemoVm,
  recorder: Recorder,
  options: DemoOptions,
): Promise<string | null> {
  options.out(`[${step}/${DEMO_STEPS.length}] ${s.vm}: ${s.what}\n`);
  const seen = recorder.recorded.length;
  await inject(vm.injector, s.fault, { settleMs: 0 });
  const failure = await recorder.until(
    (o, i) => i >= seen && o.kind === 'failure' && o.vm === s.vm,
    `the MEMORY_FAILURE from ${s.vm}`,
    options.stepTimeoutMs ?? 60_000,
  );
  if (s.after === 'reboot') {
    await recorder.until(
      (o, i) => i >= seen && o.kind === 'lifecycle' && o.vm === s.vm && o.event === 'RESET',
      `${s.vm} to reset`,
      30_000,
    );
    await vm.waitReady();
  }
  if (s.after === 'exit') {
    await recorder.until(
      (o, i) => i >= seen && o.kind === 'lifecycle' && o.vm === s.vm && o.event === 'DISCONNECTED',
      `${s.vm} to exit`,
      30_000,
    );
  }
  const got = failure.kind === 'failure' ? failure.failure : null;
  return sameFailure(got, s.expect)
    ? null
    : `step ${step} (${s.vm}): expected ${show(s.expect)}, got ${show(got)}`;
}

/** The agent's writer, and every observation it committed, shown as it lands. */
class Recorder {
  readonly writer: BatchWriter;
  readonly recorded: Observation[] = [];
  private readonly waiters: Array<() => void> = [];

  constructor(store: Store, out: (text: string) => void) {
    this.writer = new BatchWriter(store, { maxDelayMs: 5, minCommitIntervalMs: 0 });
    this.writer.onCommitted((batch) => {
      for (const obs of batch.observations) {
        this.recorded.push(obs);
        out(`${describeObservation(obs)}\n`);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** The first committed observation `match` accepts; rejects naming `what` after `timeoutMs`. */
  until(
    match: (o: Observation, index: number, all: readonly Observation[]) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<Observation> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      const check = () => {
        const found = this.recorded.find((o, i) => match(o, i, this.recorded));
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.writer.close();
  }
}

/** A fresh database per run, kept after the demo so its events can be explored. */
function defaultDemoDb(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return join(tmpdir(), `memfail-demo-${stamp}.db`);
}

function describeObservation(o: Observation): string {
  if (o.kind === 'failure') {
    if (o.failure === null)
      return `      ✗ ${o.vm}: unreadable MEMORY_FAILURE stored flagged (${o.error})`;
    const when = o.timestamp ?? new Date(o.receivedUs / 1000);
    return `      → ${explain(o.failure, { vm: o.vm, timestamp: when })}  [${o.dialect} dialect]`;
  }
  if (o.kind === 'gap') return `      · ${o.vm ?? 'every VM'}: gap in the record (${o.reason})`;
  return `      · ${o.vm}: ${o.event}${lifecycleDetail(o.data)}`;
}

function lifecycleDetail(data: unknown): string {
  if (data !== null && typeof data === 'object' && 'reason' in data) {
    return ` (${String((data as { reason: unknown }).reason)})`;
  }
  return '';
}

function countConnected(recorded: readonly Observation[]): number {
  return new Set(
    recorded.filter((o) => o.kind === 'lifecycle' && o.event === 'CONNECTED').map((o) => o.vm),
  ).size;
}

function sameFailure(a: MemoryFailure | null, b: MemoryFailure): boolean {
  return (
    a !== null &&
    a.recipient === b.recipient &&
    a.action === b.action &&
    a.actionRequired === b.actionRequired &&
    a.recursive === b.recursive
  );
}

function show(f: MemoryFailure | null): string {
  if (f === null) return 'nothing readable';
  return `(${f.recipient}, ${f.action}${f.actionRequired ? ', action-required' : ''}${f.recursive ? ', recursive' : ''})`;
}
