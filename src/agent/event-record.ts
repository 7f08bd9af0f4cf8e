/**
 * The public JSON shape of one recorded memory failure, shared by
 * `memfail events --json` and alerts. Field names are part of the contract
 * (DESIGN.md): vm, recipient, action, actionRequired, recursive, timestamp.
 */
import { explain } from '../event/explain.js';
import type { Action, Dialect, Recipient } from '../event/model.js';
import type { StoredFailure } from './records.js';

export interface EventRecord {
  readonly id: number;
  readonly vm: string;
  /** Null only for an event that failed validation (valid: false). */
  readonly recipient: Recipient | null;
  readonly action: Action | null;
  readonly actionRequired: boolean | null;
  readonly recursive: boolean | null;
  /** QEMU's timestamp, ISO 8601 with microseconds (receipt time if the event had none). */
  readonly timestamp: string;
  readonly receivedAt: string;
  readonly dialect: Dialect | null;
  readonly valid: boolean;
  readonly error: string | null;
}

export function toEventRecord(f: StoredFailure): EventRecord {
  return {
    id: f.id,
    vm: f.vm,
    recipient: f.failure?.recipient ?? null,
    action: f.failure?.action ?? null,
    actionRequired: f.failure?.actionRequired ?? null,
    recursive: f.failure?.recursive ?? null,
    timestamp: f.timestampIso ?? f.receivedAt,
    receivedAt: f.receivedAt,
    dialect: f.dialect,
    valid: f.valid,
    error: f.error,
  };
}

/** The event record plus explain()'s sentence (or the validation error). */
export interface AlertPayload extends EventRecord {
  readonly explanation: string;
  /** The QMP message as received. */
  readonly raw: unknown;
}

export function toAlertPayload(f: StoredFailure): AlertPayload {
  const explanation =
    f.failure === null
      ? `${f.vm}: a MEMORY_FAILURE event that failed validation: ${f.error ?? 'unknown error'}`
      : explain(f.failure, {
          vm: f.vm,
          timestamp: f.timestamp ?? new Date(Math.floor(f.receivedUs / 1000)),
        });
  let raw: unknown;
  try {
    raw = JSON.parse(f.raw);
  } catch {
    raw = f.raw;
  }
  return { ...toEventRecord(f), explanation, raw };
}

/** One line per event for `memfail events` without --json. */
export function formatEventLine(r: EventRecord): string {
  if (!r.valid) return `${r.timestamp}  ${r.vm}  INVALID  ${r.error ?? ''}`;
  const flags = [r.actionRequired ? 'action-required' : 'action-optional'];
  if (r.recursive) flags.push('recursive');
  return `${r.timestamp}  ${r.vm}  ${r.recipient} ${r.action}  ${flags.join(' ')}`;
}
