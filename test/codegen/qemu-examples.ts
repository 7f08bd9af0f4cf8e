/**
 * The `<- { "event": ... }` examples in QEMU 7.2's schema documentation,
 * extracted from the doc comments of qapi/*.json. The docs are written for
 * people, so some examples are not strict JSON; `normalise` repairs the
 * known forms (elided parts written `...`, trailing commas) and the rest are
 * reported as unusable rather than guessed at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface EventExample {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface ParsedExample extends EventExample {
  readonly event: string;
  readonly data: unknown;
}

/** Every message in a doc comment that names an event (`<- {...}`; two QEMU examples omit the arrow). */
export function extractEventExamples(qapiDir: string): EventExample[] {
  const out: EventExample[] = [];
  for (const file of readdirSync(qapiDir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const lines = readFileSync(join(qapiDir, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const start = /^#\s*(?:<-\s*)?(\{.*)$/.exec(lines[i]!);
      if (!start?.[1]) continue;
      let text = start[1];
      let depth = balance(text);
      let j = i;
      while (depth > 0 && j + 1 < lines.length && lines[j + 1]!.startsWith('#')) {
        j++;
        const more = lines[j]!.replace(/^#\s?/, '');
        text += `\n${more}`;
        depth += balance(more);
      }
      if (/"event"\s*:/.test(text)) out.push({ file, line: i + 1, text });
      i = j;
    }
  }
  return out;
}

/** Net count of opening minus closing brackets outside strings. */
function balance(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return depth;
}

/** Repair the non-JSON forms QEMU's docs use; null when the example still does not parse. */
export function normalise(example: EventExample): ParsedExample | null {
  const text = example.text
    // "..." standing for elided members or elements, alone or after a comma.
    .replace(/,\s*\.\.\.\s*(?=[}\]])/g, '')
    .replace(/(?<=[{[])\s*\.\.\.\s*,?/g, '')
    // Trailing commas.
    .replace(/,\s*(?=[}\]])/g, '');
  try {
    const msg = JSON.parse(text) as { event?: unknown; data?: unknown };
    if (typeof msg.event !== 'string') return null;
    return { ...example, event: msg.event, data: msg.data };
  } catch {
    return null;
  }
}
