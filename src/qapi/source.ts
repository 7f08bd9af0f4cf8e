/**
 * Where a schema thing came from: file, line, the include chain that led
 * there, and (once expr checking names it) the definition it belongs to.
 * Error text built from these must match QEMU 7.2's byte for byte.
 */

/** Schema-wide settings set by `{ 'pragma': ... }`; one object per schema, shared by all files. */
export class Pragma {
  /** Must every definition carry a documentation comment? */
  docRequired = false;
  /** Commands whose names may use '_'. */
  commandNameExceptions: string[] = [];
  /** Commands allowed to return a non-object. */
  commandReturnsExceptions: string[] = [];
  /** Types whose member names may break the case conventions. */
  memberNameExceptions: string[] = [];
}

/** The kinds of top-level definition, as named in errors ("In struct 'Foo':"). */
export type DefinitionMeta = 'enum' | 'struct' | 'union' | 'alternate' | 'command' | 'event';

export class SourceInfo {
  /** Set by the expression checker once the definition's kind and name are known. */
  defnMeta: DefinitionMeta | null = null;
  defnName: string | null = null;

  constructor(
    readonly fname: string,
    readonly line: number,
    /** The `include` directive's position, or null for the main file. */
    readonly parent: SourceInfo | null,
    readonly pragma: Pragma,
  ) {}

  setDefn(meta: DefinitionMeta, name: string): void {
    this.defnMeta = meta;
    this.defnName = name;
  }

  /** A fresh info for a later line of the same file (not sharing the definition). */
  atLine(line: number): SourceInfo {
    return new SourceInfo(this.fname, line, this.parent, this.pragma);
  }

  /** `FILE:LINE` */
  loc(): string {
    return `${this.fname}:${this.line}`;
  }

  /** The context lines QEMU prints before the location, each ending in a newline. */
  contextLines(): string[] {
    const lines: string[] = [];
    for (let p = this.parent; p; p = p.parent) lines.unshift(`In file included from ${p.loc()}:`);
    if (this.defnName) lines.push(`${this.fname}: In ${this.defnMeta} '${this.defnName}':`);
    return lines;
  }

  /** Context lines then the location, as QEMU's `str(info)`. */
  prefix(): string {
    const ctx = this.contextLines();
    return ctx.length === 0 ? this.loc() : `${ctx.join('\n')}\n${this.loc()}`;
  }

  toString(): string {
    return this.prefix();
  }
}
