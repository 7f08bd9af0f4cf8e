/**
 * TypeScript declarations for a schema: enums as string-literal unions with
 * a readonly list of their values, structs as interfaces (a named base
 * becomes `extends`), unions as intersections discriminated by their tag,
 * alternates as unions, and the `Commands` / `Events` maps a typed QMP
 * client and server are parameterised with.
 */
import type { AlternateType, EnumType, ObjectType, WireModel } from './model.js';
import { type Naming, propertyKey, quote } from './names.js';
import type { TextSink } from './output.js';
import { docParts, tsdoc } from './tsdoc.js';

/** What a command without arguments takes and one without a return value answers. */
export const EMPTY_OBJECT_TYPE = 'Record<string, never>';

export function generateTypes(model: WireModel, naming: Naming): string {
  const parts: string[] = [];
  emitTypes(model, naming, { write: (text) => parts.push(text) });
  return parts.join('');
}

/** The declarations one by one, separated by blank lines. */
export function emitTypes(model: WireModel, naming: Naming, out: TextSink): void {
  let first = true;
  const decl = (text: string): void => {
    out.write(first ? text : `\n${text}`);
    first = false;
  };
  for (const d of model.definitions) {
    switch (d.kind) {
      case 'enum':
        decl(enumDecl(d, naming));
        break;
      case 'object':
        decl(objectDecl(model, d, naming));
        break;
      case 'alternate':
        decl(alternateDecl(d, naming));
        break;
      default:
        break;
    }
  }
  decl(commandsDecl(model, naming));
  decl(eventsDecl(model, naming));
}

function enumDecl(t: EnumType, naming: Naming): string {
  const id = naming.typeId(t.name);
  const values = t.values.map((v) => quote(v.name));
  const valueDocs = t.values
    .map((v) => {
      const doc = t.doc?.members.get(v.name);
      const cond = v.ifcond ? ` (only when built with: ${v.ifcond})` : '';
      return doc || cond ? `- \`${v.name}\`: ${(doc ?? '').replace(/\s+/g, ' ')}${cond}` : '';
    })
    .filter((line) => line !== '');
  const parts = docParts(t.doc, t.ifcond, t.features);
  const text0 = [parts.text ?? '', valueDocs.join('\n')].filter((x) => x !== '').join('\n\n');
  let text = tsdoc({ ...parts, text: text0 });
  text += `export type ${id} = ${values.length ? values.join(' | ') : 'never'};\n`;
  text += `/** Every value of {@link ${id}}, in schema order. */\n`;
  text += `export const ${id}Values: readonly ${id}[] = [${values.join(', ')}];\n`;
  return text;
}

function memberLines(t: ObjectType, naming: Naming, skip: ReadonlySet<string>): string {
  let text = '';
  for (const m of t.members) {
    if (skip.has(m.name)) continue;
    const doc = tsdoc(
      {
        text: t.doc?.members.get(m.name) ?? null,
        features: m.features,
        featureDocs: t.doc?.features ?? new Map(),
        ifcond: m.ifcond,
      },
      '  ',
    );
    text += `${doc}  ${propertyKey(m.name)}${m.optional ? '?' : ''}: ${naming.typeExpr(m.type)};\n`;
  }
  return text;
}

function objectDecl(model: WireModel, t: ObjectType, naming: Naming): string {
  const id = naming.typeId(t.name);
  let text = tsdoc(docParts(t.doc, t.ifcond, t.features));
  if (t.variants) {
    // A union: its members are exactly its base's; each branch adds the branch type's members.
    const base = t.base ? naming.typeExpr(t.base) : inlineMembers(t, naming);
    const tag = t.variants.tag;
    const branches = t.variants.variants.map((v) => {
      const branch = model.types.get(v.type);
      const extra =
        branch?.kind === 'object' && branch.members.length ? ` & ${naming.typeExpr(v.type)}` : '';
      const cond = v.ifcond ? ` /* if ${v.ifcond} */` : '';
      return `\n  | ({ ${propertyKey(tag)}: ${quote(v.name)} }${extra})${cond}`;
    });
    return `${text}export type ${id} = ${base} & (${branches.join('')}\n);\n`;
  }
  const baseType = t.base ? model.types.get(t.base) : undefined;
  const inherited = new Set(baseType?.kind === 'object' ? baseType.members.map((m) => m.name) : []);
  const ext = t.base ? ` extends ${naming.typeExpr(t.base)}` : '';
  const body = memberLines(t, naming, inherited);
  text += `export interface ${id}${ext} {${body ? `\n${body}` : ''}}\n`;
  return text;
}

function inlineMembers(t: ObjectType, naming: Naming): string {
  return `{\n${memberLines(t, naming, new Set()).replace(/^/gm, '  ')}}`;
}

function alternateDecl(t: AlternateType, naming: Naming): string {
  const id = naming.typeId(t.name);
  const branches = [...new Set(t.variants.map((v) => naming.typeExpr(v.type)))];
  return `${tsdoc(docParts(t.doc, t.ifcond, t.features))}export type ${id} = ${branches.join(' | ')};\n`;
}

function commandsDecl(model: WireModel, naming: Naming): string {
  let text =
    '/** Every command: its arguments (`| undefined`: they may be omitted) and what it returns. */\nexport interface Commands {\n';
  for (const c of model.commands.values()) {
    // QMP lets a client omit `arguments` when no member is required.
    const argType = c.argType ? model.types.get(c.argType) : undefined;
    const omittable =
      !argType ||
      (argType.kind === 'object' && !argType.variants && argType.members.every((m) => m.optional));
    const args = `${c.argType ? naming.typeExpr(c.argType) : EMPTY_OBJECT_TYPE}${omittable ? ' | undefined' : ''}`;
    const returns = c.retType ? naming.typeExpr(c.retType) : EMPTY_OBJECT_TYPE;
    text += tsdoc(docParts(c.doc, c.ifcond, c.features), '  ');
    text += `  ${propertyKey(c.name)}: { args: ${args}; returns: ${returns} };\n`;
  }
  text += '}\n\nexport type CommandName = keyof Commands;\n';
  return text;
}

function eventsDecl(model: WireModel, naming: Naming): string {
  let text = '/** Every event: the type of its `data`. */\nexport interface Events {\n';
  for (const e of model.events.values()) {
    text += tsdoc(docParts(e.doc, e.ifcond, e.features), '  ');
    text += `  ${propertyKey(e.name)}: ${e.argType ? naming.typeExpr(e.argType) : EMPTY_OBJECT_TYPE};\n`;
  }
  text += '}\n\nexport type EventName = keyof Events;\n';
  return text;
}
