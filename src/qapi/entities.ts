/**
 * The checked model: one class per kind of definition. Each is built
 * unresolved from its expression, then `check()` resolves names to entities
 * and applies that kind's semantic rules with QEMU's messages, `connectDoc()`
 * ties its members and features to the doc comment.
 */
import { cName } from './c-name.js';
import { QapiSemanticError } from './error.js';
import { IfCond } from './ifcond.js';
import {
  checkFeatureClashes,
  connectFeatures,
  type EnumMember,
  type Feature,
  type ObjectTypeMember,
  type SeenMembers,
  Variant,
} from './members.js';
import type { QapiDoc } from './doc.js';
import type { SourceInfo } from './source.js';
import type { QapiSchemaVisitor } from './visitor.js';

/** What entities need from the schema while checking. */
export interface TypeResolver {
  lookupType(name: string): QapiType | undefined;
  resolveType(
    name: string,
    info: SourceInfo | null,
    what: string | ((info: SourceInfo | null) => string),
  ): QapiType;
}

/** JSON types as QEMU's introspection names them ('value' = any). */
export type JsonType =
  | 'string'
  | 'number'
  | 'int'
  | 'boolean'
  | 'null'
  | 'value'
  | 'array'
  | 'object';

export type EntityMeta =
  | 'include'
  | 'built-in'
  | 'enum'
  | 'array'
  | 'struct'
  | 'union'
  | 'alternate'
  | 'command'
  | 'event';

export abstract class Entity {
  abstract readonly meta: EntityMeta;
  /** Name of the module (schema file, relative to the main one) holding this entity. */
  module: string | null = null;
  protected checked = false;
  private readonly cond: IfCond;

  constructor(
    readonly name: string,
    /** Null for built-ins; for implicit types, the definition that made them. */
    readonly info: SourceInfo | null,
    readonly doc: QapiDoc | null,
    ifcond: IfCond | null,
    readonly features: readonly Feature[] = [],
  ) {
    this.cond = ifcond ?? new IfCond();
    for (const f of features) f.setDefinedIn(name);
  }

  get ifcond(): IfCond {
    return this.cond;
  }

  get isChecked(): boolean {
    return this.checked;
  }

  check(_schema: TypeResolver): void {
    checkFeatureClashes(this.info, this.features);
    this.checked = true;
  }

  connectDoc(doc: QapiDoc | null = this.doc): void {
    connectFeatures(doc, this.features);
  }

  checkDoc(): void {
    this.doc?.check();
  }

  /** Implicit entities are made by the schema, not written in it. */
  isImplicit(): boolean {
    return this.info === null;
  }

  /** The file whose module this entity is listed under (null: the built-in module). */
  moduleFile(): string | null {
    return this.info?.fname ?? null;
  }

  describe(): string {
    return `${this.meta} '${this.name}'`;
  }

  abstract visit(visitor: QapiSchemaVisitor): void;
}

/** `{ 'include': ... }`: kept so that visitors see the include structure. */
export class Include extends Entity {
  readonly meta = 'include';

  constructor(
    readonly subModule: string,
    info: SourceInfo,
  ) {
    super('', info, null, null);
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitInclude?.(this.subModule, this.info);
  }
}

export abstract class QapiType extends Entity {
  abstract jsonType(): JsonType;

  /** The QType an alternate uses to tell this branch apart (undefined: cannot be a branch). */
  alternateQtype(): AlternateQtype | undefined {
    return ALTERNATE_QTYPE[this.jsonType()];
  }

  /** The type name documentation shows, or null for implicit types. */
  docType(): string | null {
    return this.isImplicit() ? null : this.name;
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    for (const f of this.features) {
      if (f.isSpecial())
        throw new QapiSemanticError(this.info, `feature '${f.name}' is not supported for types`);
    }
  }

  override describe(): string {
    return `${this.meta} type '${this.name}'`;
  }
}

export type AlternateQtype =
  | 'QTYPE_QNULL'
  | 'QTYPE_QSTRING'
  | 'QTYPE_QNUM'
  | 'QTYPE_QBOOL'
  | 'QTYPE_QLIST'
  | 'QTYPE_QDICT';

const ALTERNATE_QTYPE: Partial<Record<JsonType, AlternateQtype>> = {
  null: 'QTYPE_QNULL',
  string: 'QTYPE_QSTRING',
  number: 'QTYPE_QNUM',
  int: 'QTYPE_QNUM',
  boolean: 'QTYPE_QBOOL',
  array: 'QTYPE_QLIST',
  object: 'QTYPE_QDICT',
};

