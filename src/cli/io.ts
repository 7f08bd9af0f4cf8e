import { once } from 'node:events';

/** Where a command writes; tests pass their own to capture output. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * Writes the pieces in ~64 KiB chunks. On the process's stdout, waits for a
 * slow reader (a pipe) to drain rather than queue the whole output in memory.
 */
export async function writeOut(
  io: Io,
  pieces: Iterable<string> | AsyncIterable<string>,
): Promise<void> {
  const stdout = io === processIo ? process.stdout : null;
  let pending: string[] = [];
  let size = 0;
  const flush = async () => {
    io.stdout(pending.join(''));
    pending = [];
    size = 0;
    if (stdout?.writableNeedDrain) await once(stdout, 'drain');
  };
  for await (const piece of pieces) {
    pending.push(piece);
    size += piece.length;
    if (size >= 65536) await flush();
  }
  if (pending.length > 0) await flush();
}

/** What a command's action shares with the dispatcher: its io and the exit code it sets. */
export interface CommandContext {
  io: Io;
  exitCode: number;
}

/** A command-line usage error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
