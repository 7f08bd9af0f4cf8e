/**
 * Commands and events: what they take ('data'), what commands return, and
 * their flags.
 */
import type { QapiDoc } from './doc.js';
import { ArrayType, Entity, type QapiType, type TypeResolver } from './entities.js';
import { QapiSemanticError } from './error.js';
import type { IfCond } from './ifcond.js';
import type { Feature } from './members.js';
import { ObjectType } from './object-types.js';
import type { SourceInfo } from './source.js';
import type { QapiSchemaVisitor } from './visitor.js';

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
    // An empty name counts as absent, as in QEMU (it tests the name's truthiness).
    if (this.retTypeName) {
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
  // An empty name counts as absent, as in QEMU (it tests the name's truthiness).
  if (!typeName) return null;
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
