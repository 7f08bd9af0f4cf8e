/**
 * Where generated text goes, piece by piece, so that a large schema's
 * output (several times the schema's size) never has to be held whole:
 * files in memory (small schemas, tests), files written to a directory, or
 * files compared with what a directory holds (`--check`). A spool holds
 * text that must wait for something computed after it (the validators'
 * imports, known only once every check is written): in memory, or in a
 * temporary file when writing to disk.
 */
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/** Takes text piece by piece. */
export interface TextSink {
  write(text: string): void;
}

/** One file being generated; `close()` once it is complete. */
export interface OutputFile extends TextSink {
  close(): void;
}

/** Text kept aside, then written somewhere in one go. */
export interface Spool extends TextSink {
  /** Writes everything spooled into `into`, then forgets it. */
  replay(into: TextSink): void;
}

export interface Output {
  /** Starts the file at `path` (relative to the output's directory). */
  open(path: string): OutputFile;
  spool(): Spool;
  /** Releases what the output holds besides its files (temporary files). */
  dispose(): void;
}

/** A generated file in memory. */
export interface GeneratedFile {
  /** Relative to the output directory. */
  readonly path: string;
  readonly text: string;
}

/** Collects every file as a string, in the order opened. */
export class MemoryOutput implements Output {
  readonly files: GeneratedFile[] = [];

  open(path: string): OutputFile {
    const parts: string[] = [];
    return {
      write: (text) => {
        parts.push(text);
      },
      close: () => {
        this.files.push({ path, text: parts.join('') });
      },
    };
  }

  spool(): Spool {
    let parts: string[] = [];
    return {
      write: (text) => {
        parts.push(text);
      },
      replay: (into) => {
        for (const part of parts) into.write(part);
        parts = [];
      },
    };
  }

  dispose(): void {}
}

/** About how much text is gathered before it goes to the file system. */
const CHUNK = 1 << 20;

/** Gathers small pieces into chunks of about a MiB for `flush`. */
class Chunker implements TextSink {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly flush: (chunk: string) => void) {}

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= CHUNK) this.end();
  }

  /** Hands over what is gathered. */
  end(): void {
    if (this.size === 0 && this.parts.length === 0) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.flush(chunk);
  }
}

/** Writes `text` to `fd` in full (writeSync may write less than asked). */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
}

/** A file written through a Chunker. */
function fileWriter(path: string): OutputFile {
  const fd = openSync(path, 'w');
  const chunks = new Chunker((chunk) => writeAll(fd, chunk));
  return {
    write: (text) => chunks.write(text),
    close: () => {
      try {
        chunks.end();
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Spools into temporary files, in a directory made on first use. */
class TempSpools {
  private dir: string | null = null;
  private count = 0;

  make(): Spool {
    this.dir ??= mkdtempSync(join(tmpdir(), 'memfail-gen-'));
    const path = join(this.dir, `spool-${this.count++}`);
    const file = fileWriter(path);
    return {
      write: (text) => file.write(text),
      replay: (into) => {
        file.close();
        const fd = openSync(path, 'r');
        try {
          const buf = Buffer.allocUnsafe(CHUNK);
          // A chunk may end inside a character: the decoder keeps the rest for the next.
          const decoder = new StringDecoder('utf8');
          for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) {
            into.write(decoder.write(buf.subarray(0, n)));
          }
          const tail = decoder.end();
          if (tail) into.write(tail);
        } finally {
          closeSync(fd);
          rmSync(path);
        }
      },
    };
  }

  dispose(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/**
 * Writes files under `dir` (made if missing), each first under a temporary
 * name beside it: `commit()` puts them all in place, so a run that fails
 * half-way leaves the directory as it was.
 */
export class DirectoryOutput implements Output {
  private readonly done: string[] = [];
  private readonly pending = new Set<string>();
  private readonly spools = new TempSpools();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  open(path: string): OutputFile {
    const full = join(this.dir, path);
    const temp = `${full}.${process.pid}.tmp`;
    this.pending.add(temp);
    const file = fileWriter(temp);
    return {
      write: (text) => file.write(text),
      close: () => {
        file.close();
        this.done.push(full);
      },
    };
  }

  spool(): Spool {
    return this.spools.make();
  }

  /** Renames every completed file into place; returns their paths, in the order written. */
  commit(): string[] {
    for (const full of this.done) {
      const temp = `${full}.${process.pid}.tmp`;
      renameSync(temp, full);
      this.pending.delete(temp);
    }
    return [...this.done];
  }

  /** Removes temporary files: spools, and files not committed. */
  dispose(): void {
    this.spools.dispose();
    for (const temp of this.pending) rmSync(temp, { force: true });
    this.pending.clear();
  }
}

/**
 * Compares each file with the one under `dir`, chunk by chunk, writing
 * nothing; `stale` lists the paths that differ or are missing.
 */
export class CompareOutput implements Output {
  readonly stale: string[] = [];
  private readonly spools = new TempSpools();

  constructor(private readonly dir: string) {}

  open(path: string): OutputFile {
    const full = join(this.dir, path);
    let fd: number | null = null;
    try {
      fd = openSync(full, 'r');
    } catch {
      // Missing or unreadable: stale whatever is generated.
    }
    let same = fd !== null;
    const existing = Buffer.allocUnsafe(CHUNK * 4);
    const compare = (chunk: string): void => {
      if (!same || fd === null) return;
      const bytes = Buffer.from(chunk, 'utf8');
      for (let off = 0; same && off < bytes.length; ) {
        const want = Math.min(existing.length, bytes.length - off);
        const n = readSync(fd, existing, 0, want, null);
        same = n === want && existing.subarray(0, n).equals(bytes.subarray(off, off + n));
        off += n;
      }
    };
    const chunks = new Chunker(compare);
    return {
      write: (text) => chunks.write(text),
      close: () => {
        try {
          chunks.end();
          // Nothing may follow in the existing file.
          if (same && fd !== null) same = readSync(fd, existing, 0, 1, null) === 0;
        } finally {
          if (fd !== null) closeSync(fd);
        }
        if (!same) this.stale.push(full);
      },
    };
  }

  spool(): Spool {
    return this.spools.make();
  }

  dispose(): void {
    this.spools.dispose();
  }
}

/**
 * `JSON.stringify(items, null, 2)` of an array, written item by item: each
 * item's own text indented one level (a JSON text holds no raw newline but
 * its own line breaks).
 */
export function writeJsonArray(items: Iterable<unknown>, into: TextSink): void {
  let first = true;
  for (const item of items) {
    into.write(first ? '[\n  ' : ',\n  ');
    first = false;
    into.write(JSON.stringify(item, null, 2).replace(/\n/g, '\n  '));
  }
  into.write(first ? '[]' : '\n]');
}

/** A sink that hands `write` chunks of about a MiB; `end()` hands over the rest. */
export function chunked(write: (chunk: string) => void): TextSink & { end(): void } {
  return new Chunker(write);
}
