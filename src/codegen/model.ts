/**
 * The wire model: what the generators need to know about a schema, and no
 * more. It is built either from the checked QAPI model (src/qapi, with docs
 * and `if` conditions) or from a live server's `query-qmp-schema` answer
 * (names possibly masked, no docs). Types are referred to by name and looked
 * up in `types`; every object's `members` are flattened (base first), as in
 * QEMU's checked model.
 */
import type { JsonType } from './introspect-types.js';

export type IntKind =
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'size';

export type BuiltinName = 'str' | 'number' | IntKind | 'bool' | 'any' | 'null';

/** The doc comment of a definition, reduced to what TSDoc can show. */
export interface EntityDoc {
  /** Free text before the sections, paragraphs separated by blank lines. */
  readonly body: string;
  readonly since: string | null;
  /** Member, enum value and branch descriptions by name. */
  readonly members: ReadonlyMap<string, string>;
  readonly features: ReadonlyMap<string, string>;
  readonly returns: string | null;
}

export interface Feature {
  readonly name: string;
  /** Human rendering of the `if` condition (`CONFIG_A and not CONFIG_B`); null when unconditional. */
  readonly ifcond: string | null;
}

interface EntityBase {
  readonly name: string;
  readonly ifcond: string | null;
  readonly features: readonly Feature[];
  readonly doc: EntityDoc | null;
}

export interface BuiltinType extends EntityBase {
  readonly kind: 'builtin';
  readonly jsonType: JsonType;
  /** The precise range to check; introspection only tells `int`. */
  readonly builtin: BuiltinName;
}

export interface EnumValue {
  readonly name: string;
  readonly ifcond: string | null;
  readonly features: readonly Feature[];
}

export interface EnumType extends EntityBase {
  readonly kind: 'enum';
  readonly values: readonly EnumValue[];
}

export interface ArrayType extends EntityBase {
  readonly kind: 'array';
  readonly element: string;
}

export interface ObjectMember {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly ifcond: string | null;
  readonly features: readonly Feature[];
}

export interface Variant {
  /** The tag value selecting this branch. */
  readonly name: string;
  /** An object type without variants of its own. */
  readonly type: string;
  readonly ifcond: string | null;
}

export interface Variants {
  readonly tag: string;
  readonly variants: readonly Variant[];
}

export interface ObjectType extends EntityBase {
  readonly kind: 'object';
  /** Implicit types (`q_obj_*`, `q_empty`) have no definition of their own. */
  readonly implicit: boolean;
  readonly base: string | null;
  /** All members, base members first. */
  readonly members: readonly ObjectMember[];
  readonly variants: Variants | null;
}

export interface AlternateType extends EntityBase {
  readonly kind: 'alternate';
  readonly variants: readonly Variant[];
}

export type WireType = BuiltinType | EnumType | ArrayType | ObjectType | AlternateType;

export interface Command extends EntityBase {
  readonly kind: 'command';
  /** null: no arguments (the empty object). */
  readonly argType: string | null;
  /** null: returns the empty object. */
  readonly retType: string | null;
  readonly boxed: boolean;
  readonly allowOob: boolean;
}

export interface Event extends EntityBase {
  readonly kind: 'event';
  readonly argType: string | null;
  readonly boxed: boolean;
}

export type Definition = WireType | Command | Event;

export interface WireModel {
  /** Every entity in definition order (builtins first), as QEMU's visitor walks them. */
  readonly definitions: readonly Definition[];
  readonly types: ReadonlyMap<string, WireType>;
  readonly commands: ReadonlyMap<string, Command>;
  readonly events: ReadonlyMap<string, Event>;
}

/** Index a definition list into a model. */
export function makeModel(definitions: readonly Definition[]): WireModel {
  const types = new Map<string, WireType>();
  const commands = new Map<string, Command>();
  const events = new Map<string, Event>();
  for (const d of definitions) {
    if (d.kind === 'command') commands.set(d.name, d);
    else if (d.kind === 'event') events.set(d.name, d);
    else types.set(d.name, d);
  }
  return { definitions, types, commands, events };
}

/** Look a type up, failing loudly: a model that names a missing type is a generator bug. */
export function lookupType(model: WireModel, name: string): WireType {
  const t = model.types.get(name);
  if (!t) throw new Error(`wire model has no type '${name}'`);
  return t;
}

export const INT_KINDS: readonly IntKind[] = [
  'int',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'size',
];

/** The JSON type of each builtin, as QEMU defines them. */
export const BUILTIN_JSON_TYPES: Readonly<Record<BuiltinName, JsonType>> = {
  str: 'string',
  number: 'number',
  int: 'int',
  int8: 'int',
  int16: 'int',
  int32: 'int',
  int64: 'int',
  uint8: 'int',
  uint16: 'int',
  uint32: 'int',
  uint64: 'int',
  size: 'int',
  bool: 'boolean',
  any: 'value',
  null: 'null',
};

/** Whether the features mark a definition deprecated (QAPI's special `deprecated` feature). */
export function isDeprecated(features: readonly Feature[]): boolean {
  return features.some((f) => f.name === 'deprecated');
}
