/**
 * Plain-code validators for a schema (no eval at run time): one check
 * function per type, returning nothing when the value fits and a
 * ValidationIssue (path + reason) otherwise; paths are built only on
 * failure, so a valid message costs a few comparisons per member. Rules are
 * QEMU's input visitor's: unknown members and missing required members are
 * errors, integers are range-checked, a union's tag selects its branch, an
 * alternate's branch is chosen by the JSON type of the value.
 */
import { jsonKindsOf } from './interpret.js';
import {
  type AlternateType,
  type EnumType,
  lookupType,
  type ObjectType,
  type WireModel,
} from './model.js';
import { type Naming, quote } from './names.js';
import type { TextSink } from './output.js';

/** The runtime helpers generated validators call. */
const RUNTIME_IMPORTS = [
  'at',
  'badEnum',
  'type Check',
  'checkAny',
  'checkBool',
  'checkInt8',
  'checkInt16',
  'checkInt32',
  'checkInt64',
  'checkNull',
  'checkNumber',
  'checkSize',
  'checkStr',
  'checkUint8',
  'checkUint16',
  'checkUint32',
  'checkUint64',
  'expected',
  'fail',
  'isObject',
  'jsonKind',
  'missing',
  'unknownMember',
  'type Validation',
  'ValidationError',
];

export function generateValidators(
  model: WireModel,
  naming: Naming,
  runtimeModule: string,
): string {
  const body: string[] = [];
  const head = emitValidators(model, naming, runtimeModule, {
    write: (text) => body.push(text),
  });
  return head + body.join('');
}

/** Whole-word patterns of the runtime helpers, to see which ones the checks call. */
const RUNTIME_USES = RUNTIME_IMPORTS.map(
  (name) => [name, new RegExp(`\\b${name.replace(/^type /, '')}\\b`)] as const,
);

/**
 * Writes the module's body (the checks and entry points) to `body`, and
 * returns what goes before it: the imports, which name only the runtime
 * helpers the body uses, known once it is written.
 */
export function emitValidators(
  model: WireModel,
  naming: Naming,
  runtimeModule: string,
  body: TextSink,
): string {
  // Only types reachable from a command or event get a check: no dead code
  // (generated modules stay clean under noUnusedLocals).
  const reachable = reachableTypes(model);
  const enums: string[] = [];
  const unseen = new Map(RUNTIME_USES);
  let first = true;
  const emit = (text: string): void => {
    body.write(first ? text : `\n${text}`);
    first = false;
    // Pieces are whole functions: a word never spans two of them.
    unseen.forEach((pattern, name) => {
      if (pattern.test(text)) unseen.delete(name);
    });
  };
  const seenArrays = new Set<string>();
  for (const d of model.definitions) {
    if (!reachable.has(d.name)) continue;
    switch (d.kind) {
      case 'enum':
        enums.push(`${naming.typeId(d.name)}Values`);
        emit(enumCheck(d, naming));
        break;
      case 'array': {
        const id = naming.checkId(d.name);
        if (seenArrays.has(id)) break;
        seenArrays.add(id);
        emit(
          `function ${id}(v: unknown): Check {\n` +
            `  if (!Array.isArray(v)) return expected('array', v);\n` +
            `  for (let i = 0; i < v.length; i++) {\n` +
            `    const e = ${naming.checkId(d.element)}(v[i]);\n` +
            `    if (e) return at(i, e);\n  }\n  return undefined;\n}\n`,
        );
        break;
      }
      case 'object':
        emit(objectCheck(model, d, naming));
        break;
      case 'alternate':
        emit(alternateCheck(model, d, naming));
        break;
      default:
        break;
    }
  }
  emit(entryPoints(model, naming));
  const used = RUNTIME_IMPORTS.filter((n) => !unseen.has(n));
  const out: string[] = [
    `import {\n${used.map((n) => `  ${n},\n`).join('')}} from ${quote(runtimeModule)};\n`,
    `import type { CommandName, Commands, EventName, Events } from './types.js';\n`,
  ];
  if (enums.length)
    out.push(`import {\n${enums.map((e) => `  ${e},\n`).join('')}} from './types.js';\n`);
  // The body follows after one more line break, as if joined with the rest.
  return `${out.join('\n')}\n`;
}

