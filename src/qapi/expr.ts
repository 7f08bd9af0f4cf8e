/**
 * Context-free checks of parsed expressions, as QEMU 7.2's expr.py: one
 * small check per kind of definition. Also normalizes the sugared forms
 * (member `'name': 'Type'` → `{ type: 'Type' }`, feature and enum value
 * strings → `{ name }`) in place, so the model builder sees one shape.
 */
import type { QapiDoc } from './doc.js';
import { dictKeys } from './dict.js';
import { QapiSemanticError } from './error.js';
import { cName } from './c-name.js';
import { nameStem } from './names.js';
import type { QapiExpression } from './parser.js';
import { pyTruthy } from './pytext.js';
import type { DefinitionMeta, SourceInfo } from './source.js';

type Dict = Record<string, unknown>;

const METAS: readonly DefinitionMeta[] = [
  'enum',
  'struct',
  'union',
  'alternate',
  'command',
  'event',
];

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(d: Dict, key: string): boolean {
  return Object.hasOwn(d, key);
}

function get(d: Dict, key: string): unknown {
  return has(d, key) ? d[key] : undefined;
}

function fail(info: SourceInfo, message: string): never {
  throw new QapiSemanticError(info, message);
}

function checkNameIsStr(name: unknown, info: SourceInfo, source: string): asserts name is string {
  if (typeof name !== 'string') fail(info, `${source} requires a string name`);
}

function checkNameStr(name: string, info: SourceInfo, source: string): string {
  const stem = nameStem(name);
  if (stem === null) fail(info, `${source} has an invalid name`);
  return stem;
}

const LOWER_OR_DASH = /[a-z-]/;
const UPPER = /[A-Z]/;
const CAMEL = /^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/;

/** Event names: upper case stem. */
function checkNameUpper(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (LOWER_OR_DASH.test(stem)) fail(info, `name of ${source} must not use lowercase or '-'`);
}

/** Command and member names: lower case stem, no '_' (unless permitted). */
function checkNameLower(
  name: string,
  info: SourceInfo,
  source: string,
  permitUpper = false,
  permitUnderscore = false,
): void {
  const stem = checkNameStr(name, info, source);
  if ((!permitUpper && UPPER.test(stem)) || (!permitUnderscore && stem.includes('_'))) {
    fail(info, `name of ${source} must not use uppercase or '_'`);
  }
}

/** Type names: CamelCase stem. */
function checkNameCamel(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (!CAMEL.test(stem)) {
    fail(info, `name of ${source} must use CamelCase`);
  }
}

function checkDefnNameStr(name: string, info: SourceInfo, meta: DefinitionMeta): void {
  if (meta === 'event') {
    checkNameUpper(name, info, meta);
  } else if (meta === 'command') {
    const permitUnderscore = info.pragma.commandNameExceptions.includes(name);
    checkNameLower(name, info, meta, false, permitUnderscore);
  } else {
    checkNameCamel(name, info, meta);
    if (name.endsWith('List')) fail(info, `${meta} name should not end in 'List'`);
  }
}

function quoteSorted(keys: Iterable<string>): string {
  return [...keys]
    .sort()
    .map((k) => `'${k}'`)
    .join(', ');
}

/** The dict has every required key and nothing beyond required + optional. */
function checkKeys(
  value: Dict,
  info: SourceInfo,
  source: string,
  required: readonly string[],
  optional: readonly string[],
): void {
  // Plain loops, lists made only for an error: this runs for every member.
  let missing: string[] | null = null;
  for (let i = 0; i < required.length; i++) {
    const k = required[i] as string;
    if (!has(value, k)) {
      missing ??= [];
      missing.push(k);
    }
  }
  if (missing !== null) {
    const s = missing.length > 1 ? 's' : '';
    fail(info, `${source} misses key${s} ${quoteSorted(missing)}`);
  }
  // for-in rather than dictKeys: no key array (the message sorts the keys anyway).
  let unknown: string[] | null = null;
  for (const k in value) {
    if (!required.includes(k) && !optional.includes(k)) {
      unknown ??= [];
      unknown.push(k);
    }
  }
  if (unknown !== null) {
    const s = unknown.length > 1 ? 's' : '';
    const allowed = new Set([...required, ...optional]);
    fail(
      info,
      `${source} has unknown key${s} ${quoteSorted(unknown)}\nValid keys are ${quoteSorted(allowed)}.`,
    );
  }
}

