/**
 * TypeScript names for QAPI names. QAPI names may contain '-' and '.', and
 * downstream extensions start with `__RFQDN_` (e.g. `__org.qemu_x-Foo`), so:
 *
 * - a type name that is already a valid identifier is kept as written
 *   (`MemoryFailureFlags`, `CpuInfo_x86`);
 * - any other name is split at runs of '-', '.' and '_', each part gets an
 *   upper-case first letter (an ALL-CAPS part is lower-cased after it:
 *   `MEMORY_FAILURE` → `MemoryFailure`) and the parts are joined;
 * - implicit types are named after their owner: a command's arguments
 *   `<Command>Arguments`, an event's data `<Event>Data`, a union's inline
 *   base `<Union>Base`; the empty object is `QapiEmpty`;
 * - names TypeScript already gives a meaning (`String`, `Object`, ...) get a
 *   `Qapi` prefix;
 * - a name taken twice gets `_2`, `_3`, ... in definition order.
 *
 * Member names are wire names, used as (quoted when needed) property keys.
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const RESERVED = new Set([
  'Array',
  'ArrayBuffer',
  'Boolean',
  'Date',
  'Error',
  'Exclude',
  'Extract',
  'Function',
  'Infinity',
  'Iterable',
  'JSON',
  'Map',
  'Math',
  'NaN',
  'Number',
  'Object',
  'Omit',
  'Partial',
  'Pick',
  'Promise',
  'Readonly',
  'ReadonlyArray',
  'Record',
  'RegExp',
  'Required',
  'Set',
  'String',
  'Symbol',
  'WeakMap',
  'WeakSet',
  // Names the generated modules define themselves.
  'Commands',
  'Events',
  'CommandName',
  'EventName',
]);

export function pascalCase(name: string): string {
  return name
    .split(/[-._]+/)
    .filter((p) => p !== '')
    .map((p) => {
      const rest = p === p.toUpperCase() ? p.slice(1).toLowerCase() : p.slice(1);
      return p[0]!.toUpperCase() + rest;
    })
    .join('');
}

/** The TS name for a QAPI type name, before collision handling. */
export function baseTypeName(
  name: string,
  owners: { commands: ReadonlySet<string>; events: ReadonlySet<string> },
): string {
  if (name === 'q_empty') return 'QapiEmpty';
  const implicit = /^q_obj_(.*)-(arg|base|wrapper)$/.exec(name);
  let ts: string;
  if (implicit?.[1]) {
    const owner = implicit[1];
    const role = implicit[2];
    const suffix =
      role === 'base'
        ? 'Base'
        : role === 'wrapper'
          ? 'Wrapper'
          : owners.events.has(owner)
            ? 'Data'
            : 'Arguments';
    ts = pascalCase(owner) + suffix;
  } else {
    ts = IDENTIFIER.test(name) ? name : pascalCase(name);
  }
  if (RESERVED.has(ts) || !IDENTIFIER.test(ts)) ts = `Qapi${ts}`;
  return ts;
}

/** Allocates unique identifiers in order. */
export class NameTable {
  private readonly taken = new Set<string>();

  claim(wanted: string): string {
    let name = wanted;
    for (let n = 2; this.taken.has(name); n++) name = `${wanted}_${n}`;
    this.taken.add(name);
    return name;
  }
}

/** A property key as written in TS source: bare when an identifier, quoted otherwise. */
export function propertyKey(name: string): string {
  return IDENTIFIER.test(name) ? name : quote(name);
}

/** A single-quoted TS string literal. */
export function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** The identifiers chosen for one model's types, shared by every generated module. */
export interface Naming {
  /** TS type expression for a type reference (builtins and arrays inline). */
  typeExpr(qapiName: string): string;
  /** The identifier of a named (enum, object, alternate) type. */
  typeId(qapiName: string): string;
  /** The name of the generated check function for any type. */
  checkId(qapiName: string): string;
}

const BUILTIN_TS: Readonly<Record<string, string>> = {
  str: 'string',
  number: 'number',
  int: 'number',
  int8: 'number',
  int16: 'number',
  int32: 'number',
  int64: 'number',
  uint8: 'number',
  uint16: 'number',
  uint32: 'number',
  uint64: 'number',
  size: 'number',
  bool: 'boolean',
  null: 'null',
  any: 'unknown',
};

export const BUILTIN_CHECK_IDS: Readonly<Record<string, string>> = {
  str: 'checkStr',
  number: 'checkNumber',
  int: 'checkInt64',
  int8: 'checkInt8',
  int16: 'checkInt16',
  int32: 'checkInt32',
  int64: 'checkInt64',
  uint8: 'checkUint8',
  uint16: 'checkUint16',
  uint32: 'checkUint32',
  uint64: 'checkUint64',
  size: 'checkSize',
  bool: 'checkBool',
  null: 'checkNull',
  any: 'checkAny',
};

interface NamedKinds {
  readonly types: ReadonlyMap<string, { readonly kind: string; readonly element?: string }>;
  readonly definitions: readonly { readonly kind: string; readonly name: string }[];
}

export function planNames(model: NamedKinds): Naming {
  const owners = {
    commands: new Set(model.definitions.filter((d) => d.kind === 'command').map((d) => d.name)),
    events: new Set(model.definitions.filter((d) => d.kind === 'event').map((d) => d.name)),
  };
  const table = new NameTable();
  const ids = new Map<string, string>();
  for (const d of model.definitions) {
    if (d.kind === 'enum' || d.kind === 'object' || d.kind === 'alternate') {
      ids.set(d.name, table.claim(baseTypeName(d.name, owners)));
    }
  }
  const typeId = (name: string): string => {
    const id = ids.get(name);
    if (id === undefined) throw new Error(`no TypeScript name for QAPI type '${name}'`);
    return id;
  };
  const elementOf = (name: string): string | undefined => {
    const t = model.types.get(name);
    return t?.kind === 'array' ? t.element : undefined;
  };
  const typeExpr = (name: string): string => {
    const builtin = BUILTIN_TS[name];
    if (builtin !== undefined && model.types.get(name)?.kind === 'builtin') return builtin;
    const element = elementOf(name);
    if (element !== undefined) return `${typeExpr(element)}[]`;
    return typeId(name);
  };
  const checkId = (name: string): string => {
    const builtin = BUILTIN_CHECK_IDS[name];
    if (builtin !== undefined && model.types.get(name)?.kind === 'builtin') return builtin;
    const element = elementOf(name);
    if (element !== undefined) return `${checkId(element)}_array`;
    return `check_${typeId(name)}`;
  };
  return { typeExpr, typeId, checkId };
}
