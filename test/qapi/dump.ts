/**
 * A text dump of a checked schema in the format of QEMU's test-qapi.py (the
 * `.out` files of its tests/qapi-schema corpus), so our model can be compared
 * line by line with QEMU's own front end.
 */
import type { IfCond, IfExpr } from '../../src/qapi/ifcond.js';
import type { Feature } from '../../src/qapi/members.js';
import type { Variants } from '../../src/qapi/object-types.js';
import type { QapiSchema } from '../../src/qapi/schema.js';
import type { QapiSchemaVisitor } from '../../src/qapi/visitor.js';

export function dumpSchema(schema: QapiSchema): string {
  const out: string[] = [];
  const print = (line: string): void => {
    out.push(line);
  };
  const printIf = (ifcond: IfCond, indent = 4): void => {
    const e = ifcond.expr;
    if (e === null) return;
    print(`${' '.repeat(indent)}if ${typeof e === 'string' ? e : pythonRepr(e)}`);
  };
  const printFeatures = (features: readonly Feature[], indent = 4): void => {
    for (const f of features) {
      print(`${' '.repeat(indent)}feature ${f.name}`);
      printIf(f.ifcond, indent + 4);
    }
  };
  const printVariants = (variants: Variants | null): void => {
    if (!variants) return;
    print(`    tag ${variants.tagMember.name}`);
    for (const v of variants.variants) {
      print(`    case ${v.name}: ${v.type.name}`);
      printIf(v.ifcond, 8);
    }
  };
  const py = (b: boolean): string => (b ? 'True' : 'False');

  const visitor: QapiSchemaVisitor = {
    visitModule: (name) => print(`module ${name}`),
    visitInclude: (name) => print(`include ${name}`),
    visitEnumType(name, _info, ifcond, features, members, prefix) {
      print(`enum ${name}`);
      if (prefix) print(`    prefix ${prefix}`);
      for (const m of members) {
        print(`    member ${m.name}`);
        printIf(m.ifcond, 8);
        printFeatures(m.features, 8);
      }
      printIf(ifcond);
      printFeatures(features);
    },
    visitArrayType(name, info, ifcond, elementType) {
      if (!info) return; // built-in arrays are not shown
      print(`array ${name} ${elementType.name}`);
      printIf(ifcond);
    },
    visitObjectType(name, _info, ifcond, features, base, members, variants) {
      print(`object ${name}`);
      if (base) print(`    base ${base.name}`);
      for (const m of members) {
        print(`    member ${m.name}: ${m.type.name} optional=${py(m.optional)}`);
        printIf(m.ifcond, 8);
        printFeatures(m.features, 8);
      }
      printVariants(variants);
      printIf(ifcond);
      printFeatures(features);
    },
    visitAlternateType(name, _info, ifcond, features, variants) {
      print(`alternate ${name}`);
      printVariants(variants);
      printIf(ifcond);
      printFeatures(features);
    },
    visitCommand(name, _info, ifcond, features, argType, retType, flags) {
      print(`command ${name} ${argType?.name ?? 'None'} -> ${retType?.name ?? 'None'}`);
      print(
        `    gen=${py(flags.gen)} success_response=${py(flags.successResponse)} boxed=${py(flags.boxed)} ` +
          `oob=${py(flags.allowOob)} preconfig=${py(flags.allowPreconfig)}${flags.coroutine ? ' coroutine=True' : ''}`,
      );
      printIf(ifcond);
      printFeatures(features);
    },
    visitEvent(name, _info, ifcond, features, argType, boxed) {
      print(`event ${name} ${argType?.name ?? 'None'}`);
      print(`    boxed=${py(boxed)}`);
      printIf(ifcond);
      printFeatures(features);
    },
  };
  schema.visit(visitor);

  for (const doc of schema.docs) {
    print(doc.symbol ? `doc symbol=${doc.symbol}` : 'doc freeform');
    print(`    body=\n${doc.body.text}`);
    for (const [arg, section] of doc.args) print(`    arg=${arg}\n${section.text}`);
    for (const [feat, section] of doc.features) print(`    feature=${feat}\n${section.text}`);
    for (const section of doc.sections)
      print(`    section=${section.name ?? 'None'}\n${section.text}`);
  }
  return out.map((l) => `${l}\n`).join('');
}

/** Python's repr() of the condition, the form QEMU's test dumps print. */
function pythonRepr(expr: IfExpr): string {
  if (typeof expr === 'string') return pyStr(expr);
  if ('not' in expr) return `{'not': ${pythonRepr(expr.not)}}`;
  if ('all' in expr) return `{'all': [${expr.all.map(pythonRepr).join(', ')}]}`;
  return `{'any': [${expr.any.map(pythonRepr).join(', ')}]}`;
}

function pyStr(s: string): string {
  if (s.includes("'") && !s.includes('"')) return `"${s}"`;
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
