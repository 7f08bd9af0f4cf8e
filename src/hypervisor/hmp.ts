/**
 * The slice of QEMU's human monitor the simulator understands: `mce` (with
 * QEMU's argument syntax, expressions and error texts) and `info status`.
 * Everything else gets QEMU's "unknown command" reply.
 *
 * HMP arguments of type integer are expressions: `+ - * / % & | ^ ~`,
 * parentheses, character constants, and numbers read like C's strtoull with
 * base 0 (0x… hex, 0… octal). `i` arguments must fit in 32 bits, `l` in 64.
 */

export interface MceCommand {
  readonly kind: 'mce';
  readonly broadcast: boolean;
  readonly cpu: number;
  readonly bank: number;
  readonly status: bigint;
  readonly mcgStatus: bigint;
  readonly addr: bigint;
  readonly misc: bigint;
}

export type HmpCommand = MceCommand | { readonly kind: 'info-status' } | { readonly kind: 'empty' };

/** A parsed command, or the text QEMU's monitor prints instead (`\n` line ends). */
export type HmpParse =
  | { readonly ok: true; readonly command: HmpCommand }
  | { readonly ok: false; readonly text: string };

export function parseHmp(line: string): HmpParse {
  const name = readName(line, 0);
  if (name.word === '') return { ok: true, command: { kind: 'empty' } };
  if (name.word === 'mce') return parseMce(line, name.end);
  if (name.word === 'info') {
    const sub = readName(line, name.end);
    if (sub.word === 'status') {
      const rest = line.slice(sub.end).trim();
      if (rest === '') return { ok: true, command: { kind: 'info-status' } };
      return {
        ok: false,
        text: `status: extraneous characters at the end of line\n${tryHelp('info status')}`,
      };
    }
    // Real QEMU lists all of its ~60 info commands here; we know one.
    if (sub.word === '') return { ok: false, text: HELP_INFO_STATUS };
    return { ok: false, text: `unknown command: 'info ${sub.word}'\n` };
  }
  if (name.word === 'help' || name.word === '?')
    return { ok: false, text: help(line.slice(name.end)) };
  return { ok: false, text: `unknown command: '${name.word}'\n` };
}

const HELP_MCE =
  'mce [-b] cpu bank status mcgstatus addr misc -- inject a MCE on the given CPU [and broadcast to other CPUs with -b option]\n';
const HELP_INFO_STATUS = 'info status  -- show the current VM status (running|paused)\n';

/** `help NAME` for the commands we have (real QEMU's full list is not reproduced). */
function help(rest: string): string {
  const topic = rest
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '')
    .join(' ');
  if (topic === 'mce') return HELP_MCE;
  if (topic === 'info status' || topic === 'info') return HELP_INFO_STATUS;
  if (topic === '') return HELP_MCE + HELP_INFO_STATUS;
  return `unknown command: '${topic}'\n`;
}

/** QMP's human-monitor-command returns HMP text with CRLF line ends. */
export function toMonitorOutput(text: string): string {
  return text.replace(/\n/g, '\r\n');
}

function readName(line: string, from: number): { word: string; end: number } {
  let p = from;
  while (p < line.length && isSpace(line[p])) p++;
  const start = p;
  while (p < line.length && line[p] !== '/' && !isSpace(line[p])) p++;
  return { word: line.slice(start, p), end: p };
}

function tryHelp(name: string): string {
  return `Try "help ${name}" for more information\n`;
}

class ExprError extends Error {}

