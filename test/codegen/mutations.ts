/**
 * Systematic mutations of a valid value, each with the failure it must
 * produce: drop each required member, give each member a value of a JSON
 * type its type does not accept, use an unknown enum value, add an unknown
 * member to each object. Driven by the wire model, so it reaches nested
 * structs, union branches, alternates and array elements.
 */
import { jsonKindsOf } from '../../src/codegen/interpret.js';
import {
  lookupType,
  type ObjectMember,
  type WireModel,
  type WireType,
} from '../../src/codegen/model.js';
import { jsonKind } from '../../src/codegen/runtime.js';

export interface Mutation {
  readonly what: string;
  readonly value: unknown;
  /** The whole message the validator must give. */
  readonly message: RegExp;
}

type Segment = string | number;

export function mutate(
  model: WireModel,
  typeName: string,
  root: unknown,
  rootName: string,
): Mutation[] {
  const out: Mutation[] = [];
  const show = (segs: readonly Segment[]) =>
    rootName + segs.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('');
  const changed = (
    segs: readonly Segment[],
    change: (parent: Record<string, unknown>, key: string) => void,
  ) => {
    const copy = structuredClone(root);
    let node = copy as Record<string, unknown>;
    for (const s of segs.slice(0, -1)) node = node[s as string] as Record<string, unknown>;
    change(node, segs[segs.length - 1] as string);
    return copy;
  };
  const walk = (t: WireType, value: unknown, segs: readonly Segment[]): void => {
    switch (t.kind) {
      case 'object': {
        if (jsonKind(value) !== 'object') return;
        const obj = value as Record<string, unknown>;
        let members: readonly ObjectMember[] = t.members;
        const tagValue = t.variants ? obj[t.variants.tag] : undefined;
        const branch = t.variants?.variants.find((v) => v.name === tagValue);
        if (branch) {
          const bt = lookupType(model, branch.type);
          if (bt.kind === 'object') members = [...members, ...bt.members];
        }
        for (const m of members) {
          if (!(m.name in obj)) continue;
          const at = [...segs, m.name];
          const mt = lookupType(model, m.type);
          if (!m.optional) {
            out.push({
              what: `drop ${show(at)}`,
              value: changed(at, (p, k) => delete p[k]),
              message: exact(`${show(at)}: missing required member`),
            });
          }
          const wrong = wrongValue(model, mt);
          if (wrong !== undefined) {
            out.push({
              what: `wrong type at ${show(at)}`,
              value: changed(at, (p, k) => {
                p[k] = wrong;
              }),
              message: new RegExp(`^${escapeRegExp(show(at))}: expected .*, got `),
            });
          }
          if (mt.kind === 'enum') {
            out.push({
              what: `bad enum value at ${show(at)}`,
              value: changed(at, (p, k) => {
                p[k] = 'no-such-value';
              }),
              message: new RegExp(
                `^${escapeRegExp(show(at))}: expected one of .*, got "no-such-value"$`,
              ),
            });
          }
          walk(mt, obj[m.name], at);
        }
        const extra = [...segs, 'no-such-member'];
        out.push({
          what: `unknown member ${show(extra)}`,
          value: changed(extra, (p, k) => {
            p[k] = 1;
          }),
          message: exact(`${show(extra)}: unknown member`),
        });
        return;
      }
      case 'array':
        if (Array.isArray(value) && value.length > 0)
          walk(lookupType(model, t.element), value[0], [...segs, 0]);
        return;
      case 'alternate': {
        const kind = jsonKind(value);
        const v = t.variants.find((b) => jsonKindsOf(lookupType(model, b.type)).includes(kind));
        if (v) walk(lookupType(model, v.type), value, segs);
        return;
      }
      default:
        return;
    }
  };
  walk(lookupType(model, typeName), root, []);
  return out;
}

/** A value of a JSON type `t` does not accept; undefined for `any`. */
function wrongValue(model: WireModel, t: WireType): unknown {
  const accepted = new Set(
    t.kind === 'alternate'
      ? t.variants.flatMap((v) => jsonKindsOf(lookupType(model, v.type)))
      : jsonKindsOf(t),
  );
  for (const candidate of [[], 'wrong', true, { x: 1 }, null]) {
    if (!accepted.has(jsonKind(candidate))) return candidate;
  }
  return undefined;
}

function exact(text: string): RegExp {
  return new RegExp(`^${escapeRegExp(text)}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
