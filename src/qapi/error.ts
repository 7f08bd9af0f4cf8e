/**
 * Errors of the schema front end. Each carries the position it refers to;
 * `formatError` renders QEMU 7.2's exact text so tests can pin it.
 */
import type { SourceInfo } from './source.js';

export type QapiErrorKind = 'io' | 'parse' | 'semantic';

export class QapiError extends Error {
  readonly kind: QapiErrorKind = 'io';
  constructor(
    readonly info: SourceInfo | null,
    message: string,
    /** 1-based column, only for errors found while reading the text. */
    readonly col?: number,
  ) {
    super(boundMessage(message));
    this.name = 'QapiError';
  }
}

/** The longest stretch of a message without a quote or line break kept whole (a name, a path, a token). */
export const MAX_QUOTE = 1000;
/** The longest message kept whole. */
export const MAX_MESSAGE = 8000;

const LONG_RUN = new RegExp(`[^'\n]{${MAX_QUOTE + 1},}`, 'g');

/**
 * A message of bounded size. Messages quote the input (a stray token, a
 * key, a name, a path), and a schema file may be one 32 MiB line: a long
 * quote keeps its start and end around the count of what is left out, and
 * a message still too long (a list of many names) its start and a count.
 * QEMU's messages, and every real one, are far below both limits.
 */
export function boundMessage(message: string): string {
  if (message.length <= MAX_QUOTE) return message;
  let bounded = message.replace(LONG_RUN, (run) => {
    const head = cut(run, 400);
    const tail = cut(run, run.length - 100);
    return `${run.slice(0, head)}[... ${tail - head} characters ...]${run.slice(tail)}`;
  });
  if (bounded.length > MAX_MESSAGE) {
    const end = cut(bounded, MAX_MESSAGE - 100);
    bounded = `${bounded.slice(0, end)}[... ${bounded.length - end} more characters]`;
  }
  return bounded;
}

/** `at`, moved back off the second half of a surrogate pair so that no character is split. */
function cut(text: string, at: number): number {
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff ? at - 1 : at;
}

/** The text does not follow the schema syntax (position includes a column). */
export class QapiParseError extends QapiError {
  override readonly kind = 'parse';
  constructor(info: SourceInfo, message: string, col: number) {
    super(info, message, col);
    this.name = 'QapiParseError';
  }
}

/** The text parses, but what it says is not allowed. */
export class QapiSemanticError extends QapiError {
  override readonly kind = 'semantic';
  constructor(info: SourceInfo | null, message: string) {
    super(info, message);
    this.name = 'QapiSemanticError';
  }
}

/** QEMU's rendering: context lines, then `FILE:LINE[:COL]: message`. No trailing newline. */
export function formatError(e: QapiError): string {
  if (!e.info) return e.message;
  const col = e.col === undefined ? '' : `:${e.col}`;
  return `${e.info.prefix()}${col}: ${e.message}`;
}
