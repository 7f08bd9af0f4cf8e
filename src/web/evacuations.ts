/**
 * The evacuations a host page shows, from the evacuation journal
 * (src/evacuate/journal.ts) that `health --act` and `evacuate` write: one
 * line per VM step, newest evacuation first. The journal is opened read-only
 * and only once it exists: until a first evacuation creates its tables, a
 * host has none.
 */
import { Journal, type StepState } from '../evacuate/journal.js';

export interface EvacuationStep {
  /** The evacuation's number in the journal. */
  readonly evacuation: number;
  readonly vm: string;
  /** The destination host. */
  readonly to: string;
  readonly state: StepState;
  readonly detail: string;
  /** When the step last changed (ISO 8601). */
  readonly at: string;
  /** Why the host was evacuated (the verdict's words). */
  readonly reason: string;
}

export interface EvacuationsSource {
  evacuations(host: string): readonly EvacuationStep[];
  close(): void;
}

/** How many steps a host page lists at most (newest evacuations first). */
export const MAX_STEPS = 200;

/** The journal in the SQLite file `path` (an agent's store, or a shared `--journal`). */
export function journalEvacuations(path: string): EvacuationsSource {
  let journal: Journal | null = null;
  const open = (): Journal | null => {
    journal ??= Journal.openReadOnly(path);
    return journal;
  };
  return {
    evacuations(host) {
      const j = open();
      if (j === null) return [];
      const out: EvacuationStep[] = [];
      for (const e of j.evacuations(host).reverse()) {
        for (const step of j.steps(e.id)) {
          if (out.length >= MAX_STEPS) return out;
          out.push({
            evacuation: e.id,
            vm: step.vm,
            to: step.dest,
            state: step.state,
            detail: step.detail,
            at: step.updatedAt,
            reason: e.reason,
          });
        }
      }
      return out;
    },
    close() {
      journal?.close();
    },
  };
}
