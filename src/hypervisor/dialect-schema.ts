/**
 * What the simulator serves for its dialect, from the code generated from
 * schema/<dialect>.json (src/generated/<dialect>/): query-qmp-schema's
 * answer and the validator every emitted event must pass.
 */
import type { Dialect } from '../event/model.js';
import * as qemu from '../generated/qemu/index.js';
import * as seed from '../generated/seed/index.js';

export interface DialectSchema {
  /** query-qmp-schema's answer. */
  readonly schemaInfo: readonly unknown[];
  /** Why an event is not valid in the dialect's schema, or null. */
  validateEvent(name: string, data: unknown): string | null;
}

const GENERATED = { qemu, seed } as const;

export function dialectSchema(dialect: Dialect): DialectSchema {
  const g = GENERATED[dialect];
  return {
    schemaInfo: g.schemaInfo,
    validateEvent: (name, data) => {
      if (!g.isEventName(name)) return `event ${name} is not in the ${dialect} schema`;
      const r = g.validateEvent(name, data);
      return r.ok ? null : r.message;
    },
  };
}
