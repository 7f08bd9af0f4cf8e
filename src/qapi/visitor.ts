/**
 * Walking the checked schema: QapiSchema.visit() calls these, module by
 * module (built-ins first, then the main file, then included files in the
 * order first included), each module's entities in definition order. Every
 * method is optional; visitNeeded filters entities (default: all).
 */
import type { IfCond } from './ifcond.js';
import type { BuiltinJsonType, Entity, QapiType } from './entities.js';
import type { ObjectType, Variants } from './object-types.js';
import type { EnumMember, Feature, ObjectTypeMember } from './members.js';
import type { QapiSchema } from './schema.js';
import type { SourceInfo } from './source.js';

/** A command's flags, as written (defaults filled in). */
export interface CommandFlags {
  readonly gen: boolean;
  readonly successResponse: boolean;
  readonly boxed: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
}

export interface QapiSchemaVisitor {
  visitBegin?(schema: QapiSchema): void;
  visitEnd?(): void;
  visitModule?(name: string): void;
  visitNeeded?(entity: Entity): boolean;
  visitInclude?(name: string, info: SourceInfo | null): void;
  visitBuiltinType?(name: string, info: SourceInfo | null, jsonType: BuiltinJsonType): void;
  visitEnumType?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    members: readonly EnumMember[],
    prefix: string | null,
  ): void;
  visitArrayType?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    elementType: QapiType,
  ): void;
  /** Members as written: `base` separate, only local members. */
  visitObjectType?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    base: ObjectType | null,
    members: readonly ObjectTypeMember[],
    variants: Variants | null,
  ): void;
  /** Members flattened: base members first, then local ones. */
  visitObjectTypeFlat?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    members: readonly ObjectTypeMember[],
    variants: Variants | null,
  ): void;
  visitAlternateType?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    variants: Variants,
  ): void;
  visitCommand?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    argType: ObjectType | null,
    retType: QapiType | null,
    flags: CommandFlags,
  ): void;
  visitEvent?(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    features: readonly Feature[],
    argType: ObjectType | null,
    boxed: boolean,
  ): void;
}
