/**
 * SchemaInfo list from a wire model, built the way QEMU 7.2 builds its
 * `query-qmp-schema` answer: commands and events in definition order, then
 * every type they use (transitively) in order of first use; integer types
 * folded into `int` (and their arrays into `[int]`); missing argument and
 * return types replaced by the empty object `q_empty`; optional members
 * marked `default: null`; `if` conditions not shown (we do not evaluate
 * them: everything is listed). Type names stay readable unless `mask` is set,
 * which numbers them in order of appearance as QEMU does by default.
 */
import type {
  SchemaInfo,
  SchemaInfoEnumMember,
  SchemaInfoObject,
  SchemaInfoObjectMember,
} from './introspect-types.js';
import { type Feature, lookupType, type WireModel, type WireType } from './model.js';

export interface IntrospectOptions {
  /** Replace type names by numbers, as QEMU does unless built with --unmask. */
  readonly mask?: boolean;
}

const EMPTY_OBJECT = 'q_empty';

export function introspect(model: WireModel, options: IntrospectOptions = {}): SchemaInfo[] {
  return [...introspectEach(model, options)];
}

/**
 * The same SchemaInfo list one entry at a time, for writing it out as it is
 * made: a large schema's list is several times the schema's size.
 */
export function* introspectEach(
  model: WireModel,
  options: IntrospectOptions = {},
): Generator<SchemaInfo, void, undefined> {
  const used: WireType[] = [];
  const usedNames = new Set<string>();
  const masks = new Map<string, string>();

  const nameOf = (name: string): string => {
    if (!options.mask) return name;
    let masked = masks.get(name);
    if (masked === undefined) {
      masked = String(masks.size);
      masks.set(name, masked);
    }
    return masked;
  };

  const use = (name: string): string => {
    let t = lookupType(model, name);
    if (jsonTypeOf(t) === 'int') t = lookupType(model, 'int');
    else if (t.kind === 'array' && jsonTypeOf(lookupType(model, t.element)) === 'int') {
      t = arrayOf(model, 'int');
    }
    if (!usedNames.has(t.name)) {
      usedNames.add(t.name);
      used.push(t);
    }
    if (t.kind === 'builtin') return t.name;
    if (t.kind === 'array') return `[${use(t.element)}]`;
    return nameOf(t.name);
  };

  const withFeatures = <T extends object>(obj: T, features: readonly Feature[]): T => {
    return features.length ? { ...obj, features: features.map((f) => f.name) } : obj;
  };

  for (const d of model.definitions) {
    if (d.kind === 'command') {
      const info = {
        name: d.name,
        'meta-type': 'command' as const,
        'arg-type': use(d.argType ?? EMPTY_OBJECT),
        'ret-type': use(d.retType ?? EMPTY_OBJECT),
        ...(d.allowOob ? { 'allow-oob': true } : {}),
      };
      yield withFeatures(info, d.features);
    } else if (d.kind === 'event') {
      const info = {
        name: d.name,
        'meta-type': 'event' as const,
        'arg-type': use(d.argType ?? EMPTY_OBJECT),
      };
      yield withFeatures(info, d.features);
    }
  }

  // `used` grows while we walk it: types used by used types.
  for (let i = 0; i < used.length; i++) {
    const t = used[i]!;
    switch (t.kind) {
      case 'builtin':
        yield { name: t.name, 'meta-type': 'builtin', 'json-type': t.jsonType };
        break;
      case 'enum': {
        const members: SchemaInfoEnumMember[] = t.values.map((v) =>
          withFeatures({ name: v.name }, v.features),
        );
        const info = {
          name: nameOf(t.name),
          'meta-type': 'enum' as const,
          members,
          values: t.values.map((v) => v.name),
        };
        yield withFeatures(info, t.features);
        break;
      }
      case 'array': {
        const element = use(t.element);
        yield { name: `[${element}]`, 'meta-type': 'array', 'element-type': element };
        break;
      }
      case 'object': {
        const members: SchemaInfoObjectMember[] = t.members.map((m) =>
          withFeatures(
            { name: m.name, type: use(m.type), ...(m.optional ? { default: null } : {}) },
            m.features,
          ),
        );
        let info: SchemaInfoObject = { name: nameOf(t.name), 'meta-type': 'object', members };
        if (t.variants) {
          info = {
            ...info,
            tag: t.variants.tag,
            variants: t.variants.variants.map((v) => ({ case: v.name, type: use(v.type) })),
          };
        }
        yield withFeatures(info, t.features);
        break;
      }
      case 'alternate': {
        const info = {
          name: nameOf(t.name),
          'meta-type': 'alternate' as const,
          members: t.variants.map((v) => ({ type: use(v.type) })),
        };
        yield withFeatures(info, t.features);
        break;
      }
    }
  }
}

function jsonTypeOf(t: WireType): string {
  switch (t.kind) {
    case 'builtin':
      return t.jsonType;
    case 'enum':
      return 'string';
    case 'array':
      return 'array';
    case 'object':
      return 'object';
    case 'alternate':
      return 'value';
  }
}

/** The model's array of `element` (QEMU names them `<element>List`), made up if absent. */
function arrayOf(model: WireModel, element: string): WireType {
  const name = `${element}List`;
  return (
    model.types.get(name) ?? { name, kind: 'array', element, ifcond: null, features: [], doc: null }
  );
}