/** The types whose check functions a command's arguments or return, or an event's data, call. */
function reachableTypes(model: WireModel): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string | null): void => {
    if (name === null || seen.has(name)) return;
    seen.add(name);
    const t = lookupType(model, name);
    switch (t.kind) {
      case 'array':
        visit(t.element);
        break;
      case 'object':
        for (const m of t.members) visit(m.type);
        // Branch members are checked inline in the union's check: the branch
        // type needs a check of its own only if used elsewhere.
        for (const v of t.variants?.variants ?? []) {
          const branch = lookupType(model, v.type);
          if (branch.kind === 'object') for (const m of branch.members) visit(m.type);
        }
        break;
      case 'alternate':
        for (const v of t.variants) visit(v.type);
        break;
      default:
        break;
    }
  };
  for (const c of model.commands.values()) {
    visit(c.argType);
    visit(c.retType);
  }
  for (const e of model.events.values()) visit(e.argType);
  return seen;
}

function enumCheck(t: EnumType, naming: Naming): string {
  const cases = t.values.map((v) => `    case ${quote(v.name)}:\n`).join('');
  return (
    `function ${naming.checkId(t.name)}(v: unknown): Check {\n` +
    (cases ? `  switch (v) {\n${cases}      return undefined;\n  }\n` : '') +
    `  return badEnum(v, ${naming.typeId(t.name)}Values);\n}\n`
  );
}

/** Statements checking `t`'s members of `v`, returning the first issue. */
function memberStatements(t: ObjectType, naming: Naming, indent: string, prefix = ''): string {
  let text = '';
  t.members.forEach((m, i) => {
    const key = quote(m.name);
    const mv = `m${prefix}${i}`;
    const ev = `e${prefix}${i}`;
    text += `${indent}const ${mv} = v[${key}];\n`;
    if (m.optional) {
      text += `${indent}if (${mv} !== undefined) {\n`;
      text += `${indent}  const e = ${naming.checkId(m.type)}(${mv});\n`;
      text += `${indent}  if (e) return at(${key}, e);\n${indent}}\n`;
    } else {
      text += `${indent}if (${mv} === undefined) return missing(${key});\n`;
      text += `${indent}const ${ev} = ${naming.checkId(m.type)}(${mv});\n`;
      text += `${indent}if (${ev}) return at(${key}, ${ev});\n`;
    }
  });
  return text;
}

function unknownLoop(names: readonly string[], indent: string): string {
  if (!names.length) return `${indent}for (const k in v) return unknownMember(k);\n`;
  const cases = [...new Set(names)].map((n) => `${indent}    case ${quote(n)}:\n`).join('');
  return (
    `${indent}for (const k in v) {\n${indent}  switch (k) {\n${cases}${indent}      continue;\n` +
    `${indent}    default:\n${indent}      return unknownMember(k);\n${indent}  }\n${indent}}\n`
  );
}

function objectCheck(model: WireModel, t: ObjectType, naming: Naming): string {
  const own = t.members.map((m) => m.name);
  let text = `function ${naming.checkId(t.name)}(v: unknown): Check {\n`;
  text += `  if (!isObject(v)) return expected('object', v);\n`;
  text += memberStatements(t, naming, '  ');
  if (t.variants) {
    text += `  switch (v[${quote(t.variants.tag)}]) {\n`;
    for (const variant of t.variants.variants) {
      const branch = lookupType(model, variant.type);
      if (branch.kind !== 'object' || branch.variants) {
        throw new Error(
          `branch '${variant.name}' of '${t.name}' is not an object without variants`,
        );
      }
      text += `    case ${quote(variant.name)}: {\n`;
      text += memberStatements(branch, naming, '      ', 'b');
      text += unknownLoop([...own, ...branch.members.map((m) => m.name)], '      ');
      text += '      return undefined;\n    }\n';
    }
    text += '  }\n';
  }
  text += unknownLoop(own, '  ');
  return `${text}  return undefined;\n}\n`;
}

function alternateCheck(model: WireModel, t: AlternateType, naming: Naming): string {
  const byKind = new Map<string, string>();
  for (const v of t.variants) {
    for (const kind of jsonKindsOf(lookupType(model, v.type))) {
      if (!byKind.has(kind)) byKind.set(kind, naming.checkId(v.type));
    }
  }
  const what = [...byKind.keys()].join(' or ');
  const cases = [...byKind]
    .map(([kind, id]) => `    case ${quote(kind)}:\n      return ${id}(v);\n`)
    .join('');
  return (
    `function ${naming.checkId(t.name)}(v: unknown): Check {\n  switch (jsonKind(v)) {\n${cases}` +
    `    default:\n      return expected(${quote(what)}, v);\n  }\n}\n`
  );
}

