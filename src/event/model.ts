/**
 * The canonical MEMORY_FAILURE model: one shape for both dialects (the seed
 * patch and QEMU 5.2+). Every other layer speaks this; dialect.ts maps the
 * wire forms to and from it. Recipient and action are QEMU 5.2+'s own enums
 * (schema/memory-failure-qemu.json, generated): it names every canonical value.
 */

import {
  type MemoryFailureAction,
  MemoryFailureActionValues,
  type MemoryFailureRecipient,
  MemoryFailureRecipientValues,
} from '../generated/qemu/types.js';

/** Who the failure hit: QEMU's own memory (hypervisor) or guest RAM (guest). */
export type Recipient = MemoryFailureRecipient;
export const RECIPIENTS: readonly Recipient[] = MemoryFailureRecipientValues;

/**
 * What QEMU did. `ignore`: nothing (hypervisor AO; or guest AO while an
 * earlier MCE is still being handled); `inject`: machine check delivered to the
 * guest; `fatal`: QEMU exits; `reset`: the guest is reset.
 */
export type Action = MemoryFailureAction;
export const ACTIONS: readonly Action[] = MemoryFailureActionValues;

/** Which wire form an event came in (or goes out) as. */
export type Dialect = 'qemu' | 'seed';
export const DIALECTS: readonly Dialect[] = ['qemu', 'seed'];

/** One memory failure, dialect-free. */
export interface MemoryFailure {
  readonly recipient: Recipient;
  readonly action: Action;
  /** AR (action required, SRAR) rather than AO (action optional, SRAO). */
  readonly actionRequired: boolean;
  /** An earlier machine check was still being handled (MCG_STATUS.MCIP set). */
  readonly recursive: boolean;
}

/** QMP's event timestamp: seconds and microseconds since the epoch. */
export interface QmpTimestamp {
  readonly seconds: number;
  readonly microseconds: number;
}

export function timestampToDate(ts: QmpTimestamp): Date {
  return new Date(ts.seconds * 1000 + Math.floor(ts.microseconds / 1000));
}

/** ISO 8601 with microseconds, e.g. 2026-11-25T10:41:07.332511Z. */
export function timestampToIso(ts: QmpTimestamp): string {
  const base = new Date(ts.seconds * 1000).toISOString().slice(0, 19);
  return `${base}.${String(ts.microseconds).padStart(6, '0')}Z`;
}
