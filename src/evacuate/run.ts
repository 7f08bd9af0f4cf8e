/**
 * `memfail evacuate HOST`: plans where each of HOST's VMs goes, records the
 * plan, and moves them a few at a time through a driver, recording every
 * step. Run again after an interruption, it first settles the steps that
 * were under way (the driver finds where each VM ended up), then carries on
 * with what is left; run again after it finished, it finds nothing to do.
 */
import { existsSync } from 'node:fs';
import { Store } from '../agent/store.js';
import type { HostHealth } from '../health/evaluate.js';
import { hostHealth } from '../health/host.js';
import type { Policy } from '../health/policy.js';
import type { MigrationDriver, MigrationJob, MigrationResult } from './driver.js';
import { hostOf, type Inventory, loadInventory, moveVm } from './inventory.js';
import type { DrainGate } from './drain.js';
import { type Evacuation, Journal, type Step } from './journal.js';
import { type Candidate, type Plan, planMoves } from './plan.js';

export interface EvacuateOptions {
  readonly host: string;
  readonly inventoryPath: string;
  /** The SQLite file the journal lives in (the agent's store, usually). */
  readonly journalPath: string;
  readonly driver: MigrationDriver;
  readonly policy: Policy;
  /** Destinations the operator names (default: every other host in the inventory). */
  readonly to?: readonly string[];
  /** Migrations at once. */
  readonly parallel: number;
  readonly dryRun?: boolean;
  /** Why (recorded): "operator", or the health verdict that tipped the host. */
  readonly reason: string;
  /** Hosts that may drain at once, counted in the journal (default: no limit)… */
  readonly drainLimit?: number;
  /** …and also in this gate, when hosts share no journal (PostgreSQL: fleet/drain-pg.ts). */
  readonly drainGate?: DrainGate;
  readonly out: (line: string) => void;
}

export type EvacuationOutcome = 'done' | 'incomplete' | 'nothing-to-do' | 'drain-limit' | 'dry-run';

export interface EvacuationSummary {
  readonly outcome: EvacuationOutcome;
  readonly id: number | null;
  readonly completed: readonly string[];
  readonly skipped: readonly string[];
  readonly failed: readonly { readonly vm: string; readonly detail: string }[];
  /** VMs still on the host when it ended (failed, unplaced). */
  readonly left: readonly string[];
  readonly plan: Plan | null;
}

export class EvacuateError extends Error {
  override name = 'EvacuateError';
}

/** Health of every inventory host with a readable store (null where there is none). */
export function inventoryHealth(
  inv: Inventory,
  policy: Policy,
  now = new Date(),
): Map<string, HostHealth | null> {
  const out = new Map<string, HostHealth | null>();
  for (const [host, spec] of Object.entries(inv.hosts)) {
    if (spec.db === undefined || !existsSync(spec.db)) {
      out.set(host, null);
      continue;
    }
    const store = Store.open(spec.db, { mustExist: true });
    try {
      out.set(host, hostHealth(store, policy, host, now));
    } finally {
      store.close();
    }
  }
  return out;
}

export async function evacuate(opts: EvacuateOptions): Promise<EvacuationSummary> {
  const { host, out } = opts;
  const inv = loadInventory(opts.inventoryPath);
  if (!(host in inv.hosts)) throw new EvacuateError(`no host "${host}" in ${opts.inventoryPath}`);
  for (const t of opts.to ?? []) {
    if (!(t in inv.hosts))
      throw new EvacuateError(`--to ${t}: no such host in ${opts.inventoryPath}`);
    if (t === host) throw new EvacuateError(`--to ${t}: that is the host being evacuated`);
  }
  const journal =
    opts.dryRun && !existsSync(opts.journalPath) ? null : Journal.open(opts.journalPath);
  try {
    const existing = journal?.running(host) ?? null;
    const steps = new Map<string, Step>(
      existing === null ? [] : journal!.steps(existing.id).map((s) => [s.vm, s]),
    );
    const toPlace = Object.keys(inv.hosts[host]!.vms).filter(
      (vm) => steps.get(vm)?.state !== 'started',
    );
    const plan = planMoves(host, toPlace, candidates(inv, opts));

    if (opts.dryRun) {
      printPlan(out, host, plan, steps, opts);
      return summary('dry-run', existing?.id ?? null, [], [], [], toPlace, plan);
    }
    if (existing === null && toPlace.length === 0) {
      out(`${host}: no VMs to evacuate`);
      return summary('nothing-to-do', null, [], [], [], [], plan);
    }
    const gate = opts.drainGate;
    if (gate !== undefined) {
      const limit = opts.drainLimit ?? Number.POSITIVE_INFINITY;
      let held: { readonly draining: readonly string[] } | null;
      try {
        held = await gate.enter(host, limit, existing?.reason ?? opts.reason);
      } catch (err) {
        // Held back like a full limit: whoever asked tries again later.
        out(
          `${host}: not evacuating: the drain limit in ${gate.where} cannot be read: ${(err as Error).message}`,
        );
        return summary('drain-limit', null, [], [], [], toPlace, plan);
      }
      if (held !== null) {
        out(
          `${host}: not evacuating: ${held.draining.length} host${held.draining.length === 1 ? '' : 's'} already draining ` +
            `in ${gate.where} (${held.draining.join(', ')}), the drain limit is ${limit}`,
        );
        return summary('drain-limit', null, [], [], [], toPlace, plan);
      }
    }
    // The gate's lease is renewed while the host drains, and left when it is
    // done (or was not begun); a throw keeps it until it expires unrenewed:
    // the journal still says running, and a later run resumes it.
    const renewing =
      gate === undefined
        ? null
        : setInterval(() => {
            gate.renew(host).catch((err: unknown) => {
              out(`  drain lease in ${gate.where} not renewed: ${(err as Error).message}`);
            });
          }, gate.renewMs);
    try {
      const result = await drain(opts, journal!, existing, steps, toPlace, plan, inv);
      await gate?.leave(host).catch((err: unknown) => {
        out(
          `  ${host}'s place in ${gate.where} not given back (it expires): ${(err as Error).message}`,
        );
      });
      return result;
    } finally {
      if (renewing !== null) clearInterval(renewing);
    }
  } finally {
    journal?.close();
  }
}

