/**
 * The wire model of a checked QAPI schema (src/qapi), walked with its
 * visitor so that definitions come in QEMU's order: built-ins, then each
 * module's entities as defined (implicit types before their users).
 */
import type {
  Entity,
  IfCond,
  QapiDoc,
  Feature as QapiFeature,
  QapiSchema,
  QapiSchemaVisitor,
} from '../qapi/index.js';
import {
  type BuiltinName,
  type Definition,
  type EntityDoc,
  type Feature,
  makeModel,
  type WireModel,
} from './model.js';

export function modelFromSchema(schema: QapiSchema): WireModel {
  const definitions: Definition[] = [];
  const common = (name: string, ifcond: IfCond, features: readonly QapiFeature[]): Common => ({
    name,
    ifcond: cond(ifcond),
    features: features.map(feature),
    doc: docOf(schema, name),
  });
  schema.visit({
    visitBuiltinType(name, _info, jsonType) {
      definitions.push({
        name,
        ifcond: null,
        features: [],
        doc: null,
        kind: 'builtin',
        jsonType,
        builtin: name as BuiltinName,
      });
    },
    visitEnumType(name, _info, ifcond, features, members) {
      definitions.push({
        ...common(name, ifcond, features),
        kind: 'enum',
        values: members.map((m) => ({
          name: m.name,
          ifcond: cond(m.ifcond),
          features: m.features.map(feature),
        })),
      });
    },
    visitArrayType(name, _info, ifcond, elementType) {
      definitions.push({ ...common(name, ifcond, []), kind: 'array', element: elementType.name });
    },
    visitObjectType(name, _info, ifcond, features, base, members, variants) {
      definitions.push(objectDefinition(common(name, ifcond, features), base, members, variants));
    },
    visitAlternateType(name, _info, ifcond, features, variants) {
      definitions.push({
        ...common(name, ifcond, features),
        kind: 'alternate',
        variants: variants.variants.map(variant),
      });
    },
    visitCommand(name, _info, ifcond, features, argType, retType, flags) {
      definitions.push({
        ...common(name, ifcond, features),
        kind: 'command',
        argType: argType?.name ?? null,
        retType: retType?.name ?? null,
        boxed: flags.boxed,
        allowOob: flags.allowOob,
      });
    },
    visitEvent(name, _info, ifcond, features, argType, boxed) {
      definitions.push({
        ...common(name, ifcond, features),
        kind: 'event',
        argType: argType?.name ?? null,
        boxed,
      });
    },
  });
  return makeModel(definitions);
}

/** What every definition has. */
type Common = Pick<Definition, 'name' | 'ifcond' | 'features' | 'doc'>;

type ObjectVisit = Parameters<NonNullable<QapiSchemaVisitor['visitObjectType']>>;

function objectDefinition(
  common: Common,
  base: ObjectVisit[4],
  members: ObjectVisit[5],
  variants: ObjectVisit[6],
): Definition {
  // Flattened, as QEMU's checked model keeps them: base members first.
  const all = [...(base?.members ?? []), ...members];
  return {
    ...common,
    kind: 'object',
    implicit: common.name.startsWith('q_'),
    base: base?.name ?? null,
    members: all.map((m) => ({
      name: m.name,
      type: m.type.name,
      optional: m.optional,
      ifcond: cond(m.ifcond),
      features: m.features.map(feature),
    })),
    variants: variants
      ? { tag: variants.tagMember.name, variants: variants.variants.map(variant) }
      : null,
  };
}

function variant(v: { name: string; type: { name: string }; ifcond: IfCond }) {
  return { name: v.name, type: v.type.name, ifcond: cond(v.ifcond) };
}

function cond(ifcond: IfCond): string | null {
  return ifcond.isPresent() ? ifcond.docgen() : null;
}

function feature(f: QapiFeature): Feature {
  return { name: f.name, ifcond: cond(f.ifcond) };
}

/** An entity's doc; implicit argument types (`q_obj_NAME-arg`) borrow their command's or event's. */
function docOf(schema: QapiSchema, name: string): EntityDoc | null {
  let entity: Entity | undefined = schema.lookupEntity(name);
  const implicit = /^q_obj_(.*)-(arg|base)$/.exec(name);
  if (implicit?.[1]) entity = schema.lookupEntity(implicit[1]);
  const doc = entity?.doc;
  return doc ? reduceDoc(doc) : null;
}

function reduceDoc(doc: QapiDoc): EntityDoc {
  const section = (tag: string) => {
    const s = doc.sections.find((x) => x.name === tag);
    return s ? s.text.trim() : null;
  };
  const texts = (map: ReadonlyMap<string, { text: string }>) =>
    new Map([...map].map(([k, v]) => [k, v.text.trim()] as const).filter(([, t]) => t !== ''));
  return {
    body: doc.body.text.trim(),
    since: section('Since'),
    members: texts(doc.args),
    features: texts(doc.features),
    returns: section('Returns'),
  };
}