// Key lists of the per-member checks, made once rather than for every member.
const TYPE_KEY = ['type'];
const NAME_KEY = ['name'];
const IF_KEY = ['if'];
const MEMBER_OPTIONAL = ['if', 'features'];

const FALSE_FLAGS = ['gen', 'success-response'];
const TRUE_FLAGS = ['boxed', 'allow-oob', 'allow-preconfig', 'coroutine'];

function checkFlags(expr: Dict, info: SourceInfo): void {
  for (let i = 0; i < FALSE_FLAGS.length; i++) {
    const key = FALSE_FLAGS[i] as string;
    if (has(expr, key) && expr[key] !== false) fail(info, `flag '${key}' may only use false value`);
  }
  for (let i = 0; i < TRUE_FLAGS.length; i++) {
    const key = TRUE_FLAGS[i] as string;
    if (has(expr, key) && expr[key] !== true) fail(info, `flag '${key}' may only use true value`);
  }
  // Not fundamentally incompatible, but without a use case the semantics are unclear.
  if (has(expr, 'allow-oob') && has(expr, 'coroutine')) {
    fail(info, "flags 'allow-oob' and 'coroutine' are incompatible");
  }
}

const IF_IDENTIFIER = /^[A-Z][A-Z0-9_]*$/;

/** The optional `if` condition: an identifier string, or `{all: [...]}`, `{any: [...]}`, `{not: ...}`. */
function checkIf(expr: Dict, info: SourceInfo, source: string): void {
  const ifcond = get(expr, 'if');
  if (ifcond !== undefined) checkCondition(ifcond, info, source);
}

function checkCondition(cond: unknown, info: SourceInfo, source: string): void {
  if (typeof cond === 'string') {
    if (!IF_IDENTIFIER.test(cond)) {
      fail(info, `'if' condition '${cond}' of ${source} is not a valid identifier`);
    }
    return;
  }
  if (!isDict(cond)) fail(info, `'if' condition of ${source} must be a string or an object`);
  checkKeys(cond, info, `'if' condition of ${source}`, [], ['all', 'any', 'not']);
  if (Object.keys(cond).length !== 1)
    fail(info, `'if' condition of ${source} has conflicting keys`);
  if (has(cond, 'not')) checkCondition(cond.not, info, source);
  else if (has(cond, 'all')) checkOperands('all', cond.all, info, source);
  else checkOperands('any', cond.any, info, source);
}

function checkOperands(
  operator: string,
  operands: unknown,
  info: SourceInfo,
  source: string,
): void {
  if (!Array.isArray(operands)) fail(info, `'${operator}' condition of ${source} must be an array`);
  if (operands.length === 0) fail(info, `'if' condition [] of ${source} is useless`);
  for (const operand of operands) checkCondition(operand, info, source);
}

/** `'name': 'Type'` → `'name': { 'type': 'Type' }` in a members dict. */
function normalizeMembers(members: unknown): void {
  if (!isDict(members)) return;
  const keys = dictKeys(members);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const arg = members[key];
    if (!isDict(arg)) members[key] = { type: arg };
  }
}

/**
 * A type reference: a name, a one-element array (if allowed) or an
 * anonymous members dict (if allowed; a string `allowDict` names the type,
 * for the member-name-exceptions pragma).
 */