/** `mce [-b] cpu bank status mcgstatus addr misc` — types `-b i i l l l l`. */
function parseMce(line: string, from: number): HmpParse {
  const fail = (text: string): HmpParse => ({ ok: false, text: `${text}${tryHelp('mce')}` });
  let p = from;
  while (p < line.length && isSpace(line[p])) p++;
  let broadcast = false;
  if (line[p] === '-') {
    const flag = line[p + 1] ?? '';
    if (flag !== 'b') return fail(`mce: unsupported option -${flag}\n`);
    broadcast = true;
    p += 2;
  }
  const values: bigint[] = [];
  for (const type of ['i', 'i', 'l', 'l', 'l', 'l'] as const) {
    const parser = new ExprParser(line, p);
    let value: bigint;
    try {
      value = parser.parse();
    } catch (err) {
      if (err instanceof ExprError) return fail(`${err.message}\n`);
      throw err;
    }
    p = parser.pos;
    if (type === 'i' && value >> 32n !== 0n)
      return fail(`'mce' has failed: integer is for 32-bit values\n`);
    values.push(value);
  }
  while (p < line.length && isSpace(line[p])) p++;
  if (p < line.length) return fail('mce: extraneous characters at the end of line\n');
  const [cpu, bank, status, mcgStatus, addr, misc] = values as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  return {
    ok: true,
    command: {
      kind: 'mce',
      broadcast,
      // QEMU keeps these in a C int: values of 2^31 and above turn negative.
      cpu: Number(BigInt.asIntN(32, cpu)),
      bank: Number(BigInt.asIntN(32, bank)),
      status,
      mcgStatus,
      addr,
      misc,
    },
  };
}

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const I64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Recursive descent over HMP's expression grammar; values wrap at 64 bits. */
class ExprParser {
  pos: number;
  constructor(
    private readonly text: string,
    start: number,
  ) {
    this.pos = start;
    this.skipSpace();
  }

  parse(): bigint {
    return U64(this.sum());
  }

  private get ch(): string {
    return this.text[this.pos] ?? '';
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && isSpace(this.text[this.pos])) this.pos++;
  }

  private next(): void {
    if (this.ch !== '') {
      this.pos++;
      this.skipSpace();
    }
  }

  private sum(): bigint {
    let v = this.product();
    for (;;) {
      const op = this.ch;
      if (op !== '+' && op !== '-') return v;
      this.next();
      const w = this.product();
      v = I64(op === '+' ? v + w : v - w);
    }
  }

  private product(): bigint {
    let v = this.logic();
    for (;;) {
      const op = this.ch;
      if (op !== '*' && op !== '/' && op !== '%') return v;
      this.next();
      const w = this.logic();
      if (op === '*') v = I64(v * w);
      else {
        if (w === 0n) throw new ExprError('division by zero');
        // Signed 64-bit, truncating toward zero, like C.
        v = I64(op === '/' ? v / w : v % w);
      }
    }
  }

  private logic(): bigint {
    let v = this.unary();
    for (;;) {
      const op = this.ch;
      if (op !== '&' && op !== '|' && op !== '^') return v;
      this.next();
      const w = this.unary();
      v = I64(op === '&' ? v & w : op === '|' ? v | w : v ^ w);
    }
  }

  private unary(): bigint {
    const c = this.ch;
    switch (c) {
      case '+':
        this.next();
        return this.unary();
      case '-':
        this.next();
        return I64(-this.unary());
      case '~':
        this.next();
        return I64(~this.unary());
      case '(': {
        this.next();
        const v = this.sum();
        if (this.ch !== ')') throw new ExprError("')' expected");
        this.next();
        return v;
      }
      case "'": {
        this.pos++;
        if (this.ch === '') throw new ExprError('character constant expected');
        const v = BigInt(this.ch.charCodeAt(0));
        this.pos++;
        if (this.ch !== "'") throw new ExprError("missing terminating ' character");
        this.next();
        return v;
      }
      case '$':
        // Registers need a real vCPU; the simulator has none to read.
        throw new ExprError('unknown register');
      case '':
        throw new ExprError('unexpected end of expression');
      default:
        return this.number();
    }
  }

  /** strtoull(…, 0): the longest prefix that is a number; none at all is an error. */
  private number(): bigint {
    const rest = this.text.slice(this.pos);
    const m = /^0[xX][0-9a-fA-F]+/.exec(rest) ?? /^0[0-7]*/.exec(rest) ?? /^[1-9][0-9]*/.exec(rest);
    if (!m) throw new ExprError(`invalid char '${this.ch}' in expression`);
    const digits = m[0];
    const value =
      digits.startsWith('0x') || digits.startsWith('0X') ? BigInt(digits) : octalOrDecimal(digits);
    if (value > 0xffffffffffffffffn) throw new ExprError('number too large');
    this.pos += digits.length;
    this.skipSpace();
    return I64(value);
  }
}

function octalOrDecimal(digits: string): bigint {
  return digits.length > 1 && digits.startsWith('0')
    ? BigInt(`0o${digits.slice(1)}`)
    : BigInt(digits);
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}
