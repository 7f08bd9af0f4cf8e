/**
 * Where each VM goes: a pure choice among candidate hosts. Only a host the
 * policy judges `healthy` is a destination; a host the operator names with
 * `--to` whose health cannot be read (no store) is trusted, but one known to
 * be unhealthy is refused even then. VMs go to the least loaded host.
 */
import type { HostHealth } from '../health/evaluate.js';

export interface Candidate {
  readonly host: string;
  /** Null: its health could not be read. */
  readonly health: HostHealth | null;
  /** Named by the operator (--to). */
  readonly named: boolean;
  /** VMs it runs now. */
  readonly load: number;
}

export interface Plan {
  readonly moves: readonly { readonly vm: string; readonly dest: string }[];
  /** Candidates not used, and why. */
  readonly refused: readonly { readonly host: string; readonly why: string }[];
  /** VMs with nowhere to go. */
  readonly unplaced: readonly string[];
}

export function eligibility(c: Candidate, source: string): string | null {
  if (c.host === source) return 'it is the host being evacuated';
  if (c.health === null)
    return c.named
      ? null
      : 'its health is unknown (no "db" in the inventory); name it with --to to trust it';
  if (c.health.state !== 'healthy') {
    const why = c.health.reasons[0]?.text;
    return `it is ${c.health.state}${why ? ` (${why})` : ''}`;
  }
  return null;
}

/** `preferred`: loads to use instead of the candidates' own (e.g. -1 to keep a planned host). */
export function planMoves(
  source: string,
  vms: readonly string[],
  candidates: readonly Candidate[],
  preferred: ReadonlyMap<string, number> = new Map(),
): Plan {
  const refused: { host: string; why: string }[] = [];
  const load = new Map<string, number>();
  for (const c of candidates) {
    const why = eligibility(c, source);
    if (why === null) load.set(c.host, preferred.get(c.host) ?? c.load);
    else if (c.host !== source) refused.push({ host: c.host, why });
  }
  const moves: { vm: string; dest: string }[] = [];
  const unplaced: string[] = [];
  for (const vm of vms) {
    let best: string | null = null;
    for (const [host, n] of load) if (best === null || n < (load.get(best) as number)) best = host;
    if (best === null) unplaced.push(vm);
    else {
      moves.push({ vm, dest: best });
      load.set(best, (load.get(best) as number) + 1);
    }
  }
  return { moves, refused, unplaced };
}
