/**
 * The checked schema: turns the syntax-checked expressions into entities
 * (adding the built-in and implicit types QEMU adds, in QEMU's order), checks
 * them all, groups them into modules and lets visitors walk them.
 */
import { dirname, relative } from 'node:path';
import { Command, Event } from './definitions.js';
import {
  ArrayType,
  BuiltinType,
  type BuiltinJsonType,
  type Entity,
  EnumType,
  Include,
  QapiType,
  type TypeResolver,
} from './entities.js';
import { dictKeys } from './dict.js';
import { formatError, QapiError, QapiSemanticError } from './error.js';
import { checkExprs } from './expr.js';
import { IfCond } from './ifcond.js';
import { AlternateType, ObjectType, Variants } from './object-types.js';
import { EnumMember, Feature, ObjectTypeMember, Variant } from './members.js';
import type { QapiDoc } from './doc.js';
import { type ParsedSchema, parseSchema, type QapiExpression } from './parser.js';
import type { SourceInfo } from './source.js';
import type { QapiSchemaVisitor } from './visitor.js';

/** The module holding the built-in types. */
export const BUILTIN_MODULE = './builtin';

const BUILTINS: readonly (readonly [string, BuiltinJsonType, string])[] = [
  ['str', 'string', 'char *'],
  ['number', 'number', 'double'],
  ['int', 'int', 'int64_t'],
  ['int8', 'int', 'int8_t'],
  ['int16', 'int', 'int16_t'],
  ['int32', 'int', 'int32_t'],
  ['int64', 'int', 'int64_t'],
  ['uint8', 'int', 'uint8_t'],
  ['uint16', 'int', 'uint16_t'],
  ['uint32', 'int', 'uint32_t'],
  ['uint64', 'int', 'uint64_t'],
  ['size', 'int', 'uint64_t'],
  ['bool', 'boolean', 'bool'],
  ['any', 'value', 'QObject *'],
  ['null', 'null', 'QNull *'],
];

const QTYPES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'];

/** An expression after checkExprs: keys and shapes are known good. */
type Expr = Record<string, unknown>;

export interface LoadOptions {
  /** Reads a schema file; defaults to the file system. Errors become QEMU's "can't read" errors. */
  readFile?: (path: string) => string;
}

/** One definition being added: the expression, where it is, its doc and its condition. */
interface Def {
  readonly expr: QapiExpression['expr'];
  readonly info: SourceInfo;
  readonly doc: QapiExpression['doc'];
  readonly ifcond: IfCond;
}

export class QapiSchema implements TypeResolver {
  private docList: readonly QapiDoc[];
  private readonly entityList: Entity[] = [];
  private readonly entityDict = new Map<string, Entity>();
  private readonly moduleDict = new Map<string, Entity[]>();
  private readonly schemaDir: string;
  private readonly moduleNames = new Map<string, string>();
  private predefining = true;

  /** Parse, check and model `fname` and everything it includes; throws QapiError. */
  constructor(
    readonly fname: string,
    options: LoadOptions = {},
  ) {
    this.schemaDir = dirname(fname);
    this.docList = this.build(fname, options);
  }

  /** The doc comment blocks of every file, in order. */
  get docs(): readonly QapiDoc[] {
    return this.docList;
  }

  /**
   * Lets go of every doc comment, checked already, for work that shows none
   * (introspection): on a large schema they are a good part of the model's
   * memory, and the next stage's model is built while this one is held.
   */
  dropDocs(): void {
    this.docList = [];
    const entities = this.entityList;
    for (let i = 0; i < entities.length; i++) (entities[i] as Entity).forgetDoc();
  }

  private build(fname: string, options: LoadOptions): readonly QapiDoc[] {
    const parsed: ParsedSchema = parseSchema(fname, options);
    const exprs = checkExprs(parsed.exprs);
    this.makeModule(BUILTIN_MODULE);
    this.makeModule(fname);
    this.definePredefineds();
    this.predefining = false;
    // Indexed loops here and below: iterators allocate on every step until
    // the optimizing compiler removes them, and a check never gets that far.
    for (let i = 0; i < exprs.length; i++) this.defineExpr(exprs[i] as QapiExpression);
    this.check();
    return parsed.docs;
  }

  /** Every entity, in definition order (built-ins first, implicit types before their users). */
  get entities(): readonly Entity[] {
    return this.entityList;
  }

  /** Module names in visiting order: './builtin', the main file, then includes as first met. */
  get modules(): readonly string[] {
    return [...this.moduleDict.keys()];
  }

  lookupEntity(name: string): Entity | undefined {
    return this.entityDict.get(name);
  }

  lookupType(name: string): QapiType | undefined {
    const ent = this.entityDict.get(name);
    return ent && isType(ent) ? ent : undefined;
  }

  resolveType(
    name: string,
    info: SourceInfo | null,
    what: string | ((info: SourceInfo | null) => string),
  ): QapiType {
    const typ = this.lookupType(name);
    if (!typ) {
      const user = typeof what === 'function' ? what(info) : what;
      throw new QapiSemanticError(info, `${user} uses unknown type '${name}'`);
    }
    return typ;
  }

