/**
 * Structs, unions (a base, branches selected by a discriminator) and
 * alternates (branches selected by JSON type), with QEMU's rules for member
 * clashes, discriminators and ambiguity.
 */
import { cName } from './c-name.js';
import type { QapiDoc } from './doc.js';
import {
  type AlternateQtype,
  EnumType,
  type JsonType,
  QapiType,
  type TypeResolver,
} from './entities.js';
import { QapiSemanticError } from './error.js';
import type { IfCond } from './ifcond.js';
import {
  type EnumMember,
  type Feature,
  type ObjectTypeMember,
  type SeenMembers,
  Variant,
} from './members.js';
import type { SourceInfo } from './source.js';
import type { QapiSchemaVisitor } from './visitor.js';

/** A struct (local members, optional base) or a union (base, variants). */
export class ObjectType extends QapiType {
  readonly meta: 'struct' | 'union';
  private baseType: ObjectType | null = null;
  private allMembers: ObjectTypeMember[] | null = null;

  constructor(
    name: string,
    info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly baseName: string | null,
    readonly localMembers: readonly ObjectTypeMember[],
    readonly variants: Variants | null,
  ) {
    super(name, info, doc, ifcond, features);
    this.meta = variants ? 'union' : 'struct';
    for (let i = 0; i < localMembers.length; i++) {
      (localMembers[i] as ObjectTypeMember).setDefinedIn(name);
    }
    variants?.setDefinedIn(name);
  }

  get base(): ObjectType | null {
    return this.baseType;
  }

  /** All members, base ones first; available once checked. */
  get members(): readonly ObjectTypeMember[] {
    if (!this.allMembers) throw new Error(`object type '${this.name}' is not checked yet`);
    return this.allMembers;
  }

  override check(schema: TypeResolver): void {
    // A type is checked when its C struct would contain it (base, branches):
    // re-entering before completion means it contains itself.
    if (this.allMembers) return;
    if (this.checked) throw new QapiSemanticError(this.info, `object ${this.name} contains itself`);
    super.check(schema);

    const seen: SeenMembers = new Map();
    // An empty name counts as absent, as in QEMU (it tests the name's truthiness).
    if (this.baseName) {
      const base = schema.resolveType(this.baseName, this.info, "'base'");
      if (!(base instanceof ObjectType) || base.variants) {
        throw new QapiSemanticError(
          this.info,
          `'base' requires a struct type, ${base.describe()} isn't`,
        );
      }
      this.baseType = base;
      base.check(schema);
      base.checkClash(this.info, seen);
    }
    // Indexed loops throughout: see schema.ts.
    const local = this.localMembers;
    for (let i = 0; i < local.length; i++) {
      const m = local[i] as ObjectTypeMember;
      m.check(schema);
      m.checkClash(this.info, seen);
    }
    // What `seen` now holds, in its order (a clash would have thrown): base members, then local ones.
    const members = this.baseType
      ? this.baseType.members.concat(local)
      : (local.slice() as ObjectTypeMember[]);
    if (this.variants) {
      this.variants.check(schema, seen);
      this.variants.checkClash(this.info, seen);
    }
    this.allMembers = members;
  }

  /**
   * Add this type's members to `seen`, reporting clashes on behalf of
   * `info`; members in `common` clash too but `common` is left as it is.
   */
  checkClash(info: SourceInfo | null, seen: SeenMembers, common?: SeenMembers): void {
    const members = this.members;
    for (let i = 0; i < members.length; i++) {
      (members[i] as ObjectTypeMember).checkClash(info, seen, common);
    }
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    if (this.baseType?.isImplicit()) this.baseType.connectDoc(doc);
    const local = this.localMembers;
    for (let i = 0; i < local.length; i++) (local[i] as ObjectTypeMember).connectDoc(doc);
  }

  override isImplicit(): boolean {
    // q_empty and the q_obj_* argument/base types.
    return this.name.startsWith('q_');
  }

  isEmpty(): boolean {
    return this.members.length === 0 && !this.variants;
  }

  jsonType(): JsonType {
    return 'object';
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitObjectType?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.baseType,
      this.localMembers,
      this.variants,
    );
    visitor.visitObjectTypeFlat?.(
      this.name,
      this.info,
      this.ifcond,
      this.features,
      this.members,
      this.variants,
    );
  }
}

