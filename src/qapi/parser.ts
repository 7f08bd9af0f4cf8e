/**
 * Schema text → expressions and documentation blocks, as QEMU 7.2's
 * parser.py: the same tokens, grammar, directives (`include`, `pragma`) and
 * the same error messages at the same line and column. Structural checks of
 * the expressions themselves are expr.ts's job.
 */
import { resolve as resolvePath } from 'node:path';
import { dictKeys, isReorderedKey, rememberKeyOrder } from './dict.js';
import { QapiDoc } from './doc.js';
import { QapiError, QapiParseError, QapiSemanticError } from './error.js';
import { dirname, joinPath, normalizeText, readFailure, readSchemaFile } from './files.js';
import { withBaselineJit } from './jit.js';
import { isPySpace } from './pytext.js';
import { Pragma, SourceInfo } from './source.js';

/** A parsed value: what the schema's JSON-like literals can express. */
export type QapiValue = string | boolean | QapiValue[] | { [key: string]: QapiValue };

export interface QapiExpression {
  readonly expr: Record<string, unknown>;
  readonly info: SourceInfo;
  readonly doc: QapiDoc | null;
}

export interface ParsedSchema {
  readonly exprs: QapiExpression[];
  readonly docs: QapiDoc[];
  readonly pragma: Pragma;
}

export interface ParseOptions {
  /** Reads a schema file's text (default: the file system, strict UTF-8). Throw to signal an unreadable file. */
  readonly readFile?: (path: string) => string;
}

/** Deeper nesting than this is refused rather than risking the stack (QEMU's Python would crash). */
export const MAX_NESTING = 1000;

// Token kinds are the character codes QEMU uses as token names.
const EOF = -1;
const HASH = 0x23; // '#': a comment returned as a token (doc comments)
const QUOTE = 0x27; // "'": string
const TRUE = 0x74; // 't'
const FALSE = 0x66; // 'f'
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const TAB = 0x09;

/** A character that needs the careful path in a string: not printable ASCII, or a backslash. */
const PLAIN_STRING_TROUBLE = /[^\x20-\x5b\x5d-\x7e]/;

/** What all files of one schema share while it is parsed. */
interface ParseSession {
  /** Absolute names of the files parsed so far (each is parsed once). */
  readonly included: Set<string>;
  readonly pragma: Pragma;
  readonly readFile: (path: string) => string;
  /** `os.path.abspath` results, remembered: include checks ask for the same few files often. */
  readonly absolute: Map<string, string>;
}

function absolutePath(session: ParseSession, p: string): string {
  let abs = session.absolute.get(p);
  if (abs === undefined) {
    abs = resolvePath(p);
    session.absolute.set(p, abs);
  }
  return abs;
}

/** A dict value set without letting keys like `__proto__` reach the prototype. */
function setKey(obj: Record<string, QapiValue>, key: string, value: QapiValue): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    obj[key] = value;
  }
}

function isDict(v: QapiValue): v is { [key: string]: QapiValue } {
  return typeof v === 'object' && !Array.isArray(v);
}

class SchemaFileParser {
  // Lexer state: `pos` is where the current token starts, `cursor` where the next begins.
  private src = '';
  private tok = EOF;
  private val: string | boolean | null = null;
  private pos = 0;
  private cursor = 0;
  private lineStart = 0;
  private line = 1;
  private lineInfo: SourceInfo | null = null;
  private depth = 0;
  readonly exprs: QapiExpression[] = [];
  readonly docs: QapiDoc[] = [];

  constructor(
    private readonly fname: string,
    private readonly parentInfo: SourceInfo | null,
    private readonly session: ParseSession,
  ) {
    session.included.add(absolutePath(session, fname));
  }

  /** The current line's info; one object per line, shared by everything that starts on it (as QEMU). */
  private get info(): SourceInfo {
    if (!this.lineInfo)
      this.lineInfo = new SourceInfo(this.fname, this.line, this.parentInfo, this.session.pragma);
    return this.lineInfo;
  }

  /** Column of the current token: 1-based, with QEMU's tab arithmetic. */
  private col(): number {
    let col = 1;
    for (let i = this.lineStart; i < this.pos; i++) {
      const c = this.src.charCodeAt(i);
      if (c === TAB) col = ((col + 7) % 8) + 1;
      else if (c < 0xdc00 || c > 0xdfff) col++; // a surrogate pair counts once
    }
    return col;
  }

