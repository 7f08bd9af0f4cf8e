/**
 * Documentation comments (`## ... ##` blocks) as QEMU 7.2 reads them: a
 * symbol line, a body, `@arg:` sections, a `Features:` part and tagged
 * sections. Syntax errors are reported at the parser's current comment line,
 * so the parser hands in a `fail` callback; model-level checks (documented
 * members that do not exist) run later through `connectMember`/`check`.
 */
import { QapiSemanticError } from './error.js';
import { isPySpace, leadingSpace, PY_SPACE_CLASS, pyRstrip, pyStrip } from './pytext.js';
import type { SourceInfo } from './source.js';

/** Raises a parse error at the parser's current position. */
export type DocFail = (message: string) => never;

export type SectionTag = 'Returns' | 'Since' | 'Note' | 'Notes' | 'Example' | 'Examples' | 'TODO';

const SECTION_TAGS: ReadonlySet<string> = new Set([
  'Returns:',
  'Since:',
  'Note:',
  'Notes:',
  'Example:',
  'Examples:',
  'TODO:',
]);

const AT = 0x40;
const COLON = 0x3a;
const FREEFORM_SYMBOL = new RegExp(`^(@[^${PY_SPACE_CLASS}]+:)`);

/** What a documented member or feature is connected to (stage 2 passes its entities). */
export interface DocMember {
  readonly name: string;
}
export interface DocFeature {
  readonly name: string;
  readonly info: SourceInfo | null;
}

/** Bits of DocSection's `flags`. */
const STRIP_PENDING = 1;
const LAST_BLANK = 2;
const ALL_BLANK = 4;
/** Lines were added since `base`; MANY_LINES: more than one. */
const HAS_LINES = 8;
const MANY_LINES = 16;

const HASH = 0x23;

/**
 * One section of a doc block. Its lines are not copied out of the file:
 * the section keeps where they are in the file's text (spans of
 * consecutive comment lines, each line's text found again by the rule it
 * was read with) and builds the text only when it is first read. Checking
 * a schema never reads doc text, and a copy of every line would cost
 * several times the file's size (QEMU's own blocks run to thousands of
 * lines; a generated 30 MB schema holds a million).
 */
export class DocSection {
  /** Text fixed so far: set by `text =`, or built by a read; the spans follow it. */
  private base = '';
  /** Where the first span's first line starts (its text, after '# ' and the indent); -1: no lines. */
  private spanStart = -1;
  /** Where the last span's last line ends (its '\n'). */
  private spanEnd = -1;
  /** Earlier spans, as [start, end, ...], when a line in between went elsewhere. */
  private spans: number[] | null = null;
  /**
   * STRIP_PENDING: the section has ended, so its text is stripped (as QEMU
   * does) when first read; the others describe the lines added since `base`.
   */
  private flags = ALL_BLANK;

  constructor(
    /** The file's text the lines are read from. */
    private readonly src: string,
    /** Member/feature name, or section tag without ':'; null for the body and untagged sections. */
    readonly name: string | null = null,
    /** Continuation lines must be indented at least this much. */
    private readonly indent = 0,
  ) {}

  /** The text so far, every added line ending in '\n'. */
  get text(): string {
    if (this.flags & HAS_LINES) {
      const parts: string[] = [];
      const spans = this.spans;
      if (spans)
        for (let i = 0; i < spans.length; i += 2) this.render(spans[i]!, spans[i + 1]!, parts);
      this.render(this.spanStart, this.spanEnd, parts);
      // The trailing '' ends the text in '\n': one flat string, where adding
      // '\n' would make a concatenation that every later scan has to flatten.
      parts.push('');
      this.base += parts.join('\n');
      this.clearLines();
    }
    if (this.flags & STRIP_PENDING) {
      this.flags &= ~STRIP_PENDING;
      this.base = pyStrip(this.base);
    }
    return this.base;
  }

  set text(value: string) {
    this.base = value;
    this.clearLines();
    this.flags &= ~STRIP_PENDING;
  }

