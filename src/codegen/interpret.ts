/**
 * Validators built at run time from a wire model, as closures (no eval).
 * Same rules and messages as the generated validators (validators.ts); used
 * for schemas known only at run time, e.g. a live server's introspection.
 */
import {
  type AlternateType,
  type BuiltinName,
  lookupType,
  type ObjectType,
  type WireModel,
  type WireType,
} from './model.js';
import {
  at,
  badEnum,
  type Check,
  checkAny,
  checkBool,
  checkInt8,
  checkInt16,
  checkInt32,
  checkInt64,
  checkNull,
  checkNumber,
  checkSize,
  checkStr,
  checkUint8,
  checkUint16,
  checkUint32,
  checkUint64,
  expected,
  fail,
  isObject,
  type JsonKind,
  jsonKind,
  missing,
  unknownMember,
  type Validation,
} from './runtime.js';

export type TypeCheck = (value: unknown) => Check;

export const BUILTIN_CHECKS: Readonly<Record<BuiltinName, TypeCheck>> = {
  str: checkStr,
  number: checkNumber,
  int: checkInt64,
  int8: checkInt8,
  int16: checkInt16,
  int32: checkInt32,
  int64: checkInt64,
  uint8: checkUint8,
  uint16: checkUint16,
  uint32: checkUint32,
  uint64: checkUint64,
  size: checkSize,
  bool: checkBool,
  any: checkAny,
  null: checkNull,
};

/** Checks for every command and event of one schema. */
export interface SchemaValidator {
  validateEvent(name: string, data: unknown): Validation<unknown>;
  validateCommandArgs(name: string, args: unknown): Validation<unknown>;
  validateCommandReturn(name: string, ret: unknown): Validation<unknown>;
  /** The check for a type by (possibly masked) name. */
  typeCheck(name: string): TypeCheck;
}

export function interpret(model: WireModel): SchemaValidator {
  const checks = new TypeChecks(model);
  const typeCheck = (name: string): TypeCheck => checks.of(name);
  return {
    typeCheck,
    validateEvent(name, data) {
      const event = model.events.get(name);
      if (!event) return fail('event', { path: [], reason: `unknown event '${name}'` });
      return checks.emptyOr(event.argType, 'data', data);
    },
    validateCommandArgs(name, args) {
      const command = model.commands.get(name);
      if (!command) return fail('execute', { path: [], reason: `unknown command '${name}'` });
      return checks.emptyOr(command.argType, 'arguments', args);
    },
    validateCommandReturn(name, ret) {
      const command = model.commands.get(name);
      if (!command) return fail('execute', { path: [], reason: `unknown command '${name}'` });
      if (command.retType === null) return checks.emptyOr(null, 'return', ret);
      const e = checks.of(command.retType)(ret);
      return e ? fail('return', e) : { ok: true, value: ret };
    },
  };
}

type MembersCheck = (v: Record<string, unknown>) => Check;

/** The check of each type of a model, built once on first use. */
class TypeChecks {
  private readonly cache = new Map<string, TypeCheck>();

  constructor(private readonly model: WireModel) {}

  of(name: string): TypeCheck {
    let check = this.cache.get(name);
    if (!check) {
      // Recursive types: register a forwarder before building.
      let built: TypeCheck | undefined;
      this.cache.set(name, (v) => built!(v));
      built = this.build(lookupType(this.model, name));
      check = built;
      this.cache.set(name, check);
    }
    return check;
  }

  /** A command's arguments or an event's data: `name`'s check, or "an empty object" when null. */
  emptyOr(name: string | null, root: string, value: unknown): Validation<unknown> {
    if (name === null) {
      if (value === undefined) return { ok: true, value: {} };
      if (!isObject(value)) return fail(root, expected('object', value));
      for (const k in value) return fail(root, unknownMember(k));
      return { ok: true, value };
    }
    const e = this.of(name)(value === undefined ? {} : value);
    return e ? fail(root, e) : { ok: true, value: value ?? {} };
  }

