/**
 * A definition's `if` condition, as QEMU keeps it: the normalized expression
 * from the schema (a config symbol name, or `{all|any: [...]}` / `{not: ...}`),
 * or nothing. Absence and presence matter to the checks (a union's
 * discriminator must not be conditional); the C and doc renderings are those
 * of QEMU's generators.
 */

export type IfExpr =
  | string
  | { readonly all: readonly IfExpr[] }
  | { readonly any: readonly IfExpr[] }
  | { readonly not: IfExpr };

export class IfCond {
  readonly expr: IfExpr | null;

  constructor(expr?: unknown) {
    this.expr = expr === undefined || expr === null ? null : toIfExpr(expr);
  }

  /** The condition of `expr` (a normalized `if` value, or undefined); absent ones share one instance. */
  static of(expr: unknown): IfCond {
    return expr === undefined || expr === null ? NO_CONDITION : new IfCond(expr);
  }

  isPresent(): boolean {
    return this.expr !== null;
  }

  /** The C preprocessor condition, e.g. `defined(A) && !defined(B)`; '' when absent. */
  cgen(): string {
    return render(
      this.expr,
      (s) => `defined(${s})`,
      (s) => `!${s}`,
      ' && ',
      ' || ',
    );
  }

  /** The documentation rendering, e.g. `A and not B`; '' when absent. */
  docgen(): string {
    return render(
      this.expr,
      (s) => s,
      (s) => `not ${s}`,
      ' and ',
      ' or ',
    );
  }
}

const NO_CONDITION = new IfCond();

/** Narrow a normalized (already syntax-checked) `if` value. */
function toIfExpr(value: unknown): IfExpr {
  if (typeof value === 'string') return value;
  const entries = value !== null && typeof value === 'object' ? Object.entries(value) : [];
  const [first] = entries;
  if (entries.length === 1 && first) {
    const [key, operand] = first;
    if (key === 'not') return { not: toIfExpr(operand) };
    if ((key === 'all' || key === 'any') && Array.isArray(operand)) {
      const operands = operand.map(toIfExpr);
      return key === 'all' ? { all: operands } : { any: operands };
    }
  }
  throw new TypeError(`malformed 'if' condition: ${JSON.stringify(value)}`);
}

function render(
  expr: IfExpr | null,
  symbol: (name: string) => string,
  negate: (operand: string) => string,
  allOp: string,
  anyOp: string,
): string {
  const gen = (e: IfExpr, parens: boolean): string => {
    if (typeof e === 'string') return symbol(e);
    if ('not' in e) return negate(gen(e.not, true));
    const text =
      'all' in e
        ? e.all.map((o) => gen(o, true)).join(allOp)
        : e.any.map((o) => gen(o, true)).join(anyOp);
    return parens ? `(${text})` : text;
  };
  return expr === null ? '' : gen(expr, false);
}
