/**
 * What happened to each VM: counts of its memory failures by recipient and
 * action, and for each failure what became of the VM, read from the lifecycle
 * events that followed it (a RESET, a SHUTDOWN, a panic, the connection
 * dropping without a SHUTDOWN), with explain()'s account of it.
 */
import { explain } from '../event/explain.js';
import {
  type Action,
  ACTIONS,
  type MemoryFailure,
  RECIPIENTS,
  type Recipient,
} from '../event/model.js';
import type { StoredFailure, StoredLifecycle } from './records.js';

/**
 * What became of the VM after a failure, as observed (not merely as the action
 * implies): `guest-handled` — a machine check was injected and nothing bad
 * followed; `guest-reset` — a RESET (or a SHUTDOWN caused by a guest reset,
 * as with -no-reboot) followed; `guest-panicked` — GUEST_PANICKED followed;
 * `vm-shut-down` — an orderly SHUTDOWN for another reason; `vm-died` — the QMP
 * connection closed with no SHUTDOWN (QEMU exited, as after `fatal`);
 * `*-ignored` — QEMU ignored it and nothing followed.
 */
export type ObservedOutcome =
  | 'guest-handled'
  | 'guest-ignored'
  | 'hypervisor-ignored'
  | 'guest-reset'
  | 'guest-panicked'
  | 'vm-shut-down'
  | 'vm-died';

export const OBSERVED_OUTCOMES: readonly ObservedOutcome[] = [
  'guest-handled',
  'guest-ignored',
  'hypervisor-ignored',
  'guest-reset',
  'guest-panicked',
  'vm-shut-down',
  'vm-died',
];

/** Lifecycle events later than this after a failure are not taken as its consequence. */
export const DEFAULT_HORIZON_MS = 60_000;

export interface Evidence {
  readonly event: StoredLifecycle['event'];
  readonly receivedAt: string;
}

export interface FailureAccount {
  readonly id: number;
  readonly vm: string;
  /** QMP timestamp, ISO 8601. */
  readonly timestamp: string;
  readonly failure: MemoryFailure;
  readonly outcome: ObservedOutcome;
  /** The lifecycle event the outcome was read from; null when the action alone decided it. */
  readonly evidence: Evidence | null;
  readonly explanation: string;
}

export interface Tally {
  readonly failures: number;
  readonly byRecipient: Record<Recipient, number>;
  readonly byAction: Record<Action, number>;
  readonly actionRequired: number;
  readonly recursive: number;
  readonly byOutcome: Record<ObservedOutcome, number>;
  /** Events that failed validation (stored flagged; counted above when still readable). */
  readonly invalid: number;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
}

export interface VmReport extends Tally {
  readonly vm: string;
  readonly accounts: readonly FailureAccount[];
}

export interface Report {
  readonly overall: Tally & { readonly vms: number };
  readonly vms: readonly VmReport[];
}

export interface ReportOptions {
  readonly horizonMs?: number;
}

/**
 * Builds the report from every stored failure (valid and flagged) and
 * lifecycle event. Both lists must be in receipt order (as Store returns them).
 */
export function buildReport(
  failures: readonly StoredFailure[],
  lifecycle: readonly StoredLifecycle[],
  options: ReportOptions = {},
): Report {
  const horizonUs = (options.horizonMs ?? DEFAULT_HORIZON_MS) * 1000;
  const failuresByVm = groupByVm(failures);
  const lifecycleByVm = groupByVm(lifecycle);
  const vms: VmReport[] = [];
  for (const vm of [...failuresByVm.keys()].sort()) {
    const own = failuresByVm.get(vm)!;
    const events = lifecycleByVm.get(vm) ?? [];
    const valid = own.filter((f) => f.failure !== null);
    // Both lists are in receipt order: walk the events once, not once per failure.
    let first = 0;
    const accounts = valid.map((f, i) => {
      while (first < events.length && events[first]!.receivedUs < f.receivedUs) first++;
      return account(f, valid[i + 1] ?? null, events, first, horizonUs);
    });
    vms.push({ vm, ...tally(accounts, own), accounts });
  }
  const all = vms.flatMap((v) => v.accounts);
  return { overall: { ...tally(all, failures), vms: vms.length }, vms };
}

function groupByVm<T extends { readonly vm: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.vm);
    if (group) group.push(item);
    else groups.set(item.vm, [item]);
  }
  return groups;
}

