/**
 * Which MEMORY_FAILURE dialect a VM speaks, read from its `query-qmp-schema`
 * answer. QEMU masks most type names there (they become "123"), so the probe
 * follows the event's argument type and looks at its members: a `recipient`
 * member means QEMU 5.2+; an `action` whose enum has the seed's names
 * (`guest-mce-inject`, ...) means the seed. An unmasked enum named
 * `MemoryFailureRecipient` also means QEMU 5.2+.
 */
import type { Dialect } from '../event/model.js';

/** The dialect the schema declares, or null when it has no MEMORY_FAILURE (or is not a schema). */
export function dialectFromSchema(schema: unknown): Dialect | null {
  if (!Array.isArray(schema)) return null;
  const byName = new Map<string, Record<string, unknown>>();
  for (const info of schema) {
    if (isRecord(info) && typeof info.name === 'string') byName.set(info.name, info);
  }
  const event = schema.find(
    (i): i is Record<string, unknown> =>
      isRecord(i) && i['meta-type'] === 'event' && i.name === 'MEMORY_FAILURE',
  );
  if (event === undefined) {
    return byName.get('MemoryFailureRecipient')?.['meta-type'] === 'enum' ? 'qemu' : null;
  }
  const argType = typeof event['arg-type'] === 'string' ? byName.get(event['arg-type']) : undefined;
  const members = Array.isArray(argType?.members) ? argType.members.filter(isRecord) : [];
  if (members.some((m) => m.name === 'recipient')) return 'qemu';
  const action = members.find((m) => m.name === 'action');
  const actionType = typeof action?.type === 'string' ? byName.get(action.type) : undefined;
  const values = enumValues(actionType);
  if (values.includes('guest-mce-inject') || values.includes('hypervisor-fatal')) return 'seed';
  if (values.includes('inject')) return 'qemu';
  return null;
}

function enumValues(info: Record<string, unknown> | undefined): string[] {
  if (info === undefined) return [];
  // QEMU 7.2 lists `members: [{name}]` and the older `values: [name]`.
  if (Array.isArray(info.members)) {
    return info.members
      .filter(isRecord)
      .flatMap((m) => (typeof m.name === 'string' ? [m.name] : []));
  }
  return Array.isArray(info.values)
    ? info.values.filter((v): v is string => typeof v === 'string')
    : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
