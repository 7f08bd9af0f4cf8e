/**
 * What happened to each VM: counts of its memory failures by recipient and
 * action, and for each failure what became of the VM, read from the lifecycle
 * events that followed it (a RESET, a SHUTDOWN, a panic, the connection
 * dropping without a SHUTDOWN), with explain()'s account of it.
 */
import { explain, outcome } from '../event/explain.js';
import {
  type Action,
  ACTIONS,
  type MemoryFailure,
  RECIPIENTS,
  type Recipient,
} from '../event/model.js';
import {
  microsToIso,
  type StoredFailure,
  type StoredGap,
  type StoredLifecycle,
} from './records.js';
import { jsonPieces, lazy } from './json-pieces.js';

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

/** A VM's counts that need no outcome: what SQL can add up (see Store.failureCounts). */
export interface VmCounts {
  readonly vm: string;
  readonly failures: number;
  readonly byRecipient: Record<Recipient, number>;
  readonly byAction: Record<Action, number>;
  readonly actionRequired: number;
  readonly recursive: number;
  readonly invalid: number;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
}

/** What an account needs of a stored failure (a StoredFailure has it all). */
export type ReportFailure = Pick<
  StoredFailure,
  'id' | 'vm' | 'failure' | 'timestamp' | 'receivedUs'
>;

/**
 * What a report reads, VM by VM, so that it never holds more than one VM's
 * window of lifecycle events: the counts, and the failures (readable ones
 * only) and lifecycle events of one VM, each in receipt order.
 */
export interface ReportSource {
  /** Every VM with a stored failure (readable or not), in any order. */
  vmCounts(): readonly VmCounts[];
  failures(vm: string): Iterable<ReportFailure>;
  lifecycle(vm: string): Iterable<StoredLifecycle>;
  /** Windows in which the record may be incomplete (a report without it has no gaps section). */
  gaps?(): readonly StoredGap[];
  /** How many observations the database refused (Store.quarantine); reported with the gaps. */
  quarantined?(): number;
}

/** Gap lines a text report prints at most; JSON lists them all. */
const GAP_LINES = 20;

function gapLine(g: StoredGap): string {
  return `  ${g.from} .. ${g.to}  ${g.vm ?? 'every VM'}  ${g.reason}${g.detail === null ? '' : `: ${g.detail}`}`;
}

/**
 * Builds the report from every stored failure (valid and flagged) and
 * lifecycle event. Both lists must be in receipt order (as Store returns them).
 * For a database of any size, see reportText.
 */
export function buildReport(
  failures: readonly StoredFailure[],
  lifecycle: readonly StoredLifecycle[],
  options: ReportOptions = {},
): Report {
  const source = arraySource(failures, lifecycle);
  const horizonUs = horizon(options);
  const vms: VmReport[] = [];
  for (const counts of sortedVms(source)) {
    const accounts = [...accountsOf(source, counts.vm, horizonUs, true)];
    vms.push({ ...withOutcomes(counts, outcomeCounts(accounts)), accounts });
  }
  return { overall: overallOf(vms), vms };
}

/**
 * The report as text pieces (text, or JSON exactly as
 * JSON.stringify(buildReport(...), null, 2) prints it), reading each VM's
 * rows twice: once to count the outcomes (they come before the accounts),
 * once for the accounts. Memory does not grow with the number of failures.
 */
export function* reportText(
  source: ReportSource,
  options: ReportOptions & { readonly json?: boolean } = {},
): Generator<string> {
  const horizonUs = horizon(options);
  const vms = sortedVms(source).map((counts) => {
    const byOutcome = zeros(OBSERVED_OUTCOMES);
    for (const a of accountsOf(source, counts.vm, horizonUs, false)) byOutcome[a.outcome]++;
    return withOutcomes(counts, byOutcome);
  });
  const json = options.json === true;
  const record: RecordState = { gaps: source.gaps?.(), quarantined: source.quarantined?.() };
  yield* headPieces(overallOf(vms), json, record);
  for (let i = 0; i < vms.length; i++) {
    yield* vmPieces(vms[i]!, i, accountsOf(source, vms[i]!.vm, horizonUs, true), json);
  }
  yield* tailPieces(vms.length, json, record);
}