function checkType(
  value: unknown,
  info: SourceInfo,
  source: string,
  allowArray = false,
  allowDict: boolean | string = false,
): void {
  if (value === undefined || typeof value === 'string') return;
  if (Array.isArray(value)) {
    if (!allowArray) fail(info, `${source} cannot be an array`);
    if (value.length !== 1 || typeof value[0] !== 'string') {
      fail(info, `${source}: array type must contain single type name`);
    }
    return;
  }
  if (allowDict === false || allowDict === '') fail(info, `${source} should be a type name`);
  if (!isDict(value)) fail(info, `${source} should be an object or type name`);
  const permissive =
    typeof allowDict === 'string' && info.pragma.memberNameExceptions.includes(allowDict);
  const keys = dictKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const rawKey = keys[i] as string;
    const arg = value[rawKey];
    const keySource = `${source} member '${rawKey}'`;
    const key = rawKey.startsWith('*') ? rawKey.slice(1) : rawKey;
    checkNameLower(key, info, keySource, permissive, permissive);
    if (isReservedMemberName(key)) fail(info, `${keySource} uses reserved name`);
    const member = arg as Dict; // normalized to a dict before we get here
    checkKeys(member, info, keySource, TYPE_KEY, MEMBER_OPTIONAL);
    checkIf(member, info, keySource);
    checkFeatures(get(member, 'features'), info);
    checkType(member.type, info, keySource, true);
  }
}

/** 'u' and 'has_*' (as C names) are taken by the generated C structs. */
function isReservedMemberName(key: string): boolean {
  if (key === 'u') return true;
  if (key.length < 4 || !key.startsWith('has')) return false;
  return cName(key.slice(0, 4), false) === 'has_';
}

/** `features`: a list of names or `{name, if}` dicts; names normalized to dicts. */
function checkFeatures(features: unknown, info: SourceInfo): void {
  if (features === undefined) return;
  if (!Array.isArray(features)) fail(info, "'features' must be an array");
  for (let i = 0; i < features.length; i++) {
    if (!isDict(features[i])) features[i] = { name: features[i] };
  }
  const feats = features as Dict[];
  for (let i = 0; i < feats.length; i++) {
    const feat = feats[i] as Dict;
    let source = "'features' member";
    checkKeys(feat, info, source, NAME_KEY, IF_KEY);
    checkNameIsStr(feat.name, info, source);
    source = `${source} '${feat.name}'`;
    checkNameLower(feat.name, info, source);
    checkIf(feat, info, source);
  }
}

function checkEnum(expr: Dict, info: SourceInfo): void {
  const name = expr.enum as string;
  const members = expr.data;
  const prefix = get(expr, 'prefix');
  if (!Array.isArray(members)) fail(info, "'data' must be an array");
  if (prefix !== undefined && typeof prefix !== 'string') fail(info, "'prefix' must be a string");
  const permissive = info.pragma.memberNameExceptions.includes(name);
  for (let i = 0; i < members.length; i++) {
    if (!isDict(members[i])) members[i] = { name: members[i] };
  }
  const list = members as Dict[];
  for (let i = 0; i < list.length; i++) {
    const member = list[i] as Dict;
    let source = "'data' member";
    checkKeys(member, info, source, NAME_KEY, MEMBER_OPTIONAL);
    const memberName = member.name;
    checkNameIsStr(memberName, info, source);
    source = `${source} '${memberName}'`;
    // Enum values may start with a digit: check the rest as if it were a letter.
    const c0 = memberName.charCodeAt(0);
    const checked = c0 >= 0x30 && c0 <= 0x39 ? `d${memberName}` : memberName;
    checkNameLower(checked, info, source, permissive, permissive);
    checkIf(member, info, source);
    checkFeatures(get(member, 'features'), info);
  }
}

function checkStruct(expr: Dict, info: SourceInfo): void {
  checkType(expr.data, info, "'data'", false, expr.struct as string);
  checkType(get(expr, 'base'), info, "'base'");
}

function checkUnion(expr: Dict, info: SourceInfo): void {
  const base = expr.base;
  const members = expr.data;
  checkType(base, info, "'base'", false, expr.union as string);
  checkNameIsStr(expr.discriminator, info, "'discriminator'");
  if (!isDict(members)) fail(info, "'data' must be an object");
  const keys = dictKeys(members);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const source = `'data' member '${key}'`;
    const branch = members[key] as Dict; // normalized
    checkKeys(branch, info, source, TYPE_KEY, IF_KEY);
    checkIf(branch, info, source);
    checkType(branch.type, info, source, !pyTruthy(base));
  }
}

