/** QAPI naming rules shared by the checker and the model (facts from QEMU's expr.py). */
import { cName } from './c-name.js';

const VALID_NAME = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;

/** Does the name's C form start with 'q_' (reserved for generated names)? */
function isReservedQ(name: string): boolean {
  if (name.length < 2 || name.charCodeAt(0) !== 0x71) return false; // 'q'
  return cName(name.slice(1, 2), false) === '_';
}

/**
 * The stem of a well-formed QAPI name (without `__RFQDN_` and `x-`
 * prefixes), or null when the name is malformed or in the reserved `q_` space.
 */
export function nameStem(name: string): string | null {
  const m = VALID_NAME.exec(name);
  if (!m || isReservedQ(name)) return null;
  return m[3] ?? null;
}