/** What a store knows of its own completeness (a SQLite store; the fleet's has neither yet). */
interface RecordState {
  readonly gaps: readonly StoredGap[] | undefined;
  readonly quarantined: number | undefined;
}

const NO_RECORD_STATE: RecordState = { gaps: undefined, quarantined: undefined };

/**
 * What an asynchronous store (PostgreSQL) gives a report: the counts, and one
 * VM's readable failures and lifecycle events at a time, each in receipt order.
 */
export interface AsyncReportSource {
  vmCounts(): Promise<readonly VmCounts[]>;
  load(vm: string): Promise<{
    readonly failures: readonly ReportFailure[];
    readonly lifecycle: readonly StoredLifecycle[];
  }>;
}

/**
 * reportText() over an AsyncReportSource, piece for piece the same output.
 * Holds one VM's rows at a time (each VM is loaded twice, as reportText reads twice).
 */
export async function* reportTextAsync(
  source: AsyncReportSource,
  options: ReportOptions & { readonly json?: boolean } = {},
): AsyncGenerator<string> {
  const horizonUs = horizon(options);
  const one = async (vm: string): Promise<ReportSource> => {
    const rows = await source.load(vm);
    return { vmCounts: () => [], failures: () => rows.failures, lifecycle: () => rows.lifecycle };
  };
  const counts = [...(await source.vmCounts())].sort((a, b) =>
    a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0,
  );
  const vms: VmReportHead[] = [];
  for (const c of counts) {
    const byOutcome = zeros(OBSERVED_OUTCOMES);
    for (const a of accountsOf(await one(c.vm), c.vm, horizonUs, false)) byOutcome[a.outcome]++;
    vms.push(withOutcomes(c, byOutcome));
  }
  const json = options.json === true;
  yield* headPieces(overallOf(vms), json, NO_RECORD_STATE);
  for (let i = 0; i < vms.length; i++) {
    const vm = vms[i]!;
    yield* vmPieces(vm, i, accountsOf(await one(vm.vm), vm.vm, horizonUs, true), json);
  }
  yield* tailPieces(vms.length, json, NO_RECORD_STATE);
}

function* headPieces(
  overall: Report['overall'],
  json: boolean,
  { gaps, quarantined }: RecordState,
): Generator<string> {
  if (json) {
    yield `{\n  "overall": ${indent(JSON.stringify(overall, null, 2), 2)},\n  "vms": [`;
    return;
  }
  yield overallLines(overall).join('\n');
  if (quarantined !== undefined && quarantined > 0) {
    yield `\n  quarantined:  ${quarantined} observation${quarantined === 1 ? '' : 's'} the database refused, kept with the reason in its quarantine table`;
  }
  if (gaps !== undefined && gaps.length > 0) {
    yield `\n\n${gaps.length} gap${gaps.length === 1 ? '' : 's'} in the record (events in them may be missing):`;
    for (const g of gaps.slice(-GAP_LINES)) yield `\n${gapLine(g)}`;
    if (gaps.length > GAP_LINES) yield `\n  (the ${GAP_LINES} latest shown; --json lists all)`;
    yield '\n';
  }
}

function* vmPieces(
  vm: VmReportHead,
  i: number,
  accounts: Iterable<FailureAccount>,
  json: boolean,
): Generator<string> {
  if (!json) {
    yield `\n${vmLines(vm).join('\n')}`;
    for (const a of accounts) yield `\n${accountLine(a)}`;
    return;
  }
  yield `${i === 0 ? '\n' : ',\n'}    `;
  yield* jsonPieces({ ...vm, accounts: lazy(accounts) }, 2);
}

