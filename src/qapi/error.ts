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
    super(message);
    this.name = 'QapiError';
  }
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