export type BuiltinJsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'value';

export class BuiltinType extends QapiType {
  readonly meta = 'built-in';

  constructor(
    name: string,
    private readonly json: BuiltinJsonType,
    /** The C type QEMU's generators use, kept for code generators. */
    readonly cType: string,
  ) {
    super(name, null, null, null);
  }

  jsonType(): JsonType {
    return this.json;
  }

  override docType(): string {
    return this.json;
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitBuiltinType?.(this.name, this.info, this.json);
  }
}

export class EnumType extends QapiType {
  readonly meta = 'enum';

  constructor(
    name: string,
    info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly members: readonly EnumMember[],
    readonly prefix: string | null,
  ) {
    super(name, info, doc, ifcond, features);
    for (const m of members) m.setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    const seen: SeenMembers = new Map();
    for (const m of this.members) m.checkClash(this.info, seen);
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    for (const m of this.members) m.connectDoc(doc);
  }

  override isImplicit(): boolean {
    // The only predefined enum.
    return this.name === 'QType';
  }

  memberNames(): string[] {
    return this.members.map((m) => m.name);
  }

  jsonType(): JsonType {
    return 'string';
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitEnumType?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.members,
      this.prefix,
    );
  }
}

/** `['T']`: always implicit, named `TList`, conditional exactly when T is. */
export class ArrayType extends QapiType {
  readonly meta = 'array';
  private element: QapiType | null = null;

  constructor(
    name: string,
    info: SourceInfo | null,
    readonly elementTypeName: string,
  ) {
    super(name, info, null, null);
  }

  get elementType(): QapiType {
    if (!this.element) throw new Error(`array type '${this.name}' is not checked yet`);
    return this.element;
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    const what = this.info?.defnMeta ?? 'array';
    this.element = schema.resolveType(this.elementTypeName, this.info, what);
  }

  override get ifcond(): IfCond {
    return this.elementType.ifcond;
  }

  override moduleFile(): string | null {
    // Arrays live with their element type, wherever they were first used.
    return this.elementType.info?.fname ?? null;
  }

  override isImplicit(): boolean {
    return true;
  }

  jsonType(): JsonType {
    return 'array';
  }

  override docType(): string | null {
    const element = this.elementType.docType();
    return element ? `array of ${element}` : null;
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitArrayType?.(this.name, this.info, this.ifcond, this.elementType);
  }

  override describe(): string {
    return `${this.meta} type ['${this.elementTypeName}']`;
  }
}

/** A struct (local members, optional base) or a union (base, variants). */
export class ObjectType extends QapiType {
  readonly meta: 'struct' | 'union';
  private baseType: ObjectType | null = null;
  private allMembers: ObjectTypeMember[] | null = null;

  constructor(
    name: string,
    info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly baseName: string | null,
    readonly localMembers: readonly ObjectTypeMember[],
    readonly variants: Variants | null,
  ) {
    super(name, info, doc, ifcond, features);
    this.meta = variants ? 'union' : 'struct';
    for (const m of localMembers) m.setDefinedIn(name);
    variants?.setDefinedIn(name);
  }

  get base(): ObjectType | null {
    return this.baseType;
  }

  /** All members, base ones first; available once checked. */
  get members(): readonly ObjectTypeMember[] {
    if (!this.allMembers) throw new Error(`object type '${this.name}' is not checked yet`);
    return this.allMembers;
  }

  override check(schema: TypeResolver): void {
    // A type is checked when its C struct would contain it (base, branches):
    // re-entering before completion means it contains itself.
    if (this.allMembers) return;
    if (this.checked) throw new QapiSemanticError(this.info, `object ${this.name} contains itself`);
    super.check(schema);

    const seen: SeenMembers = new Map();
    if (this.baseName !== null) {
      const base = schema.resolveType(this.baseName, this.info, "'base'");
      if (!(base instanceof ObjectType) || base.variants) {
        throw new QapiSemanticError(
          this.info,
          `'base' requires a struct type, ${base.describe()} isn't`,
        );
      }
      this.baseType = base;
      base.check(schema);
      base.checkClash(this.info, seen);
    }
    for (const m of this.localMembers) {
      m.check(schema);
      m.checkClash(this.info, seen);
    }
    const members = [...seen.values()] as ObjectTypeMember[];
    if (this.variants) {
      this.variants.check(schema, seen);
      this.variants.checkClash(this.info, seen);
    }
    this.allMembers = members;
  }