  /** The current token (a method, so type narrowing does not survive `accept`). */
  private at(tok: number): boolean {
    return this.tok === tok;
  }

  private error(message: string): never {
    throw new QapiParseError(this.info, message, this.col());
  }

  /** Reads the file; throws the raw read failure for the caller to word. */
  load(): void {
    this.src = normalizeText(this.session.readFile(this.fname));
  }

  parse(): void {
    let curDoc: QapiDoc | null = null;
    this.accept(true);
    while (this.tok !== EOF) {
      const info = this.info;
      if (this.tok === HASH) {
        rejectExprDoc(curDoc);
        const docs = this.getDoc(info);
        for (const doc of docs) this.docs.push(doc);
        curDoc = docs[docs.length - 1] ?? null;
        continue;
      }
      const expr = this.getExpr();
      if (!isDict(expr)) {
        throw new QapiSemanticError(info, 'top-level expression must be an object');
      }
      if (Object.hasOwn(expr, 'include')) {
        rejectExprDoc(curDoc);
        this.include(expr, info);
      } else if (Object.hasOwn(expr, 'pragma')) {
        rejectExprDoc(curDoc);
        if (Object.keys(expr).length !== 1)
          throw new QapiSemanticError(info, "invalid 'pragma' directive");
        const pragma = expr.pragma;
        if (pragma === undefined || !isDict(pragma)) {
          throw new QapiSemanticError(info, "value of 'pragma' must be an object");
        }
        for (const name of dictKeys(pragma)) {
          applyPragma(this.session.pragma, name, pragma[name] as QapiValue, info);
        }
      } else {
        if (curDoc && !curDoc.symbol) {
          throw new QapiSemanticError(curDoc.info, 'definition documentation required');
        }
        this.exprs.push({ expr, info, doc: curDoc });
      }
      curDoc = null;
    }
    rejectExprDoc(curDoc);
  }

  private include(expr: { [key: string]: QapiValue }, info: SourceInfo): void {
    if (Object.keys(expr).length !== 1)
      throw new QapiSemanticError(info, "invalid 'include' directive");
    const include = expr.include;
    if (typeof include !== 'string') {
      throw new QapiSemanticError(info, "value of 'include' must be a string");
    }
    const inclFname = joinPath(dirname(this.fname), include);
    this.exprs.push({ expr: { include: inclFname }, info, doc: null });
    const inclAbs = absolutePath(this.session, inclFname);
    for (let inf: SourceInfo | null = info; inf; inf = inf.parent) {
      if (inclAbs === absolutePath(this.session, inf.fname)) {
        throw new QapiSemanticError(info, `inclusion loop for ${include}`);
      }
    }
    if (this.session.included.has(inclAbs)) return;
    const sub = new SchemaFileParser(inclFname, info, this.session);
    try {
      sub.load();
    } catch (err) {
      throw new QapiSemanticError(
        info,
        `can't read include file '${inclFname}': ${readFailure(err)}`,
      );
    }
    sub.parse();
    // Element by element: spreading a huge array into push() overflows the stack.
    for (const e of sub.exprs) this.exprs.push(e);
    for (const doc of sub.docs) this.docs.push(doc);
  }