  private build(t: WireType): TypeCheck {
    switch (t.kind) {
      case 'builtin':
        return BUILTIN_CHECKS[t.builtin];
      case 'enum': {
        const names = t.values.map((v) => v.name);
        const set = new Set(names);
        return (v) => (typeof v === 'string' && set.has(v) ? undefined : badEnum(v, names));
      }
      case 'array':
        return this.arrayCheck(t.element);
      case 'object':
        return this.objectCheck(t);
      case 'alternate':
        return this.alternateCheck(t);
    }
  }

  private arrayCheck(elementType: string): TypeCheck {
    const element = this.of(elementType);
    return (v) => {
      if (!Array.isArray(v)) return expected('array', v);
      for (let i = 0; i < v.length; i++) {
        const e = element(v[i]);
        if (e) return at(i, e);
      }
      return undefined;
    };
  }

  private alternateCheck(t: AlternateType): TypeCheck {
    const byKind = new Map<JsonKind, TypeCheck>();
    for (const variant of t.variants) {
      // QEMU rejects alternates whose branches share a JSON type; first one wins regardless.
      for (const kind of jsonKindsOf(lookupType(this.model, variant.type))) {
        if (!byKind.has(kind)) byKind.set(kind, this.of(variant.type));
      }
    }
    const what = [...byKind.keys()].join(' or ');
    return (v) => {
      const check = byKind.get(jsonKind(v));
      return check ? check(v) : expected(what, v);
    };
  }

  private membersCheck(t: ObjectType): MembersCheck {
    const members = t.members.map((m) => ({
      name: m.name,
      optional: m.optional,
      check: this.of(m.type),
    }));
    return (v) => {
      for (const m of members) {
        const value = v[m.name];
        if (value === undefined) {
          if (!m.optional) return missing(m.name);
          continue;
        }
        const e = m.check(value);
        if (e) return at(m.name, e);
      }
      return undefined;
    };
  }

  /** A union's branches by tag value: each branch's members check and every member name it allows. */
  private branchChecks(t: ObjectType, known: ReadonlySet<string>) {
    const branches = new Map<string, { check: MembersCheck; known: Set<string> }>();
    for (const v of t.variants?.variants ?? []) {
      const branch = lookupType(this.model, v.type);
      if (branch.kind !== 'object' || branch.variants) {
        throw new Error(`branch '${v.name}' of '${t.name}' is not an object without variants`);
      }
      branches.set(v.name, {
        check: this.membersCheck(branch),
        known: new Set([...known, ...branch.members.map((m) => m.name)]),
      });
    }
    return branches;
  }

  private objectCheck(t: ObjectType): TypeCheck {
    const own = this.membersCheck(t);
    const known = new Set(t.members.map((m) => m.name));
    const branches = this.branchChecks(t, known);
    const tag = t.variants?.tag;
    return (v) => {
      if (!isObject(v)) return expected('object', v);
      let e = own(v);
      if (e) return e;
      let allowed: ReadonlySet<string> = known;
      if (tag !== undefined) {
        // The tag is a required enum member, already checked: it names a branch.
        const branch = branches.get(v[tag] as string);
        if (branch) {
          e = branch.check(v);
          if (e) return e;
          allowed = branch.known;
        }
      }
      for (const k in v) if (!allowed.has(k)) return unknownMember(k);
      return undefined;
    };
  }
}

/** Which JSON kinds select an alternate branch of this type (QEMU's alternate rules). */
export function jsonKindsOf(t: WireType): readonly JsonKind[] {
  switch (t.kind) {
    case 'builtin':
      switch (t.jsonType) {
        case 'string':
          return ['string'];
        case 'number':
        case 'int':
          return ['number'];
        case 'boolean':
          return ['boolean'];
        case 'null':
          return ['null'];
        default:
          return ['object', 'array', 'string', 'number', 'boolean', 'null'];
      }
    case 'enum':
      return ['string'];
    case 'array':
      return ['array'];
    case 'object':
      return ['object'];
    case 'alternate':
      throw new Error(`alternate '${t.name}' cannot be an alternate branch`);
  }
}
