/**
 * The schema's tokens, as QEMU 7.2's parser.py reads them: structural
 * characters, single-quoted strings (printable ASCII, '\\' the only
 * escape), true/false, and '#' comments (returned as tokens when they start
 * with '##' or inside a doc block). Positions follow QEMU: one SourceInfo
 * per line, columns 1-based with QEMU's tab arithmetic.
 */
import { QapiParseError } from './error.js';
import { isPySpace } from './pytext.js';
import { type Pragma, SourceInfo } from './source.js';

// Token kinds are the character codes QEMU uses as token names.
export const EOF = -1;
export const HASH = 0x23; // '#': a comment returned as a token (doc comments)
export const QUOTE = 0x27; // "'": string
export const TRUE = 0x74; // 't'
export const FALSE = 0x66; // 'f'
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;
export const COLON = 0x3a;
export const COMMA = 0x2c;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const TAB = 0x09;

/** A character that needs the careful path in a string: not printable ASCII, or a backslash. */
const PLAIN_STRING_TROUBLE = /[^\x20-\x5b\x5d-\x7e]/;

export class Lexer {
  // `pos` is where the current token starts, `cursor` where the next begins.
  protected src = '';
  protected tok = EOF;
  protected val: string | boolean | null = null;
  protected pos = 0;
  protected cursor = 0;
  protected lineStart = 0;
  protected line = 1;
  private lineInfo: SourceInfo | null = null;

  constructor(
    protected readonly fname: string,
    /** The `include` directive that led here, or null for the main file. */
    protected readonly parentInfo: SourceInfo | null,
    protected readonly pragma: Pragma,
  ) {}

  /** The current line's info; one object per line, shared by everything that starts on it (as QEMU). */
  protected get info(): SourceInfo {
    if (!this.lineInfo)
      this.lineInfo = new SourceInfo(this.fname, this.line, this.parentInfo, this.pragma);
    return this.lineInfo;
  }

  /** Column of the current token: 1-based, with QEMU's tab arithmetic. */
  protected col(): number {
    let col = 1;
    for (let i = this.lineStart; i < this.pos; i++) {
      const c = this.src.charCodeAt(i);
      if (c === TAB) col = ((col + 7) % 8) + 1;
      else if (c < 0xdc00 || c > 0xdfff) col++; // a surrogate pair counts once
    }
    return col;
  }

  /** The current token (a method, so type narrowing does not survive `accept`). */
  protected at(tok: number): boolean {
    return this.tok === tok;
  }

  protected error(message: string): never {
    throw new QapiParseError(this.info, message, this.col());
  }

  /**
   * Reads the next token into tok/val/pos. Comments are skipped unless
   * `skipComment` is false or the comment starts with '##' (a doc comment).
   */
  protected accept(skipComment: boolean): void {
    const src = this.src;
    for (;;) {
      const c = src.charCodeAt(this.cursor++);
      if (c === 0x20) continue; // the common case, kept out of the switch
      this.pos = this.cursor - 1;
      this.val = null;
      this.tok = c;
      switch (c) {
        case HASH: {
          if (src.charCodeAt(this.cursor) === HASH) skipComment = false;
          this.cursor = src.indexOf('\n', this.cursor);
          if (!skipComment) {
            this.val = src.slice(this.pos, this.cursor);
            return;
          }
          continue;
        }
        case LBRACE:
        case RBRACE:
        case COLON:
        case COMMA:
        case LBRACKET:
        case RBRACKET:
          return;
        case QUOTE:
          this.val = this.lexString();
          return;
        case NEWLINE:
          if (this.cursor === src.length) {
            this.tok = EOF;
            return;
          }
          this.line++;
          this.lineInfo = null;
          this.lineStart = this.cursor;
          continue;
      }
      if (c === TRUE && src.startsWith('true', this.pos)) {
        this.val = true;
        this.cursor += 3;
        return;
      }
      if (c === FALSE && src.startsWith('false', this.pos)) {
        this.val = false;
        this.cursor += 4;
        return;
      }
      if (!isPySpace(c)) this.error(`stray '${this.strayText()}'`);
    }
  }

  /** Scans a string after its opening quote: only printable ASCII, and '\\' as the only escape. */
  private lexString(): string {
    const src = this.src;
    let start = this.cursor;
    // Fast path: up to the closing quote, nothing but printable ASCII other than '\\'.
    const end = src.indexOf("'", start);
    if (end >= 0) {
      const text = src.slice(start, end);
      if (!PLAIN_STRING_TROUBLE.test(text)) {
        this.cursor = end + 1;
        return text;
      }
    }
    let parts: string[] | null = null;
    for (;;) {
      const ch = src.charCodeAt(this.cursor++);
      if (ch === NEWLINE) this.error('missing terminating "\'"');
      if (ch === QUOTE) {
        const tail = src.slice(start, this.cursor - 1);
        if (!parts) return tail;
        parts.push(tail);
        return parts.join('');
      }
      if (ch === BACKSLASH) {
        const next = src.charCodeAt(this.cursor++);
        if (next === NEWLINE) this.error('missing terminating "\'"');
        if (next !== BACKSLASH) {
          const cp = src.codePointAt(this.cursor - 1) ?? next;
          this.error(`unknown escape \\${String.fromCodePoint(cp)}`);
        }
        parts ??= [];
        parts.push(src.slice(start, this.cursor - 1));
        start = this.cursor;
        continue;
      }
      if (ch < 32 || ch >= 127) this.error('funny character in string');
    }
  }

  /** The offending text of a stray token: up to the next structural, space or quote character. */
  private strayText(): string {
    const src = this.src;
    let end = this.pos;
    for (; end < src.length; end++) {
      const c = src.charCodeAt(end);
      if (
        c === LBRACKET ||
        c === RBRACKET ||
        c === LBRACE ||
        c === RBRACE ||
        c === COLON ||
        c === COMMA ||
        c === QUOTE ||
        c === 0x22 ||
        isPySpace(c)
      ) {
        break;
      }
    }
    // QEMU's own pattern cannot match a lone '"' (it asserts); show the character itself.
    return end === this.pos ? src.slice(this.pos, this.pos + 1) : src.slice(this.pos, end);
  }

  /**
   * `accept(false)` specialised for the inside of a doc block, where the
   * next token is almost always a comment on the next line: spaces and
   * newlines are skipped inline, anything else takes the general path.
   */
  protected acceptDocLine(): void {
    const src = this.src;
    let i = this.cursor;
    for (;;) {
      const c = src.charCodeAt(i);
      if (c === 0x20) {
        i++;
      } else if (c === NEWLINE && i + 1 < src.length) {
        i++;
        this.line++;
        this.lineInfo = null;
        this.lineStart = i;
      } else {
        break;
      }
    }
    this.cursor = i;
    if (src.charCodeAt(i) !== HASH) {
      this.accept(false);
      return;
    }
    const end = src.indexOf('\n', i + 1);
    this.tok = HASH;
    this.pos = i;
    this.cursor = end;
    this.val = src.slice(i, end);
  }
}
