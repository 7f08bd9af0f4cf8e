/**
 * Key order of schema dicts. QEMU keeps source order and relies on it (member
 * and branch order, which error comes first). JavaScript objects list
 * integer-like keys ('0', '42') first, so a dict holding one also carries
 * its true order under a hidden symbol; `dictKeys` reads it.
 */

/** Non-enumerable: invisible to JSON, `Object.keys` and deep equality. */
export const KEY_ORDER: unique symbol = Symbol('qapi.keyOrder');

type Dict = { [key: string]: unknown };

const INTEGER_LIKE = /^(0|[1-9][0-9]*)$/;

/** Could JavaScript reorder this key? (Array-index-like strings.) */
export function isReorderedKey(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 0x30 && c <= 0x39 && INTEGER_LIKE.test(key) && Number(key) < 4294967295;
}

/** Records the source order on a dict whose keys JavaScript would reorder. */
export function rememberKeyOrder(dict: Dict, keys: string[]): void {
  Object.defineProperty(dict, KEY_ORDER, { value: keys, enumerable: false });
}

/** The dict's keys in source order. */
export function dictKeys(dict: object): string[] {
  const order = (dict as { [KEY_ORDER]?: string[] })[KEY_ORDER];
  return order ? order.filter((k) => Object.hasOwn(dict, k)) : Object.keys(dict);
}
