/**
 * Python's notion of whitespace (`str.isspace`, `re` `\s` on str), which
 * QEMU's parser relies on; JavaScript's `\s` differs (e.g. U+FEFF, U+001C).
 */

/** Character class body for Python whitespace, for use inside `[...]` in a RegExp. */
export const PY_SPACE_CLASS =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export function isPySpace(c: number): boolean {
  if (c <= 0x20) return (c >= 9 && c <= 13) || c >= 0x1c;
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Number of leading whitespace characters. */
export function leadingSpace(s: string): number {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && !isPySpace(c)) break;
  }
  return i;
}

export function pyRstrip(s: string): string {
  let end = s.length;
  // Most lines end in a visible ASCII character: answer without a call.
  if (end === 0) return s;
  const last = s.charCodeAt(end - 1);
  if (last > 0x20 && last < 0x85) return s;
  while (end > 0 && isPySpace(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

export function pyStrip(s: string): string {
  const start = leadingSpace(s);
  if (start === s.length) return '';
  return pyRstrip(start === 0 ? s : s.slice(start));
}

/** Python truthiness of a schema value (strings, booleans, lists, dicts). */
export function pyTruthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}
