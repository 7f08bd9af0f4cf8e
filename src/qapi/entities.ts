/**
 * The checked model: one class per kind of definition. Each is built
 * unresolved from its expression, then `check()` resolves names to entities
 * and applies that kind's semantic rules with QEMU's messages, `connectDoc()`
 * ties its members and features to the doc comment. This file holds the
 * common base and the simple types; object-types.ts the structs, unions and
 * alternates; definitions.ts commands and events.
 */
import type { QapiDoc } from './doc.js';
import { QapiSemanticError } from './error.js';
import { IfCond } from './ifcond.js';
import {
  checkFeatureClashes,
  connectFeatures,
  type EnumMember,
  type Feature,
  type SeenMembers,
  setFeaturesDefinedIn,
} from './members.js';
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
  private docBlock: QapiDoc | null;

  constructor(
    readonly name: string,
    /** Null for built-ins; for implicit types, the definition that made them. */
    readonly info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    readonly features: readonly Feature[] = [],
  ) {
    this.cond = ifcond ?? new IfCond();
    this.docBlock = doc;
    setFeaturesDefinedIn(features, name);
  }

  /** The definition's doc comment; null when it has none, or once the schema dropped its docs. */
  get doc(): QapiDoc | null {
    return this.docBlock;
  }

  /** Lets go of the doc comment (see QapiSchema.dropDocs). */
  forgetDoc(): void {
    this.docBlock = null;
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
    for (let i = 0; i < this.features.length; i++) {
      const f = this.features[i] as Feature;
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
    for (let i = 0; i < members.length; i++) (members[i] as EnumMember).setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    const seen: SeenMembers = new Map();
    const members = this.members;
    for (let i = 0; i < members.length; i++) (members[i] as EnumMember).checkClash(this.info, seen);
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    const members = this.members;
    for (let i = 0; i < members.length; i++) (members[i] as EnumMember).connectDoc(doc);
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
    // QEMU 7.2 has no error for this: its generator stops on an internal assertion.
    if (this.element instanceof ArrayType) {
      throw new QapiSemanticError(
        this.info,
        `${what} uses array of arrays '[${this.elementTypeName}]', which is not supported`,
      );
    }
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
