/**
 * JSON with positions: a small recursive-descent reader that remembers the
 * line and column of every value, so that a policy or inventory file's
 * mistakes are reported where they are (`FILE:LINE:COL: message`), not as
 * "position 812". Strict JSON (RFC 8259): no comments, no trailing commas.
 */

export interface Position {
  readonly line: number;
  readonly col: number;
}

export type JsonNode =
  | { readonly kind: 'object'; readonly pos: Position; readonly members: readonly JsonMember[] }
  | { readonly kind: 'array'; readonly pos: Position; readonly items: readonly JsonNode[] }
  | { readonly kind: 'string'; readonly pos: Position; readonly value: string }
  | { readonly kind: 'number'; readonly pos: Position; readonly value: number }
  | { readonly kind: 'boolean'; readonly pos: Position; readonly value: boolean }
  | { readonly kind: 'null'; readonly pos: Position };

export interface JsonMember {
  readonly key: string;
  readonly keyPos: Position;
  readonly value: JsonNode;
}

/** A mistake in a file, with where it is; `file` is filled in by whoever knows it. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    readonly file: string,
    readonly pos: Position,
    readonly detail: string,
  ) {
    super(`${file}:${pos.line}:${pos.col}: ${detail}`);
  }
}

export function parseJson(text: string, file: string): JsonNode {
  return new Reader(text, file).document();
}

class Reader {
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  document(): JsonNode {
    this.space();
    const node = this.value();
    this.space();
    if (this.i < this.text.length) this.fail('unexpected text after the JSON value');
    return node;
  }

  private pos(): Position {
    return { line: this.line, col: this.i - this.lineStart + 1 };
  }

  private fail(detail: string, pos: Position = this.pos()): never {
    throw new SourceError(this.file, pos, detail);
  }

  private space(): void {
    for (;;) {
      const c = this.text[this.i];
      if (c === '\n') {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === ' ' || c === '\t' || c === '\r') this.i++;
      else return;
    }
  }

  private value(): JsonNode {
    const pos = this.pos();
    const c = this.text[this.i];
    if (c === '{') return this.object(pos);
    if (c === '[') return this.array(pos);
    if (c === '"') return { kind: 'string', pos, value: this.string() };
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number(pos);
    for (const [word, node] of [
      ['true', { kind: 'boolean', pos, value: true }],
      ['false', { kind: 'boolean', pos, value: false }],
      ['null', { kind: 'null', pos }],
    ] as const) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return node;
      }
    }
    if (c === undefined) this.fail('unexpected end of file, expected a value');
    if (c === '/') this.fail('comments are not allowed in JSON');
    this.fail(`unexpected ${JSON.stringify(c)}, expected a value`);
  }

  private object(pos: Position): JsonNode {
    this.i++;
    const members: JsonMember[] = [];
    const seen = new Set<string>();
    this.space();
    if (this.text[this.i] === '}') {
      this.i++;
      return { kind: 'object', pos, members };
    }
    for (;;) {
      this.space();
      const keyPos = this.pos();
      if (this.text[this.i] !== '"') {
        const c = this.text[this.i];
        if (c === '}') this.fail('trailing comma before }');
        if (c === '/') this.fail('comments are not allowed in JSON');
        this.fail('expected a "quoted" member name');
      }
      const key = this.string();
      if (seen.has(key)) this.fail(`duplicate member "${key}"`, keyPos);
      seen.add(key);
      this.space();
      if (this.text[this.i] !== ':') this.fail(`expected ':' after "${key}"`);
      this.i++;
      this.space();
      members.push({ key, keyPos, value: this.value() });
      this.space();
      const c = this.text[this.i];
      this.i++;
      if (c === '}') return { kind: 'object', pos, members };
      if (c !== ',') {
        this.i--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  private array(pos: Position): JsonNode {
    this.i++;
    const items: JsonNode[] = [];
    this.space();
    if (this.text[this.i] === ']') {
      this.i++;
      return { kind: 'array', pos, items };
    }
    for (;;) {
      this.space();
      if (this.text[this.i] === ']') this.fail('trailing comma before ]');
      items.push(this.value());
      this.space();
      const c = this.text[this.i];
      this.i++;
      if (c === ']') return { kind: 'array', pos, items };
      if (c !== ',') {
        this.i--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  private string(): string {
    const start = this.i;
    const startPos = this.pos();
    this.i++;
    for (;;) {
      const c = this.text[this.i];
      if (c === undefined || c === '\n') this.fail('unterminated string', startPos);
      if (c === '\\') this.i += 2;
      else if (c === '"') break;
      else this.i++;
    }
    this.i++;
    try {
      return JSON.parse(this.text.slice(start, this.i)) as string;
    } catch {
      this.fail('invalid escape in string', startPos);
    }
  }

  private number(pos: Position): JsonNode {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.i));
    if (!m) this.fail('invalid number');
    this.i += m[0].length;
    return { kind: 'number', pos, value: Number(m[0]) };
  }
}

/** Reads an object's members by name, and names any it did not expect. */
export class ObjectReader {
  private readonly used = new Set<string>();
  constructor(
    readonly node: JsonNode & { kind: 'object' },
    readonly file: string,
    readonly what: string,
  ) {}

  static of(node: JsonNode, file: string, what: string): ObjectReader {
    if (node.kind !== 'object') {
      throw new SourceError(file, node.pos, `${what} must be an object, not ${describe(node)}`);
    }
    return new ObjectReader(node, file, what);
  }

  get(key: string): JsonNode | undefined {
    this.used.add(key);
    return this.node.members.find((m) => m.key === key)?.value;
  }

  require(key: string): JsonNode {
    const v = this.get(key);
    if (v === undefined)
      throw new SourceError(this.file, this.node.pos, `${this.what} needs "${key}"`);
    return v;
  }

  /** Call last: an unknown member is an error (most often a misspelling). */
  done(known: readonly string[]): void {
    for (const m of this.node.members) {
      if (!this.used.has(m.key)) {
        throw new SourceError(
          this.file,
          m.keyPos,
          `unknown member "${m.key}" in ${this.what} (expected one of: ${known.join(', ')})`,
        );
      }
    }
  }
}

export function describe(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return `the string ${JSON.stringify(node.value)}`;
    case 'number':
      return `the number ${node.value}`;
    case 'boolean':
      return String(node.value);
    case 'null':
      return 'null';
  }
}

export function expectString(node: JsonNode, file: string, what: string): string {
  if (node.kind !== 'string')
    throw new SourceError(file, node.pos, `${what} must be a string, not ${describe(node)}`);
  return node.value;
}

export function expectInteger(node: JsonNode, file: string, what: string, min: number): number {
  if (node.kind !== 'number' || !Number.isInteger(node.value) || node.value < min) {
    throw new SourceError(
      file,
      node.pos,
      `${what} must be an integer ≥ ${min}, not ${describe(node)}`,
    );
  }
  return node.value;
}