  /**
   * The lines of one span, as they were added: the first from `start`, each
   * later one after its '#', a space and the indent (a line is never shorter
   * than the indent unless empty: de-indents were refused); right-stripped.
   */
  private render(start: number, end: number, into: string[]): void {
    const src = this.src;
    let at = start;
    for (;;) {
      const eol = src.indexOf('\n', at);
      into.push(pyRstrip(src.slice(at, eol)));
      if (eol >= end) return;
      // Between two comment lines of a block there is only white space.
      let hash = eol + 1;
      while (src.charCodeAt(hash) !== HASH) hash++;
      const next = src.indexOf('\n', hash);
      at = Math.min(hash + 2 + this.indent, next);
    }
  }

  private clearLines(): void {
    this.spanStart = -1;
    this.spanEnd = -1;
    this.spans = null;
    this.flags = (this.flags & STRIP_PENDING) | ALL_BLANK;
  }

  /**
   * Ends the section: its text is stripped from now on. Returns whether that
   * leaves it empty, found without building it: the lines are right-stripped,
   * so the text is blank exactly when every line is and the text before
   * them is blank.
   */
  end(): boolean {
    const blank = leadingSpace(this.base) === this.base.length && (this.flags & ALL_BLANK) !== 0;
    this.flags |= STRIP_PENDING;
    return blank;
  }

  /** `text !== ''` without building it. */
  hasText(): boolean {
    if (this.flags & STRIP_PENDING) return this.text !== '';
    return this.base !== '' || (this.flags & HAS_LINES) !== 0;
  }

  /** `text.endsWith('\n\n')` without building it: the last line was blank and something came before it. */
  endsWithBlankLine(): boolean {
    if (this.flags & STRIP_PENDING) return this.text.endsWith('\n\n');
    if (!(this.flags & HAS_LINES)) return this.base.endsWith('\n\n');
    if (!(this.flags & LAST_BLANK)) return false;
    return (this.flags & MANY_LINES) !== 0 || this.base.endsWith('\n');
  }

  /**
   * The rest of a header line ("@arg: REST", "Since: REST"), found at `at`.
   * QEMU pads it to the section's indent, then cuts the pad off again: the
   * same as adding it as it is.
   */
  appendHeaderRest(rest: string, at: number, prevEol: number): void {
    this.addLine(at, at + rest.length, prevEol, leadingSpace(rest) === rest.length);
  }

  /**
   * Adds a line: `line` is the comment's text after '# ', found at `at`;
   * `prevEol` is where the block's previous comment line ended (a line
   * that follows it continues the last span).
   */
  append(line: string, at: number, prevEol: number, fail: DocFail): void {
    let start = at;
    const space = leadingSpace(line);
    if (line) {
      if (this.indent > 0 && space < this.indent) {
        fail(`unexpected de-indent (expected at least ${this.indent} spaces)`);
      }
      start += this.indent;
    }
    this.addLine(start, at + line.length, prevEol, space === line.length);
  }

  private addLine(start: number, eol: number, prevEol: number, blank: boolean): void {
    // Text added after the end goes after the stripped text, as in QEMU.
    if (this.flags & STRIP_PENDING) void this.text;
    let flags = this.flags;
    if (!(flags & HAS_LINES)) {
      flags |= HAS_LINES;
      this.spanStart = start;
    } else {
      flags |= MANY_LINES;
      if (this.spanEnd !== prevEol) {
        this.spans ??= [];
        this.spans.push(this.spanStart, this.spanEnd);
        this.spanStart = start;
      }
    }
    this.spanEnd = eol;
    this.flags = blank ? flags | LAST_BLANK : flags & ~(LAST_BLANK | ALL_BLANK);
  }
}

export class ArgSection extends DocSection {
  member: DocMember | null = null;
  connect(member: DocMember): void {
    this.member = member;
  }
}

type LineMode = 'body' | 'args' | 'features' | 'various' | 'ended';

/** First word of a line, as `line.split(' ', 1)[0]`. */
function firstWord(line: string): string {
  const sp = line.indexOf(' ');
  return sp < 0 ? line : line.slice(0, sp);
}

