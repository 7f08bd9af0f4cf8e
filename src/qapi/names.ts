/** QAPI naming helpers shared by the checker and the model (facts from QEMU's common.py/expr.py). */

const VALID_NAME = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;

/** Maps a name to a C identifier, as QEMU's `c_name(name, protect=False)`. */
export function cNameUnprotected(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * The stem of a well-formed QAPI name (without `__RFQDN_` and `x-`
 * prefixes), or null when the name is malformed or in the reserved `q_` space.
 */
export function nameStem(name: string): string | null {
  const m = VALID_NAME.exec(name);
  if (!m || cNameUnprotected(name).startsWith('q_')) return null;
  return m[3] ?? null;
}
