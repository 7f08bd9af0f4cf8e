/**
 * A MEMORY_FAILURE's data read as the QMP watcher reads it: the dialect (the
 * VM's, or until known the one the event's shape says), the canonical fields
 * (dialect mapping: lenient) and validation against the dialect's schema (the
 * generated validator: strict). For the libvirt and accept sources; the
 * watcher has the same steps inline.
 */
import { detectDialect, formatDialectError, fromWire } from '../event/dialect.js';
import type { Dialect, MemoryFailure } from '../event/model.js';
import { validateEvent as validateQemuEvent } from '../generated/qemu/validators.js';
import { validateEvent as validateSeedEvent } from '../generated/seed/validators.js';

const VALIDATORS = { qemu: validateQemuEvent, seed: validateSeedEvent } as const;

export interface FailureRead {
  readonly failure: MemoryFailure | null;
  /** Why it failed validation; null when valid. */
  readonly error: string | null;
  readonly dialect: Dialect | null;
}

export function readFailureData(known: Dialect | null, data: unknown): FailureRead {
  let dialect = known;
  if (dialect === null) {
    const detected = detectDialect(data);
    if (!detected.ok)
      return { failure: null, error: formatDialectError(detected.error), dialect: null };
    dialect = detected.value;
  }
  const read = fromWire(dialect, data);
  const checked = VALIDATORS[dialect]('MEMORY_FAILURE', data);
  const error = !read.ok
    ? formatDialectError(read.error)
    : checked.ok
      ? null
      : `${dialect}: ${checked.message}`;
  return { failure: read.ok ? read.value : null, error, dialect };
}