function isSymbolWord(word: string): boolean {
  return word.startsWith('@') && word.endsWith(':');
}

/**
 * Width of a header like "@arg:   " or "Since: " (the indent of its
 * continuation lines): up to the last ':' of the line's first run of
 * non-whitespace, then any whitespace (QEMU's `@\S*:\s*` / `\S*:\s*`,
 * from `from` = 1 after the '@' or 0). -1 when that run has no ':' (the
 * first word holds other whitespace before its ':', e.g. "@\targ:").
 */
function headerWidth(line: string, from: 0 | 1): number {
  let run = from;
  while (run < line.length && !isPySpace(line.charCodeAt(run))) run++;
  let colon = run - 1;
  while (colon >= from && line.charCodeAt(colon) !== COLON) colon--;
  if (colon < from) return -1;
  let end = colon + 1;
  while (end < line.length && isPySpace(line.charCodeAt(end))) end++;
  return end;
}

const OTHER_SPACE = new RegExp(`[${PY_SPACE_CLASS}]`, 'g');

/** `text` with whitespace other than ' ' written as \t, \xNN or \uNNNN, so a message shows it. */
function showSpaces(text: string): string {
  return text.replace(OTHER_SPACE, (c) => {
    if (c === ' ') return c;
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

function countCodePoints(s: string, end: number): number {
  let n = end;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) n--;
  }
  return n;
}

export class QapiDoc {
  /** The definition this block documents; null for free-form documentation. */
  symbol: string | null = null;
  readonly body: DocSection;
  private sectionList: DocSection[] = [];
  // Made on first use: most blocks document no features, many no members.
  private argSections: Map<string, ArgSection> | null = null;
  private featureSections: Map<string, ArgSection> | null = null;
  private section: DocSection;
  private mode: LineMode = 'body';
  /** Where the line being added starts in the file's text (after '# '). */
  private lineAt = 0;
  /** Where the block's previous comment line ended. */
  private prevEol = -1;

  constructor(
    /** Where the block starts (its opening `##`). */
    readonly info: SourceInfo,
    /** Reports a syntax error at the parser's position; dropped when the block ends. */
    private fail: DocFail,
    /** The text of the file the block is in: sections keep their lines' places in it. */
    private readonly src: string,
  ) {
    this.body = new DocSection(src);
    this.section = this.body;
  }

  /** The tagged and untagged sections after the `@name:` ones, in order. */
  get sections(): readonly DocSection[] {
    return this.sectionList;
  }

  /** `@name:` sections of members, enum values and branches, in order. */
  get args(): ReadonlyMap<string, ArgSection> {
    return this.argSections ?? NO_SECTIONS;
  }

  /** `@name:` sections of the `Features:` part, in order. */
  get features(): ReadonlyMap<string, ArgSection> {
    return this.featureSections ?? NO_SECTIONS;
  }

  hasSection(name: string): boolean {
    const sections = this.sections;
    for (let i = 0; i < sections.length; i++) {
      if ((sections[i] as DocSection).name === name) return true;
    }
    return false;
  }

  /** Takes one comment line, including its leading '#', found at `pos` in the file's text. */
  append(raw: string, pos: number): void {
    if (raw.length === 1) {
      this.lineAt = pos + 1;
      this.appendFreeform('');
    } else {
      if (raw.charCodeAt(1) !== 32) this.fail('missing space after #');
      const line = raw.slice(2);
      this.lineAt = pos + 2;
      if (this.isPlainText(line)) this.addLine(line);
      else this.appendLine(line);
    }
    this.prevEol = pos + raw.length;
  }

  private addLine(line: string): void {
    this.section.append(line, this.lineAt, this.prevEol, this.fail);
  }

  /**
   * Would every mode simply add this line to the current section? True for
   * most lines: no leading '@', first word not ending in ':', and not a
   * paragraph start that opens a new section after arguments or features.
   */
  private isPlainText(line: string): boolean {
    if (line.charCodeAt(0) === AT) return false;
    const sp = line.indexOf(' ');
    const wordEnd = sp < 0 ? line.length : sp;
    if (wordEnd > 0 && line.charCodeAt(wordEnd - 1) === COLON) return false;
    if (this.mode === 'args' || this.mode === 'features') {
      return line === '' || isPySpace(line.charCodeAt(0)) || !this.section.endsWithBlankLine();
    }
    return this.mode !== 'ended';
  }

  endComment(): void {
    this.switchSection(null);
    this.mode = 'ended';
    // The parser's callback would keep the parser, and with it every expression, alive.
    this.fail = ended;
    // An array grown by push keeps room for 17: a schema has many blocks, most with a section or two.
    if (this.sectionList.length > 0) this.sectionList = this.sectionList.slice();
  }

  private appendLine(line: string): void {
    switch (this.mode) {
      case 'body':
        this.appendBodyLine(line);
        break;
      case 'args':
        this.appendArgsLine(line);
        break;
      case 'features':
        this.appendFeaturesLine(line);
        break;
      case 'various':
        this.appendVariousLine(line);
        break;
      case 'ended':
        throw new Error('doc comment text appended after its end');
    }
  }

  private appendBodyLine(line: string): void {
    const name = firstWord(line);
    if (!this.symbol && !this.body.hasText() && line.charCodeAt(0) === AT) {
      if (!line.endsWith(':')) this.fail("line should end with ':'");
      this.symbol = line.slice(1, -1);
      // The name itself is validated against the definition that follows.
      if (!this.symbol) this.fail("name required after '@'");
    } else if (this.symbol) {
      if (isSymbolWord(name)) {
        this.mode = 'args';
        this.appendArgsLine(line);
      } else if (line === 'Features:') {
        this.mode = 'features';
      } else if (SECTION_TAGS.has(name)) {
        this.mode = 'various';
        this.appendVariousLine(line);
      } else {
        this.appendFreeform(line);
      }
    } else {
      this.appendFreeform(line);
    }
  }

  /** "@name: first line": a new section indented to the header's width, holding the line's rest. */
  private startSymbolLine(into: 'args' | 'features', line: string, name: string): void {
    const width = headerWidth(line, 1);
    // QEMU 7.2 stops on an internal assertion here; we reject the line instead.
    if (width < 0) this.fail(`parameter name in '${showSpaces(name)}' contains whitespace`);
    const rest = line.slice(width);
    // QEMU counts characters, not UTF-16 units (names may hold astral characters).
    const indent = rest ? countCodePoints(line, width) : 0;
    this.startSymbolSection(into, name.slice(1, -1), indent);
    this.section.appendHeaderRest(rest, this.lineAt + width, this.prevEol);
  }

  private startsNewSection(line: string): boolean {
    return this.section.endsWithBlankLine() && line !== '' && !isPyLeadingSpace(line);
  }

  private appendArgsLine(line: string): void {
    const name = firstWord(line);
    if (isSymbolWord(name)) {
      this.startSymbolLine('args', line, name);
      return;
    }
    if (SECTION_TAGS.has(name)) {
      this.mode = 'various';
      this.appendVariousLine(line);
      return;
    }
    if (this.startsNewSection(line)) {
      if (line === 'Features:') {
        this.mode = 'features';
      } else {
        this.startSection(null, 0);
        this.mode = 'various';
        this.appendVariousLine(line);
      }
      return;
    }
    this.appendFreeform(line);
  }

  private appendFeaturesLine(line: string): void {
    const name = firstWord(line);
    if (isSymbolWord(name)) {
      this.startSymbolLine('features', line, name);
      return;
    }
    if (SECTION_TAGS.has(name)) {
      this.mode = 'various';
      this.appendVariousLine(line);
      return;
    }
    if (this.startsNewSection(line)) {
      this.startSection(null, 0);
      this.mode = 'various';
      this.appendVariousLine(line);
      return;
    }
    this.appendFreeform(line);
  }

  private appendVariousLine(line: string): void {
    const name = firstWord(line);
    if (isSymbolWord(name)) {
      const first = this.sections[0]?.name ?? 'None';
      this.fail(`'${name}' can't follow '${first}' section`);
    }
    if (SECTION_TAGS.has(name)) {
      const width = headerWidth(line, 0);
      const rest = line.slice(width);
      this.startSection(name.slice(0, -1), rest ? width : 0);
      this.section.appendHeaderRest(rest, this.lineAt + width, this.prevEol);
      return;
    }
    this.appendFreeform(line);
  }

  private startSymbolSection(into: 'args' | 'features', name: string, indent: number): void {
    if (!name) this.fail('invalid parameter name');
    const sections = this.sectionMap(into);
    if (sections.has(name)) this.fail(`'${name}' parameter name duplicated`);
    const section = new ArgSection(this.src, name, indent);
    this.switchSection(section);
    sections.set(name, section);
  }

  private sectionMap(which: 'args' | 'features'): Map<string, ArgSection> {
    if (which === 'args') {
      this.argSections ??= new Map();
      return this.argSections;
    }
    this.featureSections ??= new Map();
    return this.featureSections;
  }

  private startSection(name: string | null, indent: number): void {
    if ((name === 'Returns' || name === 'Since') && this.hasSection(name)) {
      this.fail(`duplicated '${name}' section`);
    }
    const section = new DocSection(this.src, name, indent);
    this.switchSection(section);
    this.sectionList.push(section);
  }

  /** Closes the current section (only the body may be empty); `null` ends the block. */
  private switchSection(next: DocSection | null): void {
    const empty = this.section.end();
    if (this.section !== this.body && empty) {
      this.fail(`empty doc section '${this.section.name ?? 'None'}'`);
    }
    if (next) this.section = next;
  }

  private appendFreeform(line: string): void {
    const m = line.charCodeAt(0) === AT ? FREEFORM_SYMBOL.exec(line) : null;
    if (m) this.fail(`'${m[1]}' not allowed in free-form documentation`);
    this.addLine(line);
  }

  /** Ties a member of the documented definition to its `@name:` section (creating an empty one if undocumented). */
  connectMember(member: DocMember): void {
    const sections = this.sectionMap('args');
    let section = sections.get(member.name);
    if (!section) {
      section = new ArgSection(this.src, member.name);
      sections.set(member.name, section);
    }
    section.connect(member);
  }

  connectFeature(feature: DocFeature): void {
    const section = this.features.get(feature.name);
    if (!section) {
      throw new QapiSemanticError(feature.info, `feature '${feature.name}' lacks documentation`);
    }
    section.connect(feature);
  }

  /** Checks that need the definition's expression (run by the expression checker). */
  checkExpr(expr: Readonly<Record<string, unknown>>): void {
    if (this.hasSection('Returns') && !Object.hasOwn(expr, 'command')) {
      throw new QapiSemanticError(this.info, "'Returns:' is only valid for commands");
    }
  }

  /** After all members and features are connected: nothing documented may be bogus. */
  check(): void {
    checkConnected(this.info, this.args, 'member');
    checkConnected(this.info, this.features, 'feature');
  }
}

const NO_SECTIONS: ReadonlyMap<string, ArgSection> = new Map();

function ended(message: string): never {
  throw new Error(`doc comment already ended: ${message}`);
}

function isPyLeadingSpace(line: string): boolean {
  return isPySpace(line.charCodeAt(0));
}

function checkConnected(
  info: SourceInfo,
  sections: ReadonlyMap<string, ArgSection>,
  what: string,
): void {
  // forEach: no entry arrays or iterator results (this runs for every definition).
  const bogus: string[] = [];
  sections.forEach((s, name) => {
    if (!s.member) bogus.push(name);
  });
  if (bogus.length === 0) return;
  const many = bogus.length > 1;
  throw new QapiSemanticError(
    info,
    `documented ${what}${many ? 's' : ''} '${bogus.join("', '")}' ${many ? 'do' : 'does'} not exist`,
  );
}
