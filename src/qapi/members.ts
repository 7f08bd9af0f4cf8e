/**
 * The parts of definitions: object members, enum values, union/alternate
 * branches and features. Each knows where it was defined so that a clash can
 * be described the way QEMU describes it ("member 'a' of type 'Base'",
 * "parameter 'x'", "base member 'kind'", ...).
 */
import { cName } from './c-name.js';
import { QapiSemanticError } from './error.js';
import type { IfCond } from './ifcond.js';
import type { QapiDoc } from './doc.js';
import type { SourceInfo } from './source.js';
import type { QapiType, TypeResolver } from './entities.js';

export type MemberRole = 'member' | 'value' | 'feature' | 'branch';

/** Members seen so far, keyed by C name, in definition order. */
export type SeenMembers = Map<string, Member>;

export abstract class Member {
  abstract readonly role: MemberRole;
  private definedInName: string | null = null;
  /** `cName(name)`, kept: clashes are checked again for every type that includes the member. */
  private clashKey: string | null = null;

  constructor(
    readonly name: string,
    readonly info: SourceInfo | null,
    readonly ifcond: IfCond,
  ) {}

  /** The name of the definition that owns this member (set once, at construction of the owner). */
  get definedIn(): string {
    if (this.definedInName === null) throw new Error(`${this.role} '${this.name}' has no owner`);
    return this.definedInName;
  }

  setDefinedIn(name: string): void {
    if (this.definedInName !== null) throw new Error(`${this.role} '${this.name}' already owned`);
    this.definedInName = name;
  }

  /**
   * Record this member in `seen`, failing (on behalf of `info`) when its C
   * name is taken there or in `common` (which is only read: the common
   * members a union branch must not clash with, shared by all branches).
   */
  checkClash(info: SourceInfo | null, seen: SeenMembers, common?: SeenMembers): void {
    let key = this.clashKey;
    if (key === null) {
      key = cName(this.name);
      this.clashKey = key;
    }
    const other = common?.get(key) ?? seen.get(key);
    if (other) {
      throw new QapiSemanticError(
        info,
        `${this.describe(info)} collides with ${other.describe(info)}`,
      );
    }
    seen.set(key, this);
  }

  connectDoc(doc: QapiDoc | null): void {
    doc?.connectMember(this);
  }

  /** How error messages name this member, seen from the definition `info` belongs to. */
  describe(info: SourceInfo | null): string {
    let role: string = this.role;
    let owner = this.definedIn;
    if (owner.startsWith('q_obj_')) {
      // Implicit types are named q_obj_<definition>-<role>; speak of the definition instead.
      owner = owner.slice(6);
      if (owner.endsWith('-arg')) role = 'parameter';
      else if (owner.endsWith('-base')) role = `base ${role}`;
      return `${role} '${this.name}'`;
    }
    if (owner !== info?.defnName) return `${role} '${this.name}' of type '${owner}'`;
    return `${role} '${this.name}'`;
  }
}

export class Feature extends Member {
  readonly role = 'feature';

  /** Features the generators treat specially, which types may not carry. */
  isSpecial(): boolean {
    return this.name === 'deprecated' || this.name === 'unstable';
  }
}

// Indexed loops throughout: see schema.ts.

function connectFeatures(doc: QapiDoc | null, features: readonly Feature[]): void {
  if (!doc) return;
  for (let i = 0; i < features.length; i++) doc.connectFeature(features[i] as Feature);
}

function checkFeatureClashes(info: SourceInfo | null, features: readonly Feature[]): void {
  if (features.length < 2) return;
  const seen: SeenMembers = new Map();
  for (let i = 0; i < features.length; i++) (features[i] as Feature).checkClash(info, seen);
}

function setFeaturesDefinedIn(features: readonly Feature[], name: string): void {
  for (let i = 0; i < features.length; i++) (features[i] as Feature).setDefinedIn(name);
}

export class EnumMember extends Member {
  readonly role = 'value';

  constructor(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    setFeaturesDefinedIn(features, name);
  }

  override connectDoc(doc: QapiDoc | null): void {
    super.connectDoc(doc);
    connectFeatures(doc, this.features);
  }
}

export class ObjectTypeMember extends Member {
  readonly role: MemberRole = 'member';
  private resolved: QapiType | null = null;

  constructor(
    name: string,
    info: SourceInfo | null,
    readonly typeName: string,
    readonly optional: boolean,
    ifcond: IfCond,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    setFeaturesDefinedIn(features, name);
  }

  /** The member's type; available once the owner has been checked. */
  get type(): QapiType {
    if (!this.resolved) throw new Error(`${this.role} '${this.name}' is not checked yet`);
    return this.resolved;
  }

  check(schema: TypeResolver): void {
    // Look up first: the describing callback is only needed for the error.
    this.resolved =
      schema.lookupType(this.typeName) ??
      schema.resolveType(this.typeName, this.info, (info) => this.describe(info));
    checkFeatureClashes(this.info, this.features);
  }

  override connectDoc(doc: QapiDoc | null): void {
    super.connectDoc(doc);
    connectFeatures(doc, this.features);
  }
}

/** A union or alternate branch: a name and the type used when it is taken. */
export class Variant extends ObjectTypeMember {
  override readonly role = 'branch';

  constructor(name: string, info: SourceInfo | null, typeName: string, ifcond: IfCond) {
    super(name, info, typeName, false, ifcond);
  }
}

export { checkFeatureClashes, connectFeatures, setFeaturesDefinedIn };
