/** Shared builders for the agent tests: temp databases and observations. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemoryFailure, QmpTimestamp } from '../../src/event/model.js';
import type {
  FailureObservation,
  LifecycleKind,
  LifecycleObservation,
} from '../../src/agent/records.js';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'memfail-agent-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const BASE_SECONDS = 1_764_000_000;

export function ts(offsetMicros: number): QmpTimestamp {
  const total = BASE_SECONDS * 1_000_000 + offsetMicros;
  return { seconds: Math.floor(total / 1_000_000), microseconds: total % 1_000_000 };
}

export function failure(
  vm: string,
  offsetMicros: number,
  f: Partial<MemoryFailure> = {},
): FailureObservation {
  const event: MemoryFailure = {
    recipient: f.recipient ?? 'guest',
    action: f.action ?? 'inject',
    actionRequired: f.actionRequired ?? false,
    recursive: f.recursive ?? false,
  };
  const timestamp = ts(offsetMicros);
  return {
    kind: 'failure',
    vm,
    failure: event,
    error: null,
    timestamp,
    receivedUs: timestamp.seconds * 1_000_000 + timestamp.microseconds + 100,
    dialect: 'qemu',
    message: {
      event: 'MEMORY_FAILURE',
      data: {
        recipient: event.recipient,
        action: event.action,
        flags: { 'action-required': event.actionRequired, recursive: event.recursive },
      },
      timestamp,
    },
  };
}

export function invalidFailure(
  vm: string,
  offsetMicros: number,
  message: Record<string, unknown>,
): FailureObservation {
  const timestamp = ts(offsetMicros);
  return {
    kind: 'failure',
    vm,
    failure: null,
    error: "'data.recipient': value 'moon' is not a MemoryFailureRecipient",
    timestamp,
    receivedUs: timestamp.seconds * 1_000_000 + timestamp.microseconds + 100,
    dialect: 'qemu',
    message,
  };
}

export function lifecycle(
  vm: string,
  event: LifecycleKind,
  offsetMicros: number,
  data: unknown = {},
): LifecycleObservation {
  const timestamp = ts(offsetMicros);
  const qmp = event !== 'CONNECTED' && event !== 'DISCONNECTED';
  return {
    kind: 'lifecycle',
    vm,
    event,
    timestamp: qmp ? timestamp : null,
    receivedUs: timestamp.seconds * 1_000_000 + timestamp.microseconds + 100,
    data,
  };
}
