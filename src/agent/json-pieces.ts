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
    let first = true;
    for (const item of value.items) {
      yield `${first ? '[' : ','}\n${pad(depth + 1)}`;
      yield* jsonPieces(item, depth + 1);
      first = false;
    }
    yield first ? '[]' : `\n${pad(depth)}]`;
    return;
  }
  if (isObject(value) && Object.values(value).some((v) => v instanceof LazyArray)) {
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
  yield (JSON.stringify(value, null, 2) ?? 'null').replaceAll('\n', `\n${pad(depth)}`);
}

function pad(depth: number): string {
  return '  '.repeat(depth);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
