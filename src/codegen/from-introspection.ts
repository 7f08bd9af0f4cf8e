/**
 * The reverse of introspection: a wire model (and so a validator) from a
 * live server's `query-qmp-schema` answer, so a client can check what the
 * QEMU it actually talks to sends and accepts. Type names may be masked
 * (QEMU's default); they are only keys here. Integer types all introspect as
 * `int`, so only the int64 range is checked.
 */
import type { JsonType, SchemaInfo, SchemaInfoObject } from './introspect-types.js';
import { interpret, type SchemaValidator } from './interpret.js';
import { type BuiltinName, type Definition, makeModel, type WireModel } from './model.js';

/** The answer was not a SchemaInfo list. */
export class IntrospectionError extends Error {
  override name = 'IntrospectionError';
}

const BUILTIN_BY_JSON_TYPE: Readonly<Record<JsonType, BuiltinName>> = {
  string: 'str',
  number: 'number',
  int: 'int',
  boolean: 'bool',
  null: 'null',
  value: 'any',
  // QEMU lists no builtins of these JSON types; treat them as opaque values.
  object: 'any',
  array: 'any',
};

const BUILTIN_NAMES = new Set<string>(['str', 'number', 'int', 'bool', 'null', 'any']);

/** Build a wire model from SchemaInfo entries (checked shallowly: the parse boundary). */
export function modelFromIntrospection(infos: unknown): WireModel {
  if (!Array.isArray(infos))
    throw new IntrospectionError('query-qmp-schema result is not an array');
  const definitions: Definition[] = [];
  for (const [i, raw] of infos.entries()) {
    try {
      definitions.push(definitionOf(raw as SchemaInfo, i));
    } catch (err) {
      // A member list or name of the wrong JSON type surfaces here as a TypeError.
      if (err instanceof IntrospectionError) throw err;
      throw new IntrospectionError(
        `entry ${i} is malformed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  // QEMU lists every type it mentions, but tolerate arrays ("[T]") it did not.
  const known = new Set(
    definitions.filter((d) => d.kind !== 'command' && d.kind !== 'event').map((d) => d.name),
  );
  for (const d of [...definitions]) {
    for (const ref of referencedTypes(d)) ensureType(known, definitions, ref);
  }
  return makeModel(definitions);
}

/** A validator for the schema a server reports. */
export function validatorFromIntrospection(infos: unknown): SchemaValidator {
  return interpret(modelFromIntrospection(infos));
}

const none = { ifcond: null, features: [], doc: null } as const;

function features(raw: unknown): { name: string; ifcond: null }[] {
  return Array.isArray(raw) ? raw.map((f) => ({ name: String(f), ifcond: null })) : [];
}

function definitionOf(info: SchemaInfo, index: number): Definition {
  if (typeof info !== 'object' || info === null || typeof info.name !== 'string') {
    throw new IntrospectionError(`entry ${index} is not a SchemaInfo object`);
  }
  const base = { ...none, name: info.name, features: features(info.features) };
  switch (info['meta-type']) {
    case 'builtin': {
      const builtin = BUILTIN_NAMES.has(info.name)
        ? (info.name as BuiltinName)
        : BUILTIN_BY_JSON_TYPE[info['json-type']];
      return { ...base, kind: 'builtin', jsonType: info['json-type'], builtin };
    }
    case 'enum':
      return {
        ...base,
        kind: 'enum',
        values: (info.members ?? info.values.map((name) => ({ name }))).map((m) => ({
          name: m.name,
          ifcond: null,
          features: features(m.features),
        })),
      };
    case 'array':
      return { ...base, kind: 'array', element: info['element-type'] };
    case 'object':
      return objectDefinition(base, info);
    case 'alternate':
      return {
        ...base,
        kind: 'alternate',
        variants: info.members.map((m) => ({ name: m.type, type: m.type, ifcond: null })),
      };
    case 'command':
      return {
        ...base,
        kind: 'command',
        argType: info['arg-type'],
        retType: info['ret-type'],
        boxed: false,
        allowOob: info['allow-oob'] === true,
      };
    case 'event':
      return { ...base, kind: 'event', argType: info['arg-type'], boxed: false };
    default:
      throw new IntrospectionError(
        `entry ${index} ('${(info as { name: string }).name}') has unknown meta-type`,
      );
  }
}

function objectDefinition(
  base: Pick<Definition, 'name' | 'ifcond' | 'features' | 'doc'>,
  info: SchemaInfoObject,
): Definition {
  return {
    ...base,
    kind: 'object',
    implicit: false,
    base: null,
    members: info.members.map((m) => ({
      name: m.name,
      type: m.type,
      optional: 'default' in m,
      ifcond: null,
      features: features(m.features),
    })),
    variants:
      info.tag === undefined
        ? null
        : {
            tag: info.tag,
            variants: (info.variants ?? []).map((v) => ({
              name: v.case,
              type: v.type,
              ifcond: null,
            })),
          },
  };
}

function referencedTypes(d: Definition): string[] {
  switch (d.kind) {
    case 'array':
      return [d.element];
    case 'object':
      return [...d.members.map((m) => m.type), ...(d.variants?.variants.map((v) => v.type) ?? [])];
    case 'alternate':
      return d.variants.map((v) => v.type);
    case 'command':
      return [d.argType, d.retType].filter((t): t is string => t !== null);
    case 'event':
      return d.argType === null ? [] : [d.argType];
    default:
      return [];
  }
}

function ensureType(known: Set<string>, definitions: Definition[], name: string): void {
  if (known.has(name)) return;
  const match = /^\[(.*)\]$/.exec(name);
  if (!match?.[1]) throw new IntrospectionError(`type '${name}' is used but not listed`);
  known.add(name);
  definitions.push({ ...none, name, kind: 'array', element: match[1] });
  ensureType(known, definitions, match[1]);
}