  /**
   * Reads the next token into tok/val/pos. Comments are skipped unless
   * `skipComment` is false or the comment starts with '##' (a doc comment).
   */
  private accept(skipComment: boolean): void {
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

  private getMembers(): { [key: string]: QapiValue } {
    const expr: { [key: string]: QapiValue } = {};
    // Source order, kept only once a key JavaScript would reorder shows up.
    let order: string[] | null = null;
    if (this.at(RBRACE)) {
      this.accept(true);
      return expr;
    }
    if (this.tok !== QUOTE) this.error("expected string or '}'");
    for (;;) {
      const key = this.val as string;
      this.accept(true);
      if (!this.at(COLON)) this.error("expected ':'");
      this.accept(true);
      if (Object.hasOwn(expr, key)) this.error(`duplicate key '${key}'`);
      if (order === null && isReorderedKey(key)) order = Object.keys(expr);
      setKey(expr, key, this.getExpr());
      order?.push(key);
      if (this.at(RBRACE)) {
        this.accept(true);
        if (order) rememberKeyOrder(expr, order);
        return expr;
      }
      if (!this.at(COMMA)) this.error("expected ',' or '}'");
      this.accept(true);
      if (this.tok !== QUOTE) this.error('expected string');
    }
  }

  private getValues(): QapiValue[] {
    const expr: QapiValue[] = [];
    if (this.tok === RBRACKET) {
      this.accept(true);
      return expr;
    }
    const t = this.tok;
    if (t !== LBRACE && t !== LBRACKET && t !== QUOTE && t !== TRUE && t !== FALSE) {
      this.error("expected '{', '[', ']', string, or boolean");
    }
    for (;;) {
      expr.push(this.getExpr());
      if (this.tok === RBRACKET) {
        this.accept(true);
        return expr;
      }
      if (this.tok !== COMMA) this.error("expected ',' or ']'");
      this.accept(true);
    }
  }

  private getExpr(): QapiValue {
    const t = this.tok;
    if (t === LBRACE || t === LBRACKET) {
      if (++this.depth > MAX_NESTING)
        this.error(`nesting too deep (more than ${MAX_NESTING} levels)`);
      this.accept(true);
      const value = t === LBRACE ? this.getMembers() : this.getValues();
      this.depth--;
      return value;
    }
    if (t === QUOTE || t === TRUE || t === FALSE) {
      const value = this.val as string | boolean;
      this.accept(true);
      return value;
    }
    return this.error("expected '{', '[', string, or boolean");
  }

  /** Reads one `## ... ##` comment; a '= Heading' line splits it into several free-form blocks. */
  private getDoc(info: SourceInfo): QapiDoc[] {
    if (this.val !== '##') this.error("junk after '##' at start of documentation comment");
    const fail = (message: string): never => this.error(message);
    const docs: QapiDoc[] = [];
    let cur = new QapiDoc(info, fail);
    this.acceptDocLine();
    while (this.tok === HASH) {
      const text = this.val as string;
      if (text.startsWith('##')) {
        if (text !== '##') this.error("junk after '##' at end of documentation comment");
        cur.endComment();
        docs.push(cur);
        this.accept(true);
        return docs;
      }
      if (text.startsWith('# =')) {
        if (cur.symbol) this.error("unexpected '=' markup in definition documentation");
        if (cur.body.hasText()) {
          cur.endComment();
          docs.push(cur);
          cur = new QapiDoc(info, fail);
        }
      }
      cur.append(text);
      this.acceptDocLine();
    }
    return this.error("documentation comment must end with '##'");
  }

  /**
   * `accept(false)` specialised for the inside of a doc block, where the
   * next token is almost always a comment on the next line: spaces and
   * newlines are skipped inline, anything else takes the general path.
   */
  private acceptDocLine(): void {
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

function rejectExprDoc(doc: QapiDoc | null): void {
  if (doc?.symbol) {
    throw new QapiSemanticError(
      doc.info,
      `documentation for '${doc.symbol}' is not followed by the definition`,
    );
  }
}

function stringList(name: string, value: QapiValue, info: SourceInfo): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new QapiSemanticError(info, `pragma ${name} must be a list of strings`);
  }
  return value as string[];
}

function applyPragma(pragma: Pragma, name: string, value: QapiValue, info: SourceInfo): void {
  switch (name) {
    case 'doc-required':
      if (typeof value !== 'boolean')
        throw new QapiSemanticError(info, "pragma 'doc-required' must be boolean");
      pragma.docRequired = value;
      return;
    case 'command-name-exceptions':
      pragma.commandNameExceptions = stringList(name, value, info);
      return;
    case 'command-returns-exceptions':
      pragma.commandReturnsExceptions = stringList(name, value, info);
      return;
    case 'member-name-exceptions':
      pragma.memberNameExceptions = stringList(name, value, info);
      return;
    default:
      throw new QapiSemanticError(info, `unknown pragma '${name}'`);
  }
}

/**
 * Parses a schema file and everything it includes. Throws `QapiError` for
 * any problem, including an unreadable file.
 */
export function parseSchema(fname: string, options: ParseOptions = {}): ParsedSchema {
  return withBaselineJit(() => parseSchemaFile(fname, options));
}

function parseSchemaFile(fname: string, options: ParseOptions): ParsedSchema {
  const session: ParseSession = {
    included: new Set(),
    pragma: new Pragma(),
    readFile: options.readFile ?? readSchemaFile,
    absolute: new Map(),
  };
  const parser = new SchemaFileParser(fname, null, session);
  try {
    parser.load();
  } catch (err) {
    throw new QapiError(null, `can't read schema file '${fname}': ${readFailure(err)}`);
  }
  parser.parse();
  return { exprs: parser.exprs, docs: parser.docs, pragma: session.pragma };
}