  /** Add this type's members to `seen`, reporting clashes on behalf of `info`. */
  checkClash(info: SourceInfo | null, seen: SeenMembers): void {
    for (const m of this.members) m.checkClash(info, seen);
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    if (this.baseType?.isImplicit()) this.baseType.connectDoc(doc);
    for (const m of this.localMembers) m.connectDoc(doc);
  }

  override isImplicit(): boolean {
    // q_empty and the q_obj_* argument/base types.
    return this.name.startsWith('q_');
  }

  isEmpty(): boolean {
    return this.members.length === 0 && !this.variants;
  }

  jsonType(): JsonType {
    return 'object';
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitObjectType?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.baseType,
      this.localMembers,
      this.variants,
    );
    visitor.visitObjectTypeFlat?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.members,
      this.variants,
    );
  }
}

export class AlternateType extends QapiType {
  readonly meta = 'alternate';

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly variants: Variants,
  ) {
    super(name, info, doc, ifcond, features);
    variants.setDefinedIn(name);
    variants.tagMember.setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.variants.tagMember.check(schema);
    // Branch names are free-form here, so clashes are ours to find.
    this.variants.check(schema, new Map());
    const seen: SeenMembers = new Map();
    const qtypesSeen = new Map<AlternateQtype, string>();
    for (const v of this.variants.variants) {
      v.checkClash(this.info, seen);
      const qtype = v.type.alternateQtype();
      if (!qtype) {
        throw new QapiSemanticError(
          this.info,
          `${v.describe(this.info)} cannot use ${v.type.describe()}`,
        );
      }
      const conflicting = new Set<AlternateQtype>([qtype]);
      if (qtype === 'QTYPE_QSTRING') {
        // The keyval visitor reads every scalar from a string: enum values
        // that look like a bool or number are ambiguous with those branches.
        if (v.type instanceof EnumType) {
          for (const m of v.type.members) {
            if (m.name === 'on' || m.name === 'off') conflicting.add('QTYPE_QBOOL');
            if (/^[-+0-9.]/.test(m.name)) conflicting.add('QTYPE_QNUM');
          }
        } else {
          conflicting.add('QTYPE_QNUM');
          conflicting.add('QTYPE_QBOOL');
        }
      }
      for (const qt of conflicting) {
        const other = qtypesSeen.get(qt);
        if (other !== undefined) {
          throw new QapiSemanticError(
            this.info,
            `${v.describe(this.info)} can't be distinguished from '${other}'`,
          );
        }
        qtypesSeen.set(qt, v.name);
      }
    }
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    for (const v of this.variants.variants) v.connectDoc(doc);
  }

  jsonType(): JsonType {
    return 'value';
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitAlternateType?.(this.name, this.info, this.ifcond, this.features, this.variants);
  }
}

/**
 * The branches of a union (selected by a discriminator member of its base)
 * or an alternate (selected by the JSON type, through an implicit QType tag).
 */
export class Variants {
  private tag: ObjectTypeMember | null;
  private readonly branches: Variant[];

  constructor(
    readonly tagName: string | null,
    readonly info: SourceInfo,
    tagMember: ObjectTypeMember | null,
    variants: readonly Variant[],
  ) {
    this.tag = tagMember;
    this.branches = [...variants];
  }

  get tagMember(): ObjectTypeMember {
    if (!this.tag) throw new Error('union discriminator is not checked yet');
    return this.tag;
  }

  get variants(): readonly Variant[] {
    return this.branches;
  }

  setDefinedIn(name: string): void {
    for (const v of this.branches) v.setDefinedIn(name);
  }

  /** `seen` holds the union's members so far; empty for an alternate. */
  check(schema: TypeResolver, seen: SeenMembers): void {
    const isUnion = this.tagName !== null;
    if (this.tagName !== null) this.checkDiscriminator(schema, this.tagName, seen);
    const tagType = this.tagMember.type;
    if (isUnion && tagType instanceof EnumType) {
      // Enum values without a branch select the empty type.
      const cases = new Set(this.branches.map((v) => v.name));
      for (const m of tagType.members) {
        if (cases.has(m.name)) continue;
        const v = new Variant(m.name, this.info, 'q_empty', m.ifcond);
        v.setDefinedIn(this.tagMember.definedIn);
        this.branches.push(v);
      }
    }
    if (this.branches.length === 0) throw new QapiSemanticError(this.info, 'union has no branches');
    for (const v of this.branches) {
      v.check(schema);
      if (!isUnion || !(tagType instanceof EnumType)) continue;
      if (!tagType.memberNames().includes(v.name)) {
        throw new QapiSemanticError(
          this.info,
          `branch '${v.name}' is not a value of ${tagType.describe()}`,
        );
      }
      if (!(v.type instanceof ObjectType) || v.type.variants) {
        throw new QapiSemanticError(
          this.info,
          `${v.describe(this.info)} cannot use ${v.type.describe()}`,
        );
      }
      v.type.check(schema);
    }
  }