  /** Walk the modules in order, and each module's entities in definition order. */
  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitBegin?.(this);
    for (const [name, entities] of this.moduleDict) {
      visitor.visitModule?.(name);
      for (const ent of entities) {
        if (visitor.visitNeeded?.(ent) ?? true) ent.visit(visitor);
      }
    }
    visitor.visitEnd?.();
  }

  private defineEntity(ent: Entity): void {
    if (!ent.info && !this.predefining)
      throw new Error(`internal: entity '${ent.name}' has no source`);
    this.entityList.push(ent);
    if (ent instanceof Include) return;
    const other = this.entityDict.get(ent.name);
    if (other) {
      if (other.info) {
        const where = formatError(new QapiSemanticError(other.info, 'previous definition'));
        throw new QapiSemanticError(ent.info, `'${ent.name}' is already defined\n${where}`);
      }
      throw new QapiSemanticError(ent.info, `${other.describe()} is already defined`);
    }
    this.entityDict.set(ent.name, ent);
  }

  private moduleName(fname: string): string {
    if (fname.startsWith('./')) return fname;
    // Every entity asks; path.relative resolves against the cwd each time.
    let name = this.moduleNames.get(fname);
    if (name === undefined) {
      name = relative(this.schemaDir, fname);
      this.moduleNames.set(fname, name);
    }
    return name;
  }

  private makeModule(fname: string): string {
    const name = this.moduleName(fname);
    if (!this.moduleDict.has(name)) this.moduleDict.set(name, []);
    return name;
  }

  private definePredefineds(): void {
    for (const [name, json, cType] of BUILTINS) {
      this.defineEntity(new BuiltinType(name, json, cType));
      // Arrays of every built-in exist whether used or not, as in QEMU.
      this.makeArrayType(name, null);
    }
    this.defineEntity(new ObjectType('q_empty', null, null, null, [], null, [], null));
    const members = QTYPES.map((n) => new EnumMember(n, null, IfCond.of(undefined)));
    this.defineEntity(new EnumType('QType', null, null, null, [], members, 'QTYPE'));
  }

  private makeFeatures(features: unknown, info: SourceInfo | null): readonly Feature[] {
    if (!Array.isArray(features) || features.length === 0) return NO_FEATURES;
    // map() rather than push(): the array is made to size (push leaves room
    // for 17), and a large schema keeps hundreds of thousands of these.
    return features.map((f: Expr) => new Feature(String(f.name), info, IfCond.of(f.if)));
  }

  private makeEnumMembers(values: unknown, info: SourceInfo): EnumMember[] {
    if (!Array.isArray(values)) return [];
    return values.map((v: Expr) => {
      const features = this.makeFeatures(v.features, info);
      return new EnumMember(String(v.name), info, IfCond.of(v.if), features);
    });
  }

  private makeArrayType(elementType: string, info: SourceInfo | null): string {
    // The 'List' suffix is reserved for these by the name checks.
    const name = `${elementType}List`;
    if (!this.lookupType(name)) this.defineEntity(new ArrayType(name, info, elementType));
    return name;
  }

  /** A type name, or `['T']` for an array of T. */
  private typeRef(typ: unknown, info: SourceInfo): string {
    if (Array.isArray(typ)) return this.makeArrayType(String(typ[0]), info);
    return String(typ);
  }

  private makeImplicitObjectType(
    name: string,
    info: SourceInfo,
    ifcond: IfCond,
    role: 'arg' | 'base',
    members: ObjectTypeMember[],
  ): string | null {
    if (members.length === 0) return null;
    const typeName = `q_obj_${name}-${role}`;
    // A second user can only be a duplicate definition, reported when that is defined.
    if (!(this.lookupEntity(typeName) instanceof ObjectType)) {
      this.defineEntity(new ObjectType(typeName, info, null, ifcond, [], null, members, null));
    }
    return typeName;
  }

  private makeMembers(data: unknown, info: SourceInfo): ObjectTypeMember[] {
    if (!isMembers(data)) return [];
    return dictKeys(data).map((key) => {
      const value = data[key] as Expr;
      const optional = key.startsWith('*');
      const name = optional ? key.slice(1) : key;
      const typ = this.typeRef(value.type, info);
      const features = this.makeFeatures(value.features, info);
      return new ObjectTypeMember(name, info, typ, optional, IfCond.of(value.if), features);
    });
  }

  private makeVariants(data: unknown, info: SourceInfo): Variant[] {
    if (!isMembers(data)) return [];
    return dictKeys(data).map((key) => {
      const value = data[key] as Expr;
      return new Variant(key, info, this.typeRef(value.type, info), IfCond.of(value.if));
    });
  }

  /** One definition into the model, as QEMU's _def_exprs: one _def_* per kind. */
  private defineExpr(definition: QapiExpression): void {
    const { expr, info, doc } = definition;
    const d: Def = { expr, info, doc, ifcond: IfCond.of(expr.if) };
    if ('enum' in expr) this.defineEnum(d);
    else if ('struct' in expr) this.defineStruct(d);
    else if ('union' in expr) this.defineUnion(d);
    else if ('alternate' in expr) this.defineAlternate(d);
    else if ('command' in expr) this.defineCommand(d);
    else if ('event' in expr) this.defineEvent(d);
    else if ('include' in expr) {
      // The parser already resolved the include against the including file.
      this.defineEntity(new Include(this.makeModule(String(expr.include)), info));
    } else {
      throw new QapiSemanticError(info, 'internal: unknown kind of definition');
    }
  }

  private defineEnum({ expr, info, doc, ifcond }: Def): void {
    const prefix = typeof expr.prefix === 'string' ? expr.prefix : null;
    const members = this.makeEnumMembers(expr.data, info);
    const f = this.makeFeatures(expr.features, info);
    this.defineEntity(new EnumType(String(expr.enum), info, doc, ifcond, f, members, prefix));
  }

  private defineStruct({ expr, info, doc, ifcond }: Def): void {
    const base = typeof expr.base === 'string' ? expr.base : null;
    const f = this.makeFeatures(expr.features, info);
    // The expression checks let a type name through here, and QEMU 7.2
    // then fails on it with an internal error; we reject it instead.
    if (typeof expr.data === 'string') {
      throw new QapiSemanticError(info, "'data' must be an object");
    }
    const members = this.makeMembers(expr.data, info);
    this.defineEntity(
      new ObjectType(String(expr.struct), info, doc, ifcond, f, base, members, null),
    );
  }

  private defineUnion({ expr, info, doc, ifcond }: Def): void {
    const name = String(expr.union);
    const f = this.makeFeatures(expr.features, info);
    const base =
      typeof expr.base === 'string'
        ? expr.base
        : this.makeImplicitObjectType(
            name,
            info,
            ifcond,
            'base',
            this.makeMembers(expr.base, info),
          );
    const variants = this.makeVariants(expr.data, info);
    const tagged = new Variants(String(expr.discriminator), info, null, variants);
    this.defineEntity(new ObjectType(name, info, doc, ifcond, f, base, [], tagged));
  }

  private defineAlternate({ expr, info, doc, ifcond }: Def): void {
    const f = this.makeFeatures(expr.features, info);
    const variants = this.makeVariants(expr.data, info);
    const tag = new ObjectTypeMember('type', info, 'QType', false, IfCond.of(undefined));
    const alt = new Variants(null, info, tag, variants);
    this.defineEntity(new AlternateType(String(expr.alternate), info, doc, ifcond, f, alt));
  }

  private defineCommand({ expr, info, doc, ifcond }: Def): void {
    const name = String(expr.command);
    const f = this.makeFeatures(expr.features, info);
    const data = this.argTypeRef(name, expr.data, info, ifcond);
    const rets = expr.returns === undefined ? null : this.typeRef(expr.returns, info);
    this.defineEntity(
      new Command(
        name,
        info,
        doc,
        ifcond,
        f,
        data,
        rets,
        flag(expr.gen, true),
        flag(expr['success-response'], true),
        flag(expr.boxed, false),
        flag(expr['allow-oob'], false),
        flag(expr['allow-preconfig'], false),
        flag(expr.coroutine, false),
      ),
    );
  }

  private defineEvent({ expr, info, doc, ifcond }: Def): void {
    const name = String(expr.event);
    const f = this.makeFeatures(expr.features, info);
    const data = this.argTypeRef(name, expr.data, info, ifcond);
    this.defineEntity(new Event(name, info, doc, ifcond, f, data, flag(expr.boxed, false)));
  }

  /** 'data' of a command or event: a type name, or members making an implicit q_obj_NAME-arg. */
  private argTypeRef(name: string, data: unknown, info: SourceInfo, ifcond: IfCond): string | null {
    if (data === undefined || data === null) return null;
    if (typeof data === 'string') return data;
    return this.makeImplicitObjectType(name, info, ifcond, 'arg', this.makeMembers(data, info));
  }

  private check(): void {
    // Checking can define nothing new: the list is fixed from here on.
    const entities = this.entityList;
    for (let i = 0; i < entities.length; i++) {
      const ent = entities[i] as Entity;
      ent.check(this);
      ent.connectDoc();
      ent.checkDoc();
    }
    for (let i = 0; i < entities.length; i++) {
      const ent = entities[i] as Entity;
      const file = ent.moduleFile();
      const name = this.moduleName(file ?? BUILTIN_MODULE);
      const list = this.moduleDict.get(name);
      if (!list) throw new Error(`internal: no module '${name}'`);
      ent.module = name;
      list.push(ent);
    }
  }
}

function isType(ent: Entity): ent is QapiType {
  return ent instanceof QapiType;
}

function flag(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

/** Normalized members: `{ name: { type, if?, features? } }`, read in source order (dictKeys). */
function isMembers(data: unknown): data is Record<string, unknown> {
  return data !== null && typeof data === 'object' && !Array.isArray(data);
}

const NO_FEATURES: readonly Feature[] = Object.freeze([]);

export { QapiError };