function entryPoints(model: WireModel, naming: Naming): string {
  const table = (entries: [string, string][]) =>
    entries.map(([name, id]) => `  ${quote(name)}: ${id},\n`).join('');
  const events = [...model.events.values()].map((e): [string, string] => [
    e.name,
    e.argType ? naming.checkId(e.argType) : 'checkEmpty',
  ]);
  const args = [...model.commands.values()].map((c): [string, string] => [
    c.name,
    c.argType ? naming.checkId(c.argType) : 'checkEmpty',
  ]);
  const rets = [...model.commands.values()].map((c): [string, string] => [
    c.name,
    c.retType ? naming.checkId(c.retType) : 'checkEmpty',
  ]);
  return `${ENTRY_HELPERS}
const eventChecks: Readonly<Record<string, (v: unknown) => Check>> = {
${table(events)}};

const argumentChecks: Readonly<Record<string, (v: unknown) => Check>> = {
${table(args)}};

const returnChecks: Readonly<Record<string, (v: unknown) => Check>> = {
${table(rets)}};
${ENTRY_POINTS}`;
}

const ENTRY_HELPERS = `
/** Commands without arguments, events without data and commands without a return value: {}. */
function checkEmpty(v: unknown): Check {
  if (!isObject(v)) return expected('object', v);
  for (const k in v) return unknownMember(k);
  return undefined;
}

function lookup(table: Readonly<Record<string, (v: unknown) => Check>>, name: string) {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}
`;

const ENTRY_POINTS = `
/**
 * Check an event's \`data\` (absent data, as QEMU sends for events without
 * members, counts as {}). Failure messages read \`data.flags.recursive: expected bool, got "yes"\`.
 */
export function validateEvent<N extends EventName>(name: N, data: unknown): Validation<Events[N]>;
export function validateEvent(name: string, data: unknown): Validation<unknown>;
export function validateEvent(name: string, data: unknown): Validation<unknown> {
  const check = lookup(eventChecks, name);
  if (!check) return fail('event', { path: [], reason: \`unknown event '\${name}'\` });
  const value = data === undefined ? {} : data;
  const e = check(value);
  return e ? fail('data', e) : { ok: true, value };
}

/** Check a command's \`arguments\` (absent counts as {}). */
export function validateCommandArgs<N extends CommandName>(name: N, args: unknown): Validation<Commands[N]['args']>;
export function validateCommandArgs(name: string, args: unknown): Validation<unknown>;
export function validateCommandArgs(name: string, args: unknown): Validation<unknown> {
  const check = lookup(argumentChecks, name);
  if (!check) return fail('execute', { path: [], reason: \`unknown command '\${name}'\` });
  const value = args === undefined ? {} : args;
  const e = check(value);
  return e ? fail('arguments', e) : { ok: true, value };
}

/** Check a command's \`return\` value. */
export function validateCommandReturn<N extends CommandName>(name: N, ret: unknown): Validation<Commands[N]['returns']>;
export function validateCommandReturn(name: string, ret: unknown): Validation<unknown>;
export function validateCommandReturn(name: string, ret: unknown): Validation<unknown> {
  const check = lookup(returnChecks, name);
  if (!check) return fail('execute', { path: [], reason: \`unknown command '\${name}'\` });
  const e = check(ret);
  return e ? fail('return', e) : { ok: true, value: ret };
}

/** Type guard form of {@link validateEvent}. */
export function isEventData<N extends EventName>(name: N, data: unknown): data is Events[N] {
  return validateEvent(name, data).ok;
}

/** Throwing form of {@link validateEvent}: a ValidationError with path and reason. */
export function assertEventData<N extends EventName>(name: N, data: unknown): asserts data is Events[N] {
  const r = validateEvent(name, data);
  if (!r.ok) throw new ValidationError(r.issue, r.message);
}

/**
 * For a QMP client's event hook: why \`message\` is not a valid event of this
 * schema (unknown name, bad data), or null when it is.
 */
export function describeInvalidEvent(message: { readonly event: string; readonly data?: unknown }): string | null {
  const r = validateEvent(message.event, message.data);
  return r.ok ? null : r.message;
}

/** Whether \`name\` is an event of this schema. */
export function isEventName(name: string): name is EventName {
  return Object.hasOwn(eventChecks, name);
}

/** Whether \`name\` is a command of this schema. */
export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(argumentChecks, name);
}
`;
