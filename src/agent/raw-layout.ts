/**
 * Raw messages that need not be stored twice. Almost every MEMORY_FAILURE
 * arrives in one of a few exact layouts: QEMU 7.2's own text, or the compact
 * one of JSON.stringify (memfail's simulator). Such a message is a function
 * of the row's canonical columns: the store keeps the layout's number instead
 * of the text, and the `raw` column rebuilds it (the latest migration has the
 * same templates in SQL; test/agent/raw-layout.test.ts checks the two agree
 * for every value). A message is given a layout only when its text is
 * exactly the layout's text, so what a reader gets back is byte for byte
 * what QEMU sent; any other message is stored as it came.
 *
 * Layouts are a file format: never change one, add a new number instead
 * (with a migration teaching `raw` the new template).
 */
import { ACTIONS, type Action, type Dialect } from '../event/model.js';

/**
 * 1: `": "` and `", "` between members in the schema's order (migration 4
 *    took this for QEMU's; QEMU's dictionaries print in hash order instead);
 * 2: compact (JSON.stringify), schema order;
 * 3: QEMU 7.2's own text: as 1, with data's members as QEMU prints them,
 *    flags (recursive, action-required), recipient, action. QEMU dialect only.
 */
export type RawLayout = 1 | 2 | 3;

/**
 * The seed's action for a canonical action: what event/dialect.ts's toWire
 * writes today, copied rather than imported because a layout, like the
 * migration's SQL, never changes.
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
  /** What follows the microseconds, per dialect and 5-bit content code (store-rows.ts); none: no template. */
  readonly tails: Readonly<Record<Dialect, readonly string[]>>;
}

/** The canonical fields of a 5-bit content code, as JSON literals. */
function fields(content: number) {
  const action = ACTIONS[(content >> 1) & 3] as Action;
  return {
    recipient: content & 1 ? 'guest' : 'hypervisor',
    action,
    seedAction: SEED_ACTION[action],
    ar: content & 8 ? 'true' : 'false',
    recursive: content & 16 ? 'true' : 'false',
  };
}

const CODES = Array.from({ length: 32 }, (_, content) => content);

/** Layouts 1 and 2: schema order, the given separators; both dialects. */
function schemaOrder(c: string, s: string): Pieces {
  const tail = (dialect: Dialect, content: number): string => {
    const f = fields(content);
    const what =
      dialect === 'qemu'
        ? `"recipient"${c}"${f.recipient}"${s}"action"${c}"${f.action}"`
        : `"action"${c}"${f.seedAction}"`;
    const flags = `{"action-required"${c}${f.ar}${s}"recursive"${c}${f.recursive}}`;
    return `}${s}"event"${c}"MEMORY_FAILURE"${s}"data"${c}{${what}${s}"flags"${c}${flags}}}`;
  };
  return {
    head: `{"timestamp"${c}{"seconds"${c}`,
    mid: `${s}"microseconds"${c}`,
    tails: {
      qemu: CODES.map((content) => tail('qemu', content)),
      seed: CODES.map((content) => tail('seed', content)),
    },
  };
}

/** Layout 3: QEMU 7.2's writer and member order. */
function qemu72(): Pieces {
  const tail = (content: number): string => {
    const f = fields(content);
    const flags = `{"recursive": ${f.recursive}, "action-required": ${f.ar}}`;
    return `}, "event": "MEMORY_FAILURE", "data": {"flags": ${flags}, "recipient": "${f.recipient}", "action": "${f.action}"}}`;
  };
  return {
    head: '{"timestamp": {"seconds": ',
    mid: ', "microseconds": ',
    tails: { qemu: CODES.map(tail), seed: [] },
  };
}

const PIECES: Readonly<Record<RawLayout, Pieces>> = {
  1: schemaOrder(': ', ', '),
  2: schemaOrder(':', ','),
  3: qemu72(),
};

/** The message a layout stands for (what the `raw` column rebuilds); null: the layout has no text for it. */
export function layoutText(
  layout: RawLayout,
  dialect: Dialect,
  content: number,
  seconds: number,
  micros: number,
): string | null {
  const { head, mid, tails } = PIECES[layout];
  const tail = tails[dialect][content];
  return tail === undefined ? null : `${head}${seconds}${mid}${micros}${tail}`;
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
  if (raw.charCodeAt(13) !== 32) return matches(2, raw, dialect, content, seconds, micros);
  return (
    matches(3, raw, dialect, content, seconds, micros) ??
    matches(1, raw, dialect, content, seconds, micros)
  );
}

function matches(
  layout: RawLayout,
  raw: string,
  dialect: Dialect,
  content: number,
  seconds: number,
  micros: number,
): RawLayout | null {
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