export class AlternateType extends QapiType {
  readonly meta = 'alternate';

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly variants: Variants,
  ) {
    super(name, info, doc, ifcond, features);
    variants.setDefinedIn(name);
    variants.tagMember.setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.variants.tagMember.check(schema);
    // Branch names are free-form here, so clashes are ours to find.
    this.variants.check(schema, new Map());
    const seen: SeenMembers = new Map();
    const qtypesSeen = new Map<AlternateQtype, string>();
    const branches = this.variants.variants;
    for (let i = 0; i < branches.length; i++) {
      const v = branches[i] as Variant;
      v.checkClash(this.info, seen);
      const qtype = v.type.alternateQtype();
      if (!qtype) {
        throw new QapiSemanticError(
          this.info,
          `${v.describe(this.info)} cannot use ${v.type.describe()}`,
        );
      }
      const conflicting = new Set<AlternateQtype>([qtype]);
      if (qtype === 'QTYPE_QSTRING') {
        // The keyval visitor reads every scalar from a string: enum values
        // that look like a bool or number are ambiguous with those branches.
        if (v.type instanceof EnumType) {
          for (const m of v.type.members) {
            if (m.name === 'on' || m.name === 'off') conflicting.add('QTYPE_QBOOL');
            if (/^[-+0-9.]/.test(m.name)) conflicting.add('QTYPE_QNUM');
          }
        } else {
          conflicting.add('QTYPE_QNUM');
          conflicting.add('QTYPE_QBOOL');
        }
      }
      for (const qt of conflicting) {
        const other = qtypesSeen.get(qt);
        if (other !== undefined) {
          throw new QapiSemanticError(
            this.info,
            `${v.describe(this.info)} can't be distinguished from '${other}'`,
          );
        }
        qtypesSeen.set(qt, v.name);
      }
    }
  }

  override connectDoc(doc: QapiDoc | null = this.doc): void {
    super.connectDoc(doc);
    const branches = this.variants.variants;
    for (let i = 0; i < branches.length; i++) (branches[i] as Variant).connectDoc(doc);
  }

  jsonType(): JsonType {
    return 'value';
  }

  visit(visitor: QapiSchemaVisitor): void {
    visitor.visitAlternateType?.(this.name, this.info, this.ifcond, this.features, this.variants);
  }
}

/**
 * The branches of a union (selected by a discriminator member of its base)
 * or an alternate (selected by the JSON type, through an implicit QType tag).
 */
export class Variants {
  private tag: ObjectTypeMember | null;
  private readonly branches: Variant[];

  constructor(
    readonly tagName: string | null,
    readonly info: SourceInfo,
    tagMember: ObjectTypeMember | null,
    variants: readonly Variant[],
  ) {
    this.tag = tagMember;
    this.branches = [...variants];
  }

  get tagMember(): ObjectTypeMember {
    if (!this.tag) throw new Error('union discriminator is not checked yet');
    return this.tag;
  }

  get variants(): readonly Variant[] {
    return this.branches;
  }

  setDefinedIn(name: string): void {
    for (let i = 0; i < this.branches.length; i++) (this.branches[i] as Variant).setDefinedIn(name);
  }

  /** `seen` holds the union's members so far; empty for an alternate. */
  check(schema: TypeResolver, seen: SeenMembers): void {
    const isUnion = this.tagName !== null;
    if (this.tagName !== null) this.checkDiscriminator(schema, this.tagName, seen);
    const tagType = this.tagMember.type;
    const branches = this.branches;
    let values: Set<string> | null = null;
    if (isUnion && tagType instanceof EnumType) {
      // Enum values without a branch select the empty type.
      const cases = new Set<string>();
      for (let i = 0; i < branches.length; i++) cases.add((branches[i] as Variant).name);
      values = new Set<string>();
      const members = tagType.members;
      for (let i = 0; i < members.length; i++) {
        const m = members[i] as EnumMember;
        values.add(m.name);
        if (cases.has(m.name)) continue;
        const v = new Variant(m.name, this.info, 'q_empty', m.ifcond);
        v.setDefinedIn(this.tagMember.definedIn);
        branches.push(v);
      }
    }
    if (branches.length === 0) throw new QapiSemanticError(this.info, 'union has no branches');
    for (let i = 0; i < branches.length; i++) {
      const v = branches[i] as Variant;
      v.check(schema);
      if (!isUnion || !(tagType instanceof EnumType) || values === null) continue;
      if (!values.has(v.name)) {
        throw new QapiSemanticError(
          this.info,
          `branch '${v.name}' is not a value of ${tagType.describe()}`,
        );
      }
      if (!(v.type instanceof ObjectType) || v.type.variants) {
        throw new QapiSemanticError(
          this.info,
          `${v.describe(this.info)} cannot use ${v.type.describe()}`,
        );
      }
      v.type.check(schema);
    }
  }

  private checkDiscriminator(schema: TypeResolver, tagName: string, seen: SeenMembers): void {
    const tag = seen.get(cName(tagName)) as ObjectTypeMember | undefined;
    if (!tag || tag.name !== tagName) {
      throw new QapiSemanticError(
        this.info,
        `discriminator '${tagName}' is not a member of 'base'`,
      );
    }
    this.tag = tag;
    const baseType = schema.lookupType(tag.definedIn);
    const base = baseType && !baseType.isImplicit() ? `base type '${tag.definedIn}'` : "'base'";
    const fail = (rule: string) =>
      new QapiSemanticError(this.info, `discriminator member '${tagName}' of ${base} ${rule}`);
    if (!(tag.type instanceof EnumType)) throw fail('must be of enum type');
    if (tag.optional) throw fail('must not be optional');
    if (tag.ifcond.isPresent()) throw fail('must not be conditional');
  }

  /** Each branch's members must not clash with the common members (branches may share names). */
  checkClash(info: SourceInfo | null, seen: SeenMembers): void {
    for (let i = 0; i < this.branches.length; i++) {
      const type = (this.branches[i] as Variant).type;
      if (type instanceof ObjectType) type.checkClash(info, new Map(), seen);
    }
  }
}
