/**
 * The wire model of a checked QAPI schema (src/qapi), walked with its
 * visitor so that definitions come in QEMU's order: built-ins, then each
 * module's entities as defined (implicit types before their users).
 */
import type { Entity, IfCond, QapiDoc, Feature as QapiFeature, QapiSchema } from '../qapi/index.js';
import {
  type BuiltinName,
  type Definition,
  type EntityDoc,
  type Feature,
  makeModel,
  type WireModel,
} from './model.js';

export interface FromSchemaOptions {
  /**
   * Keep doc comments (default true). Only the TypeScript declarations show
   * them; introspection does without, and they are a good part of a model.
   */
  readonly docs?: boolean;
}

export function modelFromSchema(schema: QapiSchema, options: FromSchemaOptions = {}): WireModel {
  const definitions: Definition[] = [];
  // One reduced doc per doc block: an implicit argument type shares its command's.
  const docs = new Map<QapiDoc, EntityDoc>();
  const docOf = (name: string): EntityDoc | null => {
    if (options.docs === false) return null;
    const doc = docBlockOf(schema, name);
    if (!doc) return null;
    let reduced = docs.get(doc);
    if (!reduced) {
      reduced = reduceDoc(doc);
      docs.set(doc, reduced);
    }
    return reduced;
  };
  // Object literals written out in full (no spread of common fields): every
  // definition of a kind then shares one shape, and a large schema has many.
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
        name,
        ifcond: cond(ifcond),
        features: featureList(features),
        doc: docOf(name),
        kind: 'enum',
        values: members.map((m) => ({
          name: m.name,
          ifcond: cond(m.ifcond),
          features: featureList(m.features),
        })),
      });
    },
    visitArrayType(name, _info, ifcond, elementType) {
      definitions.push({
        name,
        ifcond: cond(ifcond),
        features: NO_FEATURES,
        doc: docOf(name),
        kind: 'array',
        element: elementType.name,
      });
    },
    visitObjectType(name, _info, ifcond, features, base, members, variants) {
      // Flattened, as QEMU's checked model keeps them: base members first.
      const all = base ? [...base.members, ...members] : members;
      definitions.push({
        name,
        ifcond: cond(ifcond),
        features: featureList(features),
        doc: docOf(name),
        kind: 'object',
        implicit: name.startsWith('q_'),
        base: base?.name ?? null,
        members: all.map((m) => ({
          name: m.name,
          type: m.type.name,
          optional: m.optional,
          ifcond: cond(m.ifcond),
          features: featureList(m.features),
        })),
        variants: variants
          ? {
              tag: variants.tagMember.name,
              variants: variants.variants.map((v) => ({
                name: v.name,
                type: v.type.name,
                ifcond: cond(v.ifcond),
              })),
            }
          : null,
      });
    },
    visitAlternateType(name, _info, ifcond, features, variants) {
      definitions.push({
        name,
        ifcond: cond(ifcond),
        features: featureList(features),
        doc: docOf(name),
        kind: 'alternate',
        variants: variants.variants.map((v) => ({
          name: v.name,
          type: v.type.name,
          ifcond: cond(v.ifcond),
        })),
      });
    },
    visitCommand(name, _info, ifcond, features, argType, retType, flags) {
      definitions.push({
        name,
        ifcond: cond(ifcond),
        features: featureList(features),
        doc: docOf(name),
        kind: 'command',
        argType: argType?.name ?? null,
        retType: retType?.name ?? null,
        boxed: flags.boxed,
        allowOob: flags.allowOob,
      });
    },
    visitEvent(name, _info, ifcond, features, argType, boxed) {
      definitions.push({
        name,
        ifcond: cond(ifcond),
        features: featureList(features),
        doc: docOf(name),
        kind: 'event',
        argType: argType?.name ?? null,
        boxed,
      });
    },
  });
  return makeModel(definitions);
}

const NO_FEATURES: readonly Feature[] = Object.freeze([]);

function featureList(features: readonly QapiFeature[]): readonly Feature[] {
  return features.length === 0 ? NO_FEATURES : features.map(feature);
}

function cond(ifcond: IfCond): string | null {
  return ifcond.isPresent() ? ifcond.docgen() : null;
}

function feature(f: QapiFeature): Feature {
  return { name: f.name, ifcond: cond(f.ifcond) };
}

/** An entity's doc block; implicit argument types (`q_obj_NAME-arg`) borrow their command's or event's. */
function docBlockOf(schema: QapiSchema, name: string): QapiDoc | null {
  let entity: Entity | undefined = schema.lookupEntity(name);
  const implicit = name.startsWith('q_obj_') ? /^q_obj_(.*)-(arg|base)$/.exec(name) : null;
  if (implicit?.[1]) entity = schema.lookupEntity(implicit[1]);
  return entity?.doc ?? null;
}

const NO_TEXTS: ReadonlyMap<string, string> = new Map();

function reduceDoc(doc: QapiDoc): EntityDoc {
  const section = (tag: string) => {
    const s = doc.sections.find((x) => x.name === tag);
    return s ? s.text.trim() : null;
  };
  const texts = (map: ReadonlyMap<string, { text: string }>): ReadonlyMap<string, string> => {
    let out: Map<string, string> | null = null;
    for (const [k, v] of map) {
      const t = v.text.trim();
      if (t === '') continue;
      out ??= new Map();
      out.set(k, t);
    }
    return out ?? NO_TEXTS;
  };
  return {
    body: doc.body.text.trim(),
    since: section('Since'),
    members: texts(doc.args),
    features: texts(doc.features),
    returns: section('Returns'),
  };
}
