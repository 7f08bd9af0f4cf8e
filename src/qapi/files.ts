/**
 * Reading schema files the way QEMU's Python does: strict UTF-8 (BOM kept),
 * universal newlines, `os.path` joins, and the C library's wording for
 * read failures.
 */
import { readFileSync } from 'node:fs';

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENOMEM: 'Cannot allocate memory',
};

/** The C library's wording of a read failure, as Python's `strerror` gives it. */
export function readFailure(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code && ERRNO_TEXT[code]) return ERRNO_TEXT[code];
    return err.message;
  }
  return String(err);
}

/** Strict UTF-8 with the BOM kept, as Python's `open(..., encoding='utf-8')` reads. */
export const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads a schema file as QEMU does: strict UTF-8, BOM kept. */
export function readSchemaFile(path: string): string {
  const bytes = readFileSync(path);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new Error('invalid UTF-8');
  }
}

/** Python's text mode: '\r\n' and lone '\r' read as '\n'; the text always ends in '\n'. */
export function normalizeText(text: string): string {
  if (text.indexOf('\r') >= 0) text = text.replace(/\r\n?/g, '\n');
  if (text === '' || text.charCodeAt(text.length - 1) !== 0x0a) text += '\n';
  return text;
}

/** `os.path.dirname` */
export function dirname(p: string): string {
  let head = p.slice(0, p.lastIndexOf('/') + 1);
  if (head && !/^\/+$/.test(head)) head = head.replace(/\/+$/, '');
  return head;
}

/** `os.path.join` of two parts (no normalization, unlike node:path). */
export function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || dir === '') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
