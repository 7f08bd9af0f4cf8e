/**
 * JSON text exactly as JSON.stringify(value, null, 2) prints it, in pieces,
 * where an array wrapped in lazy() is walked item by item instead of being
 * held whole: how a report writes a VM's accounts without keeping them.
 * Every other value is printed by JSON.stringify itself.
 */

/** An array to write item by item; only as a member of an object or an item of another lazy array. */
export class LazyArray {
  constructor(readonly items: Iterable<unknown>) {}
}

export function lazy(items: Iterable<unknown>): LazyArray {
  return new LazyArray(items);
}

/** `value` as JSON text at nesting `depth` (two spaces a level), in pieces. */
export function* jsonPieces(value: unknown, depth = 0): Generator<string> {
  if (value instanceof LazyArray) {
    const inner = `\n${pad(depth + 1)}`;
    let first = true;
    for (const item of value.items) {
      const head = `${first ? '[' : ','}${inner}`;
      first = false;
      if (item instanceof LazyArray || hasLazyMember(item)) {
        yield head;
        yield* jsonPieces(item, depth + 1);
      } else {
        // The common case (a report's account): one piece per item.
        yield head + stringified(item, depth + 1);
      }
    }
    yield first ? '[]' : `\n${pad(depth)}]`;
    return;
  }
  if (hasLazyMember(value)) {
    // JSON.stringify leaves out members whose value is undefined.
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    for (let i = 0; i < members.length; i++) {
      const [key, member] = members[i]!;
      yield `${i === 0 ? '{' : ','}\n${pad(depth + 1)}${JSON.stringify(key)}: `;
      yield* jsonPieces(member, depth + 1);
    }
    yield `\n${pad(depth)}}`;
    return;
  }
  yield stringified(value, depth);
}

function stringified(value: unknown, depth: number): string {
  return (JSON.stringify(value, null, 2) ?? 'null').replaceAll('\n', `\n${pad(depth)}`);
}

function pad(depth: number): string {
  return '  '.repeat(depth);
}

/** A plain object with a lazy array among its own members (checked without allocating). */
function hasLazyMember(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) {
    if ((value as Record<string, unknown>)[key] instanceof LazyArray) return true;
  }
  return false;
}
