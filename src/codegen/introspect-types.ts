/**
 * The shapes of QEMU's `query-qmp-schema` answer (qapi/introspect.json,
 * QEMU 7.2): a flat list of SchemaInfo, one per command, event and used type.
 * Property names are the wire names. `if` conditions are never exposed: QEMU
 * evaluates them at build time and only what was compiled in is listed.
 */

/** What a SchemaInfo describes. */
export type SchemaMetaType =
  | 'builtin'
  | 'enum'
  | 'array'
  | 'object'
  | 'alternate'
  | 'command'
  | 'event';

/** The JSON type of a builtin; every integer type introspects as plain `int`. */
export type JsonType =
  | 'string'
  | 'number'
  | 'int'
  | 'boolean'
  | 'null'
  | 'object'
  | 'array'
  | 'value';

interface SchemaInfoBase {
  /**
   * Commands and events keep their names; types are masked to decimal
   * numbers by QEMU (unless built with --unmask); builtins and arrays
   * (`[elt]`) keep their structural names.
   */
  readonly name: string;
  readonly features?: readonly string[];
}

export interface SchemaInfoBuiltin extends SchemaInfoBase {
  readonly 'meta-type': 'builtin';
  readonly 'json-type': JsonType;
}

export interface SchemaInfoEnumMember {
  readonly name: string;
  readonly features?: readonly string[];
}

export interface SchemaInfoEnum extends SchemaInfoBase {
  readonly 'meta-type': 'enum';
  readonly members: readonly SchemaInfoEnumMember[];
  /** Deprecated in QEMU in favour of `members`; still sent. */
  readonly values: readonly string[];
}

export interface SchemaInfoArray extends SchemaInfoBase {
  readonly 'meta-type': 'array';
  readonly 'element-type': string;
}

export interface SchemaInfoObjectMember {
  readonly name: string;
  readonly type: string;
  /** Present (always `null`) exactly when the member is optional. */
  readonly default?: null;
  readonly features?: readonly string[];
}

export interface SchemaInfoObjectVariant {
  readonly case: string;
  readonly type: string;
}

export interface SchemaInfoObject extends SchemaInfoBase {
  readonly 'meta-type': 'object';
  /** All members, base members first (flattened). */
  readonly members: readonly SchemaInfoObjectMember[];
  readonly tag?: string;
  readonly variants?: readonly SchemaInfoObjectVariant[];
}

export interface SchemaInfoAlternateMember {
  readonly type: string;
}

export interface SchemaInfoAlternate extends SchemaInfoBase {
  readonly 'meta-type': 'alternate';
  readonly members: readonly SchemaInfoAlternateMember[];
}

export interface SchemaInfoCommand extends SchemaInfoBase {
  readonly 'meta-type': 'command';
  readonly 'arg-type': string;
  readonly 'ret-type': string;
  readonly 'allow-oob'?: boolean;
}

export interface SchemaInfoEvent extends SchemaInfoBase {
  readonly 'meta-type': 'event';
  readonly 'arg-type': string;
}

export type SchemaInfo =
  | SchemaInfoBuiltin
  | SchemaInfoEnum
  | SchemaInfoArray
  | SchemaInfoObject
  | SchemaInfoAlternate
  | SchemaInfoCommand
  | SchemaInfoEvent;
