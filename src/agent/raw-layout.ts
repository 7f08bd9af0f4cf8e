/**
 * Raw messages that need not be stored twice. Almost every MEMORY_FAILURE
 * arrives in one of two exact layouts: QEMU's own (its JSON writer puts a
 * space after every `:` and `,`, members in schema order) or the compact one
 * of JSON.stringify (memfail's simulator). Such a message is a function of
 * the row's canonical columns: the store keeps the layout's number instead
 * of the text, and the `raw` column rebuilds it (migration 4 has the same
 * template in SQL; test/agent/raw-layout.test.ts checks the two agree for
 * every value). A message is given a layout only when its text is exactly
 * the layout's text, so what a reader gets back is byte for byte what QEMU
 * sent; any other message is stored as it came.
 *
 * Layouts are a file format: never change one, add a new number instead
 * (with a migration teaching `raw` the new template).
 */
import { ACTIONS, type Action, type Dialect } from '../event/model.js';

/** 1: QEMU's JSON writer (`": "`, `", "`); 2: compact (JSON.stringify). */
export type RawLayout = 1 | 2;

interface Separators {
  /** Between a member's name and its value. */
  readonly colon: string;
  /** Between members. */
  readonly comma: string;
}

const SEPARATORS: Readonly<Record<RawLayout, Separators>> = {
  1: { colon: ': ', comma: ', ' },
  2: { colon: ':', comma: ',' },
};

/**
 * The seed's action for a canonical action: what event/dialect.ts's toWire
 * writes today, copied rather than imported because a layout, like
 * migration 4's SQL, never changes.
 */
const SEED_ACTION: Readonly<Record<Action, string>> = {
  ignore: 'hypervisor-ignore',
  inject: 'guest-mce-inject',
  fatal: 'hypervisor-fatal',
  reset: 'guest-mce-fatal',
};

/** A layout cut where the numbers go: head, seconds, mid, microseconds, tail. */
interface Pieces {
  readonly head: string;
  readonly mid: string;
  /** What follows the microseconds, per dialect and 5-bit content code (rows.ts). */
  readonly tails: Readonly<Record<Dialect, readonly string[]>>;
}

function pieces({ colon: c, comma: s }: Separators): Pieces {
  const tail = (dialect: Dialect, content: number): string => {
    const action = ACTIONS[(content >> 1) & 3] as Action;
    const what =
      dialect === 'qemu'
        ? `"recipient"${c}"${content & 1 ? 'guest' : 'hypervisor'}"${s}"action"${c}"${action}"`
        : `"action"${c}"${SEED_ACTION[action]}"`;
    const ar = content & 8 ? 'true' : 'false';
    const recursive = content & 16 ? 'true' : 'false';
    const flags = `{"action-required"${c}${ar}${s}"recursive"${c}${recursive}}`;
    return `}${s}"event"${c}"MEMORY_FAILURE"${s}"data"${c}{${what}${s}"flags"${c}${flags}}}`;
  };
  const codes = Array.from({ length: 32 }, (_, content) => content);
  return {
    head: `{"timestamp"${c}{"seconds"${c}`,
    mid: `${s}"microseconds"${c}`,
    tails: {
      qemu: codes.map((content) => tail('qemu', content)),
      seed: codes.map((content) => tail('seed', content)),
    },
  };
}

const PIECES: Readonly<Record<RawLayout, Pieces>> = {
  1: pieces(SEPARATORS[1]),
  2: pieces(SEPARATORS[2]),
};

/** The message a layout stands for: what the `raw` column rebuilds. */
export function layoutText(
  layout: RawLayout,
  dialect: Dialect,
  content: number,
  seconds: number,
  micros: number,
): string {
  const { head, mid, tails } = PIECES[layout];
  return `${head}${seconds}${mid}${micros}${tails[dialect][content]}`;
}

/**
 * The layout whose text `raw` is exactly, or null: then the message must be
 * stored as it is. Compares piece by piece, building no string but the two
 * numbers (startsWith at an offset is a slow path in V8; endsWith and
 * charCodeAt are not).
 */
export function rawLayout(
  raw: string,
  dialect: Dialect,
  content: number,
  seconds: number,
  micros: number,
): RawLayout | null {
  // `{"timestamp":` is 13 characters; QEMU's writer puts a space after it.
  const layout: RawLayout = raw.charCodeAt(13) === 32 ? 1 : 2;
  const { head, mid, tails } = PIECES[layout];
  const tail = tails[dialect][content];
  if (tail === undefined) return null;
  const s = String(seconds);
  const us = String(micros);
  if (raw.length !== head.length + s.length + mid.length + us.length + tail.length) return null;
  if (!raw.startsWith(head) || !raw.endsWith(tail)) return null;
  let at = head.length;
  if (!sameAt(raw, at, s)) return null;
  at += s.length;
  if (!sameAt(raw, at, mid)) return null;
  return sameAt(raw, at + mid.length, us) ? layout : null;
}

function sameAt(text: string, at: number, piece: string): boolean {
  for (let i = 0; i < piece.length; i++) {
    if (text.charCodeAt(at + i) !== piece.charCodeAt(i)) return false;
  }
  return true;
}
