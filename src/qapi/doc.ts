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

export class DocSection {
  /** Text fixed by `text =` (QEMU strips a section when it ends). */
  private base = '';
  /** Lines appended since, each already right-stripped; joined lazily (a block can have thousands). */
  private lines: string[] = [];
  /**
   * The section has ended, so its text is stripped (as QEMU does), but only
   * when first read: checking a schema never reads doc text.
   */
  private stripPending = false;

  constructor(
    private readonly fail: DocFail,
    /** Member/feature name, or section tag without ':'; null for the body and untagged sections. */
    readonly name: string | null = null,
    /** Continuation lines must be indented at least this much. */
    private readonly indent = 0,
  ) {}

  /** The text so far, every appended line ending in '\n'. */
  get text(): string {
    if (this.lines.length > 0) {
      // The trailing '' ends the text in '\n': one flat string, where adding
      // '\n' would make a concatenation that every later scan has to flatten.
      this.lines.push('');
      this.base += this.lines.join('\n');
      this.lines = [];
    }
    if (this.stripPending) {
      this.stripPending = false;
      this.base = pyStrip(this.base);
    }
    return this.base;
  }

  set text(value: string) {
    this.base = value;
    this.lines = [];
    this.stripPending = false;
  }

  /**
   * Ends the section: its text is stripped from now on. Returns whether that
   * leaves it empty, found without joining: the lines are right-stripped
   * already, so the text is blank exactly when every line is '' and the
   * text before them is blank.
   */
  end(): boolean {
    let blank = leadingSpace(this.base) === this.base.length;
    for (let i = 0; blank && i < this.lines.length; i++) blank = this.lines[i] === '';
    this.stripPending = true;
    return blank;
  }

  /** `text !== ''` without joining. */
  hasText(): boolean {
    if (this.stripPending) return this.text !== '';
    return this.base !== '' || this.lines.length > 0;
  }

  /** `text.endsWith('\n\n')` without joining: the last line was blank and something came before it. */
  endsWithBlankLine(): boolean {
    if (this.stripPending) return this.text.endsWith('\n\n');
    const n = this.lines.length;
    if (n === 0) return this.base.endsWith('\n\n');
    if (this.lines[n - 1] !== '') return false;
    return n >= 2 || this.base.endsWith('\n');
  }

  /**
   * The rest of a header line ("@arg: REST", "Since: REST"). QEMU pads it to
   * the section's indent, then cuts the pad off again: the same as adding it
   * as it is, without building the padded copy.
   */
  appendHeaderRest(rest: string): void {
    if (this.stripPending) void this.text;
    this.lines.push(pyRstrip(rest));
  }

  append(line: string): void {
    // Text added after the end goes after the stripped text, as in QEMU.
    if (this.stripPending) void this.text;
    if (line) {
      if (this.indent > 0 && leadingSpace(line) < this.indent) {
        this.fail(`unexpected de-indent (expected at least ${this.indent} spaces)`);
      }
      if (this.indent > 0) line = line.slice(this.indent);
    }
    this.lines.push(pyRstrip(line));
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
  readonly args = new Map<string, ArgSection>();
  readonly features = new Map<string, ArgSection>();
  readonly sections: DocSection[] = [];
  private section: DocSection;
  private mode: LineMode = 'body';

  constructor(
    /** Where the block starts (its opening `##`). */
    readonly info: SourceInfo,
    private readonly fail: DocFail,
  ) {
    this.body = new DocSection(fail);
    this.section = this.body;
  }

  hasSection(name: string): boolean {
    const sections = this.sections;
    for (let i = 0; i < sections.length; i++) {
      if ((sections[i] as DocSection).name === name) return true;
    }
    return false;
  }

  /** Takes one comment line, including its leading '#'. */
  append(raw: string): void {
    if (raw.length === 1) {
      this.appendFreeform('');
      return;
    }
    if (raw.charCodeAt(1) !== 32) this.fail('missing space after #');
    const line = raw.slice(2);
    if (this.isPlainText(line)) this.section.append(line);
    else this.appendLine(line);
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
  private startSymbolLine(into: Map<string, ArgSection>, line: string, name: string): void {
    const width = headerWidth(line, 1);
    // QEMU 7.2 stops on an internal assertion here; we reject the line instead.
    if (width < 0) this.fail(`parameter name in '${showSpaces(name)}' contains whitespace`);
    const rest = line.slice(width);
    // QEMU counts characters, not UTF-16 units (names may hold astral characters).
    const indent = rest ? countCodePoints(line, width) : 0;
    this.startSymbolSection(into, name.slice(1, -1), indent);
    this.section.appendHeaderRest(rest);
  }

  private startsNewSection(line: string): boolean {
    return this.section.endsWithBlankLine() && line !== '' && !isPyLeadingSpace(line);
  }

  private appendArgsLine(line: string): void {
    const name = firstWord(line);
    if (isSymbolWord(name)) {
      this.startSymbolLine(this.args, line, name);
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
      this.startSymbolLine(this.features, line, name);
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
      this.section.appendHeaderRest(rest);
      return;
    }
    this.appendFreeform(line);
  }

  private startSymbolSection(into: Map<string, ArgSection>, name: string, indent: number): void {
    if (!name) this.fail('invalid parameter name');
    if (into.has(name)) this.fail(`'${name}' parameter name duplicated`);
    const section = new ArgSection(this.fail, name, indent);
    this.switchSection(section);
    into.set(name, section);
  }

  private startSection(name: string | null, indent: number): void {
    if ((name === 'Returns' || name === 'Since') && this.hasSection(name)) {
      this.fail(`duplicated '${name}' section`);
    }
    const section = new DocSection(this.fail, name, indent);
    this.switchSection(section);
    this.sections.push(section);
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
    this.section.append(line);
  }

  /** Ties a member of the documented definition to its `@name:` section (creating an empty one if undocumented). */
  connectMember(member: DocMember): void {
    let section = this.args.get(member.name);
    if (!section) {
      section = new ArgSection(this.fail, member.name);
      this.args.set(member.name, section);
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