function* tailPieces(
  vms: number,
  json: boolean,
  { gaps, quarantined }: RecordState,
): Generator<string> {
  if (!json) {
    yield '\n';
    return;
  }
  const more = [
    ...(gaps === undefined ? [] : [`"gaps": ${indent(JSON.stringify(gaps, null, 2), 2)}`]),
    ...(quarantined === undefined ? [] : [`"quarantined": ${quarantined}`]),
  ];
  yield `${vms === 0 ? ']' : '\n  ]'}${more.map((m) => `,\n  ${m}`).join('')}\n}\n`;
}

function indent(json: string, by: number): string {
  return json.replaceAll('\n', `\n${' '.repeat(by)}`);
}

function horizon(options: ReportOptions): number {
  return (options.horizonMs ?? DEFAULT_HORIZON_MS) * 1000;
}

function sortedVms(source: ReportSource): VmCounts[] {
  return [...source.vmCounts()].sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
}

function withOutcomes(counts: VmCounts, byOutcome: Record<ObservedOutcome, number>): VmReportHead {
  // Member order is the JSON's: the tally's, with the VM first.
  return {
    vm: counts.vm,
    failures: counts.failures,
    byRecipient: counts.byRecipient,
    byAction: counts.byAction,
    actionRequired: counts.actionRequired,
    recursive: counts.recursive,
    byOutcome,
    invalid: counts.invalid,
    firstSeen: counts.firstSeen,
    lastSeen: counts.lastSeen,
  };
}

type VmReportHead = Omit<VmReport, 'accounts'>;

/** The sum over VMs. */
function overallOf(vms: readonly VmReportHead[]): Report['overall'] {
  const byRecipient = zeros(RECIPIENTS);
  const byAction = zeros(ACTIONS);
  const byOutcome = zeros(OBSERVED_OUTCOMES);
  let failures = 0;
  let actionRequired = 0;
  let recursive = 0;
  let invalid = 0;
  let firstSeen: string | null = null;
  let lastSeen: string | null = null;
  for (const v of vms) {
    failures += v.failures;
    actionRequired += v.actionRequired;
    recursive += v.recursive;
    invalid += v.invalid;
    addInto(byRecipient, v.byRecipient);
    addInto(byAction, v.byAction);
    addInto(byOutcome, v.byOutcome);
    if (v.firstSeen !== null && (firstSeen === null || v.firstSeen < firstSeen))
      firstSeen = v.firstSeen;
    if (v.lastSeen !== null && (lastSeen === null || v.lastSeen > lastSeen)) lastSeen = v.lastSeen;
  }
  return {
    failures,
    byRecipient,
    byAction,
    actionRequired,
    recursive,
    byOutcome,
    invalid,
    firstSeen,
    lastSeen,
    vms: vms.length,
  };
}

function addInto<K extends string>(sum: Record<K, number>, add: Record<K, number>): void {
  for (const k of Object.keys(add) as K[]) sum[k] += add[k];
}

function outcomeCounts(accounts: readonly FailureAccount[]): Record<ObservedOutcome, number> {
  const byOutcome = zeros(OBSERVED_OUTCOMES);
  for (const a of accounts) byOutcome[a.outcome]++;
  return byOutcome;
}

/**
 * The VM's accounts, in receipt order. Walks its failures and lifecycle
 * events together, keeping only the events that may still decide an outcome:
 * those from the current failure on, up to its horizon. Without
 * `explained`, the explanation is left empty (counting outcomes needs none).
 */
function* accountsOf(
  source: ReportSource,
  vm: string,
  horizonUs: number,
  explained: boolean,
): Generator<FailureAccount> {
  const events = source.lifecycle(vm)[Symbol.iterator]();
  const failures = source.failures(vm)[Symbol.iterator]();
  try {
    const window: StoredLifecycle[] = [];
    let ahead: StoredLifecycle | undefined = nextOf(events);
    let f = nextOf(failures);
    while (f !== undefined) {
      const next = nextOf(failures);
      const from = f.receivedUs;
      const until = Math.min(next?.receivedUs ?? Number.POSITIVE_INFINITY, from + horizonUs);
      let drop = 0;
      while (drop < window.length && window[drop]!.receivedUs < from) drop++;
      if (drop > 0) window.splice(0, drop);
      while (ahead !== undefined && ahead.receivedUs <= until) {
        if (ahead.receivedUs >= from) window.push(ahead);
        ahead = nextOf(events);
      }
      yield account(f, window, until, explained);
      f = next;
    }
  } finally {
    // Unread rows are left: end the queries (SQLite statements stay busy otherwise).
    events.return?.();
    failures.return?.();
  }
}

