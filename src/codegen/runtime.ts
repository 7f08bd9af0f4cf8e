/**
 * Run-time support for schema validators, generated (src/generated/*) and
 * interpreted (from-introspection.ts). Self-contained on purpose: the
 * generator copies this file next to its output, so generated code depends on
 * nothing else.
 *
 * Integers: QMP integers are 64-bit; JSON.parse turns every number into an
 * IEEE double, so integers above 2^53 arrive rounded (2^64 - 1 arrives as
 * 2^64). We check integer-ness and range on the double: the range limits are
 * the doubles nearest to the true limits, which makes the uint64/size maximum
 * 2^64 and the int64 maximum 2^63. Values in (2^53, limit] are accepted as
 * the parser delivered them; callers needing exact 64-bit values must parse
 * with a lossless JSON reader before validating. Unlike QEMU's input
 * visitor, which takes negative integers for uint64/size "for
 * compatibility" (as 2^64 - n), we reject them: the schema says unsigned.
 */

/** One reason a value does not fit its schema, and where it is. */
export interface ValidationIssue {
  /** Member names and array indexes from the root of the checked value. */
  readonly path: readonly (string | number)[];
  readonly reason: string;
}

/** What every check returns: nothing when the value fits. */
export type Check = ValidationIssue | undefined;

/** The outcome of validating a message part against the schema. */
export type Validation<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issue: ValidationIssue; readonly message: string };

/** Thrown by the assert* entry points. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(
    readonly issue: ValidationIssue,
    message: string,
  ) {
    super(message);
  }
}

/** `data.flags.recursive: expected bool, got "yes"` */
export function formatIssue(root: string, issue: ValidationIssue): string {
  let text = root;
  for (const seg of issue.path) text += typeof seg === 'number' ? `[${seg}]` : `.${seg}`;
  return `${text}: ${issue.reason}`;
}

export function fail<T>(root: string, issue: ValidationIssue): Validation<T> {
  return { ok: false, issue, message: formatIssue(root, issue) };
}

/** Prefix an issue found inside member/index `seg`. */
export function at(seg: string | number, inner: ValidationIssue): ValidationIssue {
  return { path: [seg, ...inner.path], reason: inner.reason };
}

export function expected(what: string, value: unknown): ValidationIssue {
  return { path: [], reason: `expected ${what}, got ${describe(value)}` };
}

export function missing(member: string): ValidationIssue {
  return { path: [member], reason: 'missing required member' };
}

export function unknownMember(member: string): ValidationIssue {
  return { path: [member], reason: 'unknown member' };
}

export function badEnum(value: unknown, values: readonly string[]): ValidationIssue {
  const shown = values.length <= 8 ? values : [...values.slice(0, 8), '...'];
  return expected(`one of ${shown.map((v) => `'${v}'`).join(', ')}`, value);
}

/** A short, JSON-like rendering of a received value for messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  return String(value);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON type of a parsed value, as alternates dispatch on it. */
export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' | 'other';

export function jsonKind(value: unknown): JsonKind {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      return value === null ? 'null' : Array.isArray(value) ? 'array' : 'object';
    default:
      return 'other';
  }
}

export function checkStr(value: unknown): Check {
  return typeof value === 'string' ? undefined : expected('str', value);
}

export function checkBool(value: unknown): Check {
  return typeof value === 'boolean' ? undefined : expected('bool', value);
}

export function checkNull(value: unknown): Check {
  return value === null ? undefined : expected('null', value);
}

/** QAPI `number`: any JSON number (integers included). */
export function checkNumber(value: unknown): Check {
  return typeof value === 'number' && Number.isFinite(value)
    ? undefined
    : expected('number', value);
}

/** QAPI `any`: any JSON value. */
export function checkAny(value: unknown): Check {
  return jsonKind(value) === 'other' ? expected('a JSON value', value) : undefined;
}

function intCheck(name: string, min: number, max: number): (value: unknown) => Check {
  return (value) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) return expected(name, value);
    if (value < min || value > max) {
      return { path: [], reason: `${name} out of range: ${value}` };
    }
    return undefined;
  };
}

export const checkInt8 = intCheck('int8', -128, 127);
export const checkInt16 = intCheck('int16', -32768, 32767);
export const checkInt32 = intCheck('int32', -2147483648, 2147483647);
/** `int` and `int64`: limits are the doubles nearest to -2^63 and 2^63 - 1. */
export const checkInt64 = intCheck('int', -(2 ** 63), 2 ** 63);
export const checkUint8 = intCheck('uint8', 0, 255);
export const checkUint16 = intCheck('uint16', 0, 65535);
export const checkUint32 = intCheck('uint32', 0, 4294967295);
/** `uint64` and `size`: the upper limit is the double nearest to 2^64 - 1. */
export const checkUint64 = intCheck('uint64', 0, 2 ** 64);
export const checkSize = intCheck('size', 0, 2 ** 64);