  private checkDiscriminator(schema: TypeResolver, tagName: string, seen: SeenMembers): void {
    const tag = seen.get(cName(tagName)) as ObjectTypeMember | undefined;
    if (!tag || tag.name !== tagName) {
      throw new QapiSemanticError(
        this.info,
        `discriminator '${tagName}' is not a member of 'base'`,
      );
    }
    this.tag = tag;
    const baseType = schema.lookupType(tag.definedIn);
    const base = baseType && !baseType.isImplicit() ? `base type '${tag.definedIn}'` : "'base'";
    const fail = (rule: string) =>
      new QapiSemanticError(this.info, `discriminator member '${tagName}' of ${base} ${rule}`);
    if (!(tag.type instanceof EnumType)) throw fail('must be of enum type');
    if (tag.optional) throw fail('must not be optional');
    if (tag.ifcond.isPresent()) throw fail('must not be conditional');
  }

  /** Each branch's members must not clash with the common members (branches may share names). */
  checkClash(info: SourceInfo | null, seen: SeenMembers): void {
    for (const v of this.branches) {
      const type = v.type;
      if (type instanceof ObjectType) type.checkClash(info, new Map(seen));
    }
  }
}

export class Command extends Entity {
  readonly meta = 'command';
  argType: ObjectType | null = null;
  retType: QapiType | null = null;

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly argTypeName: string | null,
    readonly retTypeName: string | null,
    readonly gen: boolean,
    readonly successResponse: boolean,
    readonly boxed: boolean,
    readonly allowOob: boolean,
    readonly allowPreconfig: boolean,
    readonly coroutine: boolean,
  ) {
    super(name, info, doc, ifcond, features);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.argType = checkArgType(schema, this, this.argTypeName, 'command');
    if (this.retTypeName !== null) {
      const ret = schema.resolveType(this.retTypeName, this.info, "command's 'returns'");
      this.retType = ret;
      if (!returnsExceptions(this.info).includes(this.name)) {
        const typ = ret instanceof ArrayType ? ret.elementType : ret;
        if (!(typ instanceof ObjectType)) {
          throw new QapiSemanticError(
            this.info,
            `command's 'returns' cannot take ${ret.describe()}`,
          );
        }
      }
    }
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    if (doc && this.argType?.isImplicit()) this.argType.connectDoc(doc);
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitCommand?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.argType,
      this.retType,
      {
        gen: this.gen,
        successResponse: this.successResponse,
        boxed: this.boxed,
        allowOob: this.allowOob,
        allowPreconfig: this.allowPreconfig,
        coroutine: this.coroutine,
      },
    );
  }
}

export class Event extends Entity {
  readonly meta = 'event';
  argType: ObjectType | null = null;

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly argTypeName: string | null,
    readonly boxed: boolean,
  ) {
    super(name, info, doc, ifcond, features);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.argType = checkArgType(schema, this, this.argTypeName, 'event');
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    if (doc && this.argType?.isImplicit()) this.argType.connectDoc(doc);
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitEvent?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.argType,
      this.boxed,
    );
  }
}

/** Commands and events take an object as 'data'; a union only when boxed. */
function checkArgType(
  schema: TypeResolver,
  owner: Command | Event,
  typeName: string | null,
  kind: 'command' | 'event',
): ObjectType | null {
  if (typeName === null) return null;
  const arg = schema.resolveType(typeName, owner.info, `${kind}'s 'data'`);
  if (!(arg instanceof ObjectType)) {
    throw new QapiSemanticError(owner.info, `${kind}'s 'data' cannot take ${arg.describe()}`);
  }
  if (arg.variants && !owner.boxed) {
    throw new QapiSemanticError(
      owner.info,
      `${kind}'s 'data' can take ${arg.describe()} only with 'boxed': true`,
    );
  }
  return arg;
}

function returnsExceptions(info: SourceInfo | null): readonly string[] {
  return info?.pragma.commandReturnsExceptions ?? [];
}