function nextOf<T>(it: Iterator<T>): T | undefined {
  const r = it.next();
  return r.done ? undefined : r.value;
}

/** An in-memory ReportSource over lists in receipt order. */
function arraySource(
  failures: readonly StoredFailure[],
  lifecycle: readonly StoredLifecycle[],
): ReportSource {
  const failuresByVm = groupByVm(failures);
  const lifecycleByVm = groupByVm(lifecycle);
  return {
    vmCounts: () => [...failuresByVm].map(([vm, own]) => countsOf(vm, own)),
    failures: (vm) => (failuresByVm.get(vm) ?? []).filter((f) => f.failure !== null),
    lifecycle: (vm) => lifecycleByVm.get(vm) ?? [],
  };
}

function countsOf(vm: string, stored: readonly StoredFailure[]): VmCounts {
  const byRecipient = zeros(RECIPIENTS);
  const byAction = zeros(ACTIONS);
  let failures = 0;
  let actionRequired = 0;
  let recursive = 0;
  for (const { failure: f } of stored) {
    if (f === null) continue;
    failures++;
    byRecipient[f.recipient]++;
    byAction[f.action]++;
    if (f.actionRequired) actionRequired++;
    if (f.recursive) recursive++;
  }
  const times = stored.map((f) => f.timestampIso ?? f.receivedAt).sort();
  return {
    vm,
    failures,
    byRecipient,
    byAction,
    actionRequired,
    recursive,
    invalid: stored.filter((f) => !f.valid).length,
    firstSeen: times[0] ?? null,
    lastSeen: times[times.length - 1] ?? null,
  };
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

/** `window` holds the VM's lifecycle events received from `f` on, up to `until`. */
function account(
  f: ReportFailure,
  window: readonly StoredLifecycle[],
  until: number,
  explained: boolean,
): FailureAccount {
  const failure = f.failure!;
  let outcome: ObservedOutcome = expected(failure);
  let evidence: Evidence | null = null;
  for (const e of window) {
    if (e.receivedUs > until) break;
    const decided = decisive(e);
    if (decided === null) continue;
    outcome = decided;
    evidence = { event: e.event, receivedAt: e.receivedAt };
    break;
  }
  const ts = f.timestamp;
  return {
    id: f.id,
    vm: f.vm,
    // The QMP time as the store prints it (timestampIso), else the receipt time.
    timestamp: microsToIso(ts === null ? f.receivedUs : ts.seconds * 1_000_000 + ts.microseconds),
    failure,
    outcome,
    evidence,
    explanation: explained
      ? explain(failure, { vm: f.vm, timestamp: ts ?? new Date(Math.floor(f.receivedUs / 1000)) })
      : '',
  };
}

/** The outcome the action implies when no lifecycle event says otherwise. */
function expected(f: MemoryFailure): ObservedOutcome {
  return outcome(f);
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

/** A count of 0 for each key. */
export function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function overallLines(o: Report['overall']): string[] {
  return [
    `${plural(o.failures, 'memory failure')} on ${plural(o.vms, 'VM')}` +
      (o.firstSeen ? `, ${o.firstSeen} .. ${o.lastSeen}` : ''),
    ...tallyLines(o, '  '),
  ];
}

/** A blank line, the VM's heading and its counts. */
function vmLines(vm: VmReportHead): string[] {
  return [
    '',
    `${vm.vm}: ${plural(vm.failures, 'memory failure')}` +
      (vm.firstSeen ? `, first ${vm.firstSeen}, last ${vm.lastSeen}` : ''),
    ...tallyLines(vm, '  '),
  ];
}

function accountLine(a: FailureAccount): string {
  return `  ${a.timestamp}  ${a.outcome.padEnd(18)} ${a.explanation}`;
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