/** `events[first]` is the VM's first lifecycle event received at or after `f`. */
function account(
  f: StoredFailure,
  next: StoredFailure | null,
  events: readonly StoredLifecycle[],
  first: number,
  horizonUs: number,
): FailureAccount {
  const failure = f.failure!;
  const until = Math.min(next?.receivedUs ?? Number.POSITIVE_INFINITY, f.receivedUs + horizonUs);
  let outcome: ObservedOutcome = expected(failure);
  let evidence: Evidence | null = null;
  for (let k = first; k < events.length && events[k]!.receivedUs <= until; k++) {
    const e = events[k]!;
    const decided = decisive(e);
    if (decided === null) continue;
    outcome = decided;
    evidence = { event: e.event, receivedAt: e.receivedAt };
    break;
  }
  const timestamp = f.timestamp ?? new Date(Math.floor(f.receivedUs / 1000));
  return {
    id: f.id,
    vm: f.vm,
    timestamp: f.timestampIso ?? f.receivedAt,
    failure,
    outcome,
    evidence,
    explanation: explain(failure, { vm: f.vm, timestamp }),
  };
}

/** The outcome the action implies when no lifecycle event says otherwise. */
function expected(f: MemoryFailure): ObservedOutcome {
  switch (f.action) {
    case 'inject':
      return 'guest-handled';
    case 'reset':
      return 'guest-reset';
    case 'fatal':
      return 'vm-died';
    case 'ignore':
      return f.recipient === 'guest' ? 'guest-ignored' : 'hypervisor-ignored';
  }
}

/** SHUTDOWN reasons that mean the guest reset (and -no-reboot turned it into an exit). */
const RESET_REASONS = new Set(['guest-reset', 'host-qmp-system-reset', 'host-signal-reset']);

function decisive(e: StoredLifecycle): ObservedOutcome | null {
  switch (e.event) {
    case 'RESET':
      return 'guest-reset';
    case 'GUEST_PANICKED':
      return 'guest-panicked';
    case 'SHUTDOWN': {
      const reason = isRecord(e.data) ? e.data.reason : undefined;
      return typeof reason === 'string' && RESET_REASONS.has(reason)
        ? 'guest-reset'
        : 'vm-shut-down';
    }
    case 'DISCONNECTED':
      // The agent stopping is not the VM dying; only the VM closing the connection is.
      return isRecord(e.data) && e.data.reason === 'agent-stopped' ? null : 'vm-died';
    default:
      return null;
  }
}

function tally(accounts: readonly FailureAccount[], stored: readonly StoredFailure[]): Tally {
  const byRecipient = zeros(RECIPIENTS);
  const byAction = zeros(ACTIONS);
  const byOutcome = zeros(OBSERVED_OUTCOMES);
  let actionRequired = 0;
  let recursive = 0;
  for (const a of accounts) {
    byRecipient[a.failure.recipient]++;
    byAction[a.failure.action]++;
    byOutcome[a.outcome]++;
    if (a.failure.actionRequired) actionRequired++;
    if (a.failure.recursive) recursive++;
  }
  const times = stored.map((f) => f.timestampIso ?? f.receivedAt).sort();
  return {
    failures: accounts.length,
    byRecipient,
    byAction,
    actionRequired,
    recursive,
    byOutcome,
    invalid: stored.filter((f) => !f.valid).length,
    firstSeen: times[0] ?? null,
    lastSeen: times[times.length - 1] ?? null,
  };
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The report as text: totals, then each VM with one line per failure. */
export function formatReport(report: Report): string {
  const lines: string[] = [];
  const o = report.overall;
  lines.push(
    `${plural(o.failures, 'memory failure')} on ${plural(o.vms, 'VM')}` +
      (o.firstSeen ? `, ${o.firstSeen} .. ${o.lastSeen}` : ''),
  );
  lines.push(...tallyLines(o, '  '));
  for (const vm of report.vms) {
    lines.push('');
    lines.push(
      `${vm.vm}: ${plural(vm.failures, 'memory failure')}` +
        (vm.firstSeen ? `, first ${vm.firstSeen}, last ${vm.lastSeen}` : ''),
    );
    lines.push(...tallyLines(vm, '  '));
    for (const a of vm.accounts) {
      lines.push(`  ${a.timestamp}  ${a.outcome.padEnd(18)} ${a.explanation}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function tallyLines(t: Tally, indent: string): string[] {
  return [
    `${indent}by recipient: ${counts(t.byRecipient)}`,
    `${indent}by action:    ${counts(t.byAction)}`,
    `${indent}action-required: ${t.actionRequired}, recursive: ${t.recursive}, invalid (stored flagged): ${t.invalid}`,
    `${indent}outcomes:     ${counts(t.byOutcome, true)}`,
  ];
}

function counts(record: Record<string, number>, skipZero = false): string {
  const parts = Object.entries(record)
    .filter(([, n]) => !skipZero || n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
