/**
 * fast-check arbitraries driven by a wire model: values that mostly fit a
 * type, with the occasional wrong JSON type, missing member, extra member or
 * out-of-range integer, so both acceptance and every kind of rejection are
 * exercised.
 */
import fc from 'fast-check';
import { lookupType, type WireModel } from '../../src/codegen/model.js';

const junk = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
);

const INT_VALUES: Record<string, fc.Arbitrary<number>> = {
  int8: fc.integer({ min: -130, max: 130 }),
  uint8: fc.integer({ min: -2, max: 258 }),
  uint16: fc.integer({ min: -2, max: 65537 }),
};

export function arbitraryValue(
  model: WireModel,
  typeName: string,
  depth = 0,
): fc.Arbitrary<unknown> {
  const t = lookupType(model, typeName);
  let fits: fc.Arbitrary<unknown>;
  switch (t.kind) {
    case 'builtin':
      switch (t.jsonType) {
        case 'string':
          fits = fc.string({ maxLength: 6 });
          break;
        case 'int':
          fits =
            INT_VALUES[t.builtin] ??
            fc.oneof({ arbitrary: fc.integer(), weight: 20 }, fc.constantFrom(2 ** 64, 0.5));
          break;
        case 'number':
          fits = fc.double({ noNaN: true, noDefaultInfinity: true });
          break;
        case 'boolean':
          fits = fc.boolean();
          break;
        case 'null':
          fits = fc.constant(null);
          break;
        default:
          fits = fc.jsonValue({ maxDepth: 1 });
      }
      break;
    case 'enum':
      fits = fc.oneof(
        { arbitrary: fc.constantFrom(...t.values.map((v) => v.name)), weight: 20 },
        fc.constant('no-such-value'),
      );
      break;
    case 'array':
      fits =
        depth > 3
          ? fc.constant([])
          : fc.array(arbitraryValue(model, t.element, depth + 1), { maxLength: 3 });
      break;
    case 'alternate':
      fits = fc.oneof(...t.variants.map((v) => arbitraryValue(model, v.type, depth + 1)));
      break;
    case 'object': {
      const record = (members: readonly { name: string; type: string; optional: boolean }[]) =>
        fc
          .tuple(
            ...members.map((m) =>
              fc.tuple(
                fc.constant(m.name),
                fc.option(arbitraryValue(model, m.type, depth + 1), { freq: m.optional ? 2 : 40 }),
              ),
            ),
            fc.oneof(
              { arbitrary: fc.constant(null), weight: 40 },
              fc.constant(['no-such-member', 1] as const),
            ),
          )
          .map((entries) => {
            const obj: Record<string, unknown> = {};
            for (const entry of entries) {
              if (entry === null) continue;
              const [name, value] = entry as readonly [string, unknown];
              if (value !== null || name === 'no-such-member') obj[name] = value;
            }
            return obj;
          });
      if (!t.variants || depth > 3) {
        fits = record(t.members);
        break;
      }
      const tag = t.variants.tag;
      fits = fc.oneof(
        ...t.variants.variants.map((v) => {
          const branch = lookupType(model, v.type);
          const extra = branch.kind === 'object' ? branch.members : [];
          return record([...t.members.filter((m) => m.name !== tag), ...extra]).map((o) => ({
            [tag]: v.name,
            ...o,
          }));
        }),
      );
      break;
    }
  }
  return fc.oneof({ arbitrary: fits, weight: 40 }, { arbitrary: junk, weight: 1 });
}
