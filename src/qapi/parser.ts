/**
 * Schema text → expressions and documentation blocks, as QEMU 7.2's
 * parser.py: the same tokens, grammar, directives (`include`, `pragma`) and
 * the same error messages at the same line and column. Structural checks of
 * the expressions themselves are expr.ts's job.
 */
import { resolve as resolvePath } from 'node:path';
import { dictKeys, isReorderedKey, rememberKeyOrder } from './dict.js';
import { QapiDoc } from './doc.js';
import { QapiError, QapiSemanticError } from './error.js';
import { dirname, joinPath, normalizeText, readFailure, readSchemaFile } from './files.js';
import {
  COLON,
  COMMA,
  EOF,
  FALSE,
  HASH,
  LBRACE,
  LBRACKET,
  Lexer,
  QUOTE,
  RBRACE,
  RBRACKET,
  TRUE,
} from './lexer.js';
import { Pragma, type SourceInfo } from './source.js';

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

class SchemaFileParser extends Lexer {
  private depth = 0;
  readonly exprs: QapiExpression[] = [];
  readonly docs: QapiDoc[] = [];
  /** Doc syntax errors are reported at the comment line being read: one closure for all blocks. */
  private readonly docFail = (message: string): never => this.error(message);

  constructor(
    fname: string,
    parentInfo: SourceInfo | null,
    private readonly session: ParseSession,
  ) {
    super(fname, parentInfo, session.pragma);
    session.included.add(absolutePath(session, fname));
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
        curDoc = this.getDoc(info);
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

  /**
   * Reads one `## ... ##` comment into `docs`; a '= Heading' line splits it
   * into several free-form blocks. Returns the last.
   */
  private getDoc(info: SourceInfo): QapiDoc {
    if (this.val !== '##') this.error("junk after '##' at start of documentation comment");
    const fail = this.docFail;
    const docs = this.docs;
    let cur = new QapiDoc(info, fail, this.src);
    this.acceptDocLine();
    while (this.tok === HASH) {
      const text = this.val as string;
      if (text.startsWith('##')) {
        if (text !== '##') this.error("junk after '##' at end of documentation comment");
        cur.endComment();
        docs.push(cur);
        this.accept(true);
        return cur;
      }
      if (text.startsWith('# =')) {
        if (cur.symbol) this.error("unexpected '=' markup in definition documentation");
        if (cur.body.hasText()) {
          cur.endComment();
          docs.push(cur);
          cur = new QapiDoc(info, fail, this.src);
        }
      }
      cur.append(text, this.pos);
      this.acceptDocLine();
    }
    return this.error("documentation comment must end with '##'");
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
