/**
 * Plain-language accounts of a MEMORY_FAILURE: when, where, why and what
 * happened next, for people reading reports and alerts.
 */
import { type MemoryFailure, type QmpTimestamp, timestampToDate } from './model.js';
import { reachableInQemu } from './reachable.js';

/** What became of the VM, in one word, for reports and metrics labels. */
export type Outcome =
  | 'guest-handled'
  | 'guest-ignored'
  | 'guest-reset'
  | 'vm-died'
  | 'hypervisor-ignored';
export const OUTCOMES: readonly Outcome[] = [
  'guest-handled',
  'guest-ignored',
  'guest-reset',
  'vm-died',
  'hypervisor-ignored',
];

/**
 * The outcome follows the action; only `ignore` needs the recipient to say who
 * ignored it. `fatal` always means QEMU exited, whoever the recipient.
 */
export function outcome(f: MemoryFailure): Outcome {
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

export interface ExplainContext {
  /** The VM's name as the upper layer knows it. */
  readonly vm: string;
  /** When QEMU emitted the event. */
  readonly timestamp: QmpTimestamp | Date;
}

/**
 * One sentence, e.g. "10:41:07.332 vm1 — action-required error in guest
 * memory; QEMU injected a machine check; the guest kernel is handling it".
 * Times are UTC (HH:MM:SS.mmm); the full date belongs in the record.
 */
export function explain(f: MemoryFailure, ctx: ExplainContext): string {
  const when = clock(
    ctx.timestamp instanceof Date ? ctx.timestamp : timestampToDate(ctx.timestamp),
  );
  const kind = f.actionRequired ? 'action-required' : 'action-optional';
  const where = f.recipient === 'guest' ? 'guest memory' : "QEMU's own memory";
  const during = f.recursive ? ' while an earlier machine check was still being handled' : '';
  const caveat = reachableInQemu(f) ? '' : ' (QEMU 7.2 never reports this combination)';
  return `${when} ${ctx.vm} — ${kind} error in ${where}${during}; ${consequence(f)}${caveat}`;
}

function consequence(f: MemoryFailure): string {
  switch (f.action) {
    case 'inject':
      if (f.recursive) {
        // The only recursive inject QEMU produces is a corrected error logged in a bank.
        return 'QEMU logged it in a machine-check bank; the guest kernel will see it there';
      }
      return f.actionRequired
        ? 'QEMU injected a machine check; the guest kernel is handling it'
        : 'QEMU injected a machine check; the guest kernel can retire the page without stopping anything';
    case 'ignore':
      return f.recipient === 'guest'
        ? 'QEMU did not pass it on; the guest runs on without knowing about this page'
        : 'QEMU ignored it and the VM runs on';
    case 'reset':
      return f.recursive
        ? 'a machine check during a machine check is a triple fault, so QEMU reset the guest'
        : 'the guest had not enabled machine checks (CR4.MCE), so QEMU reset it';
    case 'fatal':
      return f.recipient === 'hypervisor'
        ? 'QEMU could not recover and exited; the VM is gone'
        : 'QEMU gave up and exited; the VM is gone';
  }
}

function clock(d: Date): string {
  return d.toISOString().slice(11, 23);
}