/** Begins (or resumes) the evacuation in the journal and moves the VMs. */
async function drain(
  opts: EvacuateOptions,
  j: Journal,
  existing: Evacuation | null,
  steps: Map<string, Step>,
  toPlace: readonly string[],
  plan: Plan,
  invAtStart: Inventory,
): Promise<EvacuationSummary> {
  const { host, out } = opts;
  let inv = invAtStart;
  let id: number;
  if (existing !== null) {
    id = existing.id;
    out(`${host}: resuming evacuation ${id}; why: ${existing.reason}`);
  } else {
    const begun = j.begin(host, opts.driver.name, opts.reason, plan.moves, opts.drainLimit);
    if (typeof begun !== 'number') {
      out(
        `${host}: not evacuating: ${begun.draining.length} host${begun.draining.length === 1 ? '' : 's'} already draining ` +
          `(${begun.draining.join(', ')}), the drain limit is ${opts.drainLimit}`,
      );
      return summary('drain-limit', null, [], [], [], toPlace, plan);
    }
    id = begun;
    for (const s of j.steps(id)) steps.set(s.vm, s);
    const n = `${toPlace.length} VM${toPlace.length === 1 ? '' : 's'}`;
    out(
      `${host}: evacuating ${n}, driver ${opts.driver.name}, ${opts.parallel} at a time; why: ${opts.reason}`,
    );
  }
  for (const r of plan.refused) out(`  not ${r.host}: ${r.why}`);
  const note = (vm: string) => (text: string) => {
    j.note(id, vm, text);
    out(`  ${vm}: ${text}`);
  };

  // 1. Steps under way when memfail stopped: find where each VM is.
  const retry: string[] = [];
  for (const step of steps.values()) {
    if (step.state !== 'started') continue;
    inv = loadInventory(opts.inventoryPath);
    if (hostOf(inv, step.vm) === step.dest) {
      j.setStep(id, step.vm, 'completed', `found on ${step.dest} already`);
      continue;
    }
    const job = jobFor(inv, host, step.vm, step.dest);
    const res = await opts.driver.recover(job, note(step.vm));
    if (res.ok) settle(opts, j, id, job, res);
    else if (res.runsOn === 'source') {
      note(step.vm)(`${res.detail}; migrating it again`);
      retry.push(step.vm);
    } else j.setStep(id, step.vm, 'failed', `${res.detail} [runs on: ${res.runsOn}]`);
  }

  // 2. Everything still on the host, a few at a time.
  const moves = new Map(plan.moves.map((m) => [m.vm, m.dest]));
  if (retry.length > 0) {
    const again = planMoves(host, retry, candidates(loadInventory(opts.inventoryPath), opts));
    for (const m of again.moves) moves.set(m.vm, m.dest);
  }
  for (const vm of [...toPlace, ...retry]) {
    const s = steps.get(vm);
    if (s === undefined && moves.has(vm)) j.addStep(id, vm, moves.get(vm)!);
    if (!moves.has(vm)) {
      if (s === undefined) j.addStep(id, vm, '-');
      j.setStep(id, vm, 'failed', 'no healthy destination host');
    }
  }
  const queue = [...moves.entries()].filter(([vm]) => toPlace.includes(vm) || retry.includes(vm));
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [vm, planned] = next;
      // Hosts fail while others drain: judge the destination again, just before.
      const inv = loadInventory(opts.inventoryPath);
      // The planned host stays first choice (load -1) while it is still eligible.
      const now = planMoves(host, [vm], candidates(inv, opts), new Map([[planned, -1]]));
      const dest = now.moves[0]?.dest;
      if (dest === undefined) {
        j.setStep(id, vm, 'failed', 'no healthy destination host any more');
        out(`  ${vm}: no healthy destination host any more`);
        continue;
      }
      if (dest !== planned) note(vm)(`${planned} is no longer a destination; ${dest} instead`);
      const job = jobFor(inv, host, vm, dest);
      const check = await opts.driver.check(job);
      if (!check.running) {
        j.setStep(id, vm, 'skipped', `not running: ${check.why}`, dest);
        out(`  ${vm}: skipped, not running (${check.why})`);
        continue;
      }
      j.setStep(id, vm, 'started', `to ${dest}`, dest);
      out(`  ${vm} → ${dest}: started`);
      const res = await opts.driver.migrate(job, note(vm));
      if (res.ok) settle(opts, j, id, job, res);
      else {
        j.setStep(id, vm, 'failed', `${res.detail} [runs on: ${res.runsOn}]`);
        out(`  ${vm} → ${dest}: FAILED: ${res.detail}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.parallel) }, worker));

  // 3. The end: recorded with what is left, if anything.
  const final = j.steps(id);
  const completed = final.filter((s) => s.state === 'completed').map((s) => s.vm);
  const skipped = final.filter((s) => s.state === 'skipped').map((s) => s.vm);
  const failed = final
    .filter((s) => s.state === 'failed')
    .map((s) => ({ vm: s.vm, detail: s.detail }));
  const left = Object.keys(loadInventory(opts.inventoryPath).hosts[host]!.vms).filter(
    (vm) => !skipped.includes(vm),
  );
  const tally = `${completed.length} migrated, ${skipped.length} skipped, ${failed.length} failed`;
  if (failed.length === 0 && left.length === 0) {
    j.finish(id, 'done', tally);
    out(`${host}: evacuated (${tally})`);
    return summary('done', id, completed, skipped, failed, left, plan);
  }
  const what = `${tally}; left on ${host}: ${left.join(', ') || 'none'}`;
  j.finish(id, 'incomplete', what);
  out(`${host}: evacuation incomplete (${what})`);
  for (const f of failed) out(`  ${f.vm}: ${f.detail}`);
  return summary('incomplete', id, completed, skipped, failed, left, plan);
}

function settle(
  opts: EvacuateOptions,
  j: Journal,
  id: number,
  job: MigrationJob,
  res: MigrationResult,
): void {
  // The inventory first: a kill between the two leaves a step `started` whose
  // VM the inventory already places on its destination, which resume reads as done.
  moveVm(opts.inventoryPath, job.vm, job.to, res.spec ?? job.spec);
  j.setStep(id, job.vm, 'completed', res.detail);
  opts.out(`  ${job.vm} → ${job.to}: completed, ${res.detail}`);
}

function candidates(inv: Inventory, opts: EvacuateOptions): Candidate[] {
  const health = inventoryHealth(inv, opts.policy);
  const named = opts.to ?? [];
  const hosts = named.length > 0 ? named : Object.keys(inv.hosts);
  return hosts.map((h) => ({
    host: h,
    health: health.get(h) ?? null,
    named: named.includes(h),
    load: Object.keys(inv.hosts[h]?.vms ?? {}).length,
  }));
}

function jobFor(inv: Inventory, from: string, vm: string, to: string): MigrationJob {
  const source = inv.hosts[from];
  const dest = inv.hosts[to];
  if (source === undefined || dest === undefined)
    throw new EvacuateError(`no host "${to}" in the inventory`);
  const spec = source.vms[vm];
  if (spec === undefined)
    throw new EvacuateError(`VM "${vm}" is not on "${from}" in the inventory`);
  return { vm, from, to, spec, source, dest };
}

function printPlan(
  out: (line: string) => void,
  host: string,
  plan: Plan,
  steps: ReadonlyMap<string, Step>,
  opts: EvacuateOptions,
): void {
  out(
    `${host}: plan (dry run; nothing is moved or recorded), driver ${opts.driver.name}, ${opts.parallel} at a time`,
  );
  for (const r of plan.refused) out(`  not ${r.host}: ${r.why}`);
  for (const s of steps.values())
    if (s.state === 'started')
      out(`  ${s.vm} → ${s.dest}: under way when memfail stopped; would be settled first`);
  for (const m of plan.moves) out(`  ${m.vm} → ${m.dest}`);
  for (const vm of plan.unplaced) out(`  ${vm}: no healthy destination`);
  if (plan.moves.length === 0 && plan.unplaced.length === 0) out('  no VMs to evacuate');
}

function summary(
  outcome: EvacuationOutcome,
  id: number | null,
  completed: string[],
  skipped: string[],
  failed: { vm: string; detail: string }[],
  left: readonly string[],
  plan: Plan | null,
): EvacuationSummary {
  return { outcome, id, completed, skipped, failed, left, plan };
}
