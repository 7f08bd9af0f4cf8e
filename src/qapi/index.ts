// Public API of the QAPI schema front end.
export type { DocFail, DocFeature, DocMember, SectionTag } from './doc.js';
export { ArgSection, DocSection, QapiDoc } from './doc.js';
export type { QapiErrorKind } from './error.js';
export {
  formatError,
  QapiError,
  QapiParseError,
  QapiSemanticError,
} from './error.js';
export { dictKeys, KEY_ORDER } from './dict.js';
export { checkExprs } from './expr.js';
export { nameStem } from './names.js';
export type { ParsedSchema, ParseOptions, QapiExpression, QapiValue } from './parser.js';
export { readSchemaFile } from './files.js';
export { MAX_NESTING, parseSchema } from './parser.js';
export type { DefinitionMeta } from './source.js';
export { Pragma, SourceInfo } from './source.js';
// Stage 2: the checked model, visitor, loading and checking files.
export { cName } from './c-name.js';
export type {
  AlternateQtype,
  BuiltinJsonType,
  EntityMeta,
  JsonType,
  TypeResolver,
} from './entities.js';
export { Command, Event } from './definitions.js';
export { ArrayType, BuiltinType, Entity, EnumType, Include, QapiType } from './entities.js';
export { AlternateType, ObjectType, Variants } from './object-types.js';
export type { IfExpr } from './ifcond.js';
export { IfCond } from './ifcond.js';
export type { QapiErrorInfo, SchemaCheckResult } from './load.js';
export { checkSchemaFile, loadSchema, MAX_SCHEMA_FILE_BYTES } from './load.js';
export type { MemberRole } from './members.js';
export { EnumMember, Feature, Member, ObjectTypeMember, Variant } from './members.js';
export type { LoadOptions } from './schema.js';
export { BUILTIN_MODULE, QapiSchema } from './schema.js';
export type { CommandFlags, QapiSchemaVisitor } from './visitor.js';
