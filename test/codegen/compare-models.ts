/**
 * Structural comparison of two wire models, one from our schema source and
 * one from a live QEMU's introspection (type names masked, integer types
 * folded into `int`, `if` conditions already evaluated). Items present only
 * on our side are fine when conditional (`if`): the binary was built without
 * them. Anything else is reported as a difference with its path.
 */
import { lookupType, type WireModel } from '../../src/codegen/model.js';

export function compareTypes(
  ours: WireModel,
  ourName: string,
  theirs: WireModel,
  theirName: string,
  path: string,
  seen = new Set<string>(),
): string[] {
  const key = `${ourName}|${theirName}`;
  if (seen.has(key)) return [];
  seen.add(key);
  const a = lookupType(ours, ourName);
  const b = lookupType(theirs, theirName);
  const diffs: string[] = [];
  const recurse = (x: string, y: string, p: string) =>
    diffs.push(...compareTypes(ours, x, theirs, y, p, seen));
  if (a.kind !== b.kind) return [`${path}: ${a.kind} '${ourName}' vs ${b.kind} '${theirName}'`];
  switch (a.kind) {
    case 'builtin':
      if (b.kind === 'builtin' && a.jsonType !== b.jsonType)
        diffs.push(`${path}: ${a.jsonType} vs ${b.jsonType}`);
      break;
    case 'enum': {
      if (b.kind !== 'enum') break;
      const theirValues = b.values.map((v) => v.name);
      const expected = a.values
        .filter((v) => v.ifcond === null || theirValues.includes(v.name))
        .map((v) => v.name);
      if (expected.join() !== theirValues.join())
        diffs.push(`${path}: values [${expected}] vs [${theirValues}]`);
      break;
    }
    case 'array':
      if (b.kind === 'array') recurse(a.element, b.element, `${path}[]`);
      break;
    case 'object': {
      if (b.kind !== 'object') break;
      const theirMembers = new Map(b.members.map((m) => [m.name, m]));
      for (const m of a.members) {
        const t = theirMembers.get(m.name);
        if (!t) {
          if (m.ifcond === null) diffs.push(`${path}.${m.name}: missing in QEMU`);
          continue;
        }
        theirMembers.delete(m.name);
        if (m.optional !== t.optional)
          diffs.push(`${path}.${m.name}: optional ${m.optional} vs ${t.optional}`);
        recurse(m.type, t.type, `${path}.${m.name}`);
      }
      for (const name of theirMembers.keys()) diffs.push(`${path}.${name}: only in QEMU`);
      if ((a.variants === null) !== (b.variants === null) || a.variants?.tag !== b.variants?.tag) {
        diffs.push(`${path}: tag ${a.variants?.tag} vs ${b.variants?.tag}`);
        break;
      }
      for (const tv of b.variants?.variants ?? []) {
        const av = a.variants?.variants.find((v) => v.name === tv.name);
        if (!av) diffs.push(`${path}(${tv.name}): branch only in QEMU`);
        else recurse(av.type, tv.type, `${path}(${tv.name})`);
      }
      break;
    }
    case 'alternate': {
      if (b.kind !== 'alternate') break;
      const present = a.variants.filter((v) => v.ifcond === null);
      if (present.length !== b.variants.length) {
        diffs.push(`${path}: ${present.length} vs ${b.variants.length} alternatives`);
        break;
      }
      for (const [i, v] of present.entries()) recurse(v.type, b.variants[i]!.type, `${path}|${i}`);
      break;
    }
  }
  return diffs;
}
