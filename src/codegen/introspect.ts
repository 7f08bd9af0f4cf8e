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
import {
  type Command,
  type Event,
  type Feature,
  lookupType,
  type ObjectType,
  type WireModel,
  type WireType,
} from './model.js';

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
  const types = new UsedTypes(model, options.mask ?? false);
  for (const d of model.definitions) {
    if (d.kind === 'command') yield commandInfo(d, types);
    else if (d.kind === 'event') yield eventInfo(d, types);
  }
  // `types.used` grows while we walk it: types used by used types.
  for (let i = 0; i < types.used.length; i++) yield typeInfo(types.used[i]!, types);
}

/** The types the listed entities use, in order of first use, and their (masked) names. */
class UsedTypes {
  readonly used: WireType[] = [];
  private readonly usedNames = new Set<string>();
  private readonly masks = new Map<string, string>();

  constructor(
    private readonly model: WireModel,
    private readonly mask: boolean,
  ) {}

  /** Records that `name` is used (integers folded into `int`); the name to show for it. */
  use(name: string): string {
    let t = lookupType(this.model, name);
    if (jsonTypeOf(t) === 'int') t = lookupType(this.model, 'int');
    else if (t.kind === 'array' && jsonTypeOf(lookupType(this.model, t.element)) === 'int') {
      t = arrayOf(this.model, 'int');
    }
    if (!this.usedNames.has(t.name)) {
      this.usedNames.add(t.name);
      this.used.push(t);
    }
    if (t.kind === 'builtin') return t.name;
    if (t.kind === 'array') return `[${this.use(t.element)}]`;
    return this.nameOf(t.name);
  }

  nameOf(name: string): string {
    if (!this.mask) return name;
    let masked = this.masks.get(name);
    if (masked === undefined) {
      masked = String(this.masks.size);
      this.masks.set(name, masked);
    }
    return masked;
  }
}

function withFeatures<T extends object>(obj: T, features: readonly Feature[]): T {
  return features.length ? { ...obj, features: features.map((f) => f.name) } : obj;
}

function commandInfo(d: Command, types: UsedTypes): SchemaInfo {
  const info = {
    name: d.name,
    'meta-type': 'command' as const,
    'arg-type': types.use(d.argType ?? EMPTY_OBJECT),
    'ret-type': types.use(d.retType ?? EMPTY_OBJECT),
    ...(d.allowOob ? { 'allow-oob': true } : {}),
  };
  return withFeatures(info, d.features);
}

function eventInfo(d: Event, types: UsedTypes): SchemaInfo {
  const info = {
    name: d.name,
    'meta-type': 'event' as const,
    'arg-type': types.use(d.argType ?? EMPTY_OBJECT),
  };
  return withFeatures(info, d.features);
}

function typeInfo(t: WireType, types: UsedTypes): SchemaInfo {
  switch (t.kind) {
    case 'builtin':
      return { name: t.name, 'meta-type': 'builtin', 'json-type': t.jsonType };
    case 'enum': {
      const members: SchemaInfoEnumMember[] = t.values.map((v) =>
        withFeatures({ name: v.name }, v.features),
      );
      const info = {
        name: types.nameOf(t.name),
        'meta-type': 'enum' as const,
        members,
        values: t.values.map((v) => v.name),
      };
      return withFeatures(info, t.features);
    }
    case 'array': {
      const element = types.use(t.element);
      return { name: `[${element}]`, 'meta-type': 'array', 'element-type': element };
    }
    case 'object':
      return objectInfo(t, types);
    case 'alternate': {
      const info = {
        name: types.nameOf(t.name),
        'meta-type': 'alternate' as const,
        members: t.variants.map((v) => ({ type: types.use(v.type) })),
      };
      return withFeatures(info, t.features);
    }
  }
}

function objectInfo(t: ObjectType, types: UsedTypes): SchemaInfo {
  const members: SchemaInfoObjectMember[] = t.members.map((m) =>
    withFeatures(
      { name: m.name, type: types.use(m.type), ...(m.optional ? { default: null } : {}) },
      m.features,
    ),
  );
  let info: SchemaInfoObject = { name: types.nameOf(t.name), 'meta-type': 'object', members };
  if (t.variants) {
    info = {
      ...info,
      tag: t.variants.tag,
      variants: t.variants.variants.map((v) => ({ case: v.name, type: types.use(v.type) })),
    };
  }
  return withFeatures(info, t.features);
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