function checkAlternate(expr: Dict, info: SourceInfo): void {
  const members = expr.data;
  if (!pyTruthy(members)) fail(info, "'data' must not be empty");
  if (!isDict(members)) fail(info, "'data' must be an object");
  const keys = dictKeys(members);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const source = `'data' member '${key}'`;
    checkNameLower(key, info, source);
    const branch = members[key] as Dict; // normalized
    checkKeys(branch, info, source, TYPE_KEY, IF_KEY);
    checkIf(branch, info, source);
    checkType(branch.type, info, source, true);
  }
}

function checkCommand(expr: Dict, info: SourceInfo): void {
  const args = get(expr, 'data');
  const boxed = pyTruthy(get(expr, 'boxed'));
  if (boxed && args === undefined) fail(info, "'boxed': true requires 'data'");
  checkType(args, info, "'data'", false, !boxed);
  checkType(get(expr, 'returns'), info, "'returns'", true);
}

function checkEvent(expr: Dict, info: SourceInfo): void {
  const args = get(expr, 'data');
  const boxed = pyTruthy(get(expr, 'boxed'));
  if (boxed && args === undefined) fail(info, "'boxed': true requires 'data'");
  checkType(args, info, "'data'", false, !boxed);
}

function checkDoc(doc: QapiDoc | null, expr: Dict, name: string, info: SourceInfo): void {
  if (doc) {
    if (doc.symbol !== name) fail(info, `documentation comment is for '${doc.symbol}'`);
    doc.checkExpr(expr);
  } else if (info.pragma.docRequired) {
    fail(info, 'documentation comment required');
  }
}

const COMMAND_OPTIONAL = [
  'data',
  'returns',
  'boxed',
  'if',
  'features',
  'gen',
  'success-response',
  'allow-oob',
  'allow-preconfig',
  'coroutine',
];

/** Checks one definition; returns its kind. */
function checkDefinition(expr: Dict, info: SourceInfo, doc: QapiDoc | null): void {
  let meta: DefinitionMeta | undefined;
  let metas = 0;
  for (let i = 0; i < METAS.length; i++) {
    const m = METAS[i] as DefinitionMeta;
    if (has(expr, m)) {
      meta = m;
      metas++;
    }
  }
  if (metas !== 1 || meta === undefined) {
    fail(
      info,
      "expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
    );
  }
  const name = expr[meta];
  checkNameIsStr(name, info, `'${meta}'`);
  info.setDefn(meta, name);
  checkDefnNameStr(name, info, meta);
  checkDoc(doc, expr, name, info);

  switch (meta) {
    case 'enum':
      checkKeys(expr, info, meta, ['enum', 'data'], ['if', 'features', 'prefix']);
      checkEnum(expr, info);
      break;
    case 'union':
      checkKeys(expr, info, meta, ['union', 'base', 'discriminator', 'data'], ['if', 'features']);
      normalizeMembers(get(expr, 'base'));
      normalizeMembers(expr.data);
      checkUnion(expr, info);
      break;
    case 'alternate':
      checkKeys(expr, info, meta, ['alternate', 'data'], ['if', 'features']);
      normalizeMembers(expr.data);
      checkAlternate(expr, info);
      break;
    case 'struct':
      checkKeys(expr, info, meta, ['struct', 'data'], ['base', 'if', 'features']);
      normalizeMembers(expr.data);
      checkStruct(expr, info);
      break;
    case 'command':
      checkKeys(expr, info, meta, ['command'], COMMAND_OPTIONAL);
      normalizeMembers(get(expr, 'data'));
      checkCommand(expr, info);
      break;
    case 'event':
      checkKeys(expr, info, meta, ['event'], ['data', 'boxed', 'if', 'features']);
      normalizeMembers(get(expr, 'data'));
      checkEvent(expr, info);
      break;
  }
  checkIf(expr, info, meta);
  checkFeatures(get(expr, 'features'), info);
  checkFlags(expr, info);
}

/**
 * Validates and normalizes (in place) the parser's expressions; throws the
 * first error, as QEMU does. Include markers pass through unchecked.
 */
export function checkExprs(exprs: readonly QapiExpression[]): QapiExpression[] {
  for (let i = 0; i < exprs.length; i++) {
    const { expr, info, doc } = exprs[i] as QapiExpression;
    if (!has(expr, 'include')) checkDefinition(expr, info, doc);
  }
  return [...exprs];
}
