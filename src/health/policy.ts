/**
 * The host-health policy: rules that map a host's recent memory failures to
 * a state. A policy is read whole and checked whole (parsePolicy either
 * returns a complete Policy or throws a SourceError naming the line), so a
 * bad file is never half-applied. Format: schema/health-policy.schema.json;
 * README "Host health" explains it.
 */
import { readFileSync } from 'node:fs';
import {
  ObjectReader,
  SourceError,
  expectInteger,
  expectString,
  type JsonNode,
  parseJson,
} from './json-source.js';

/** Worst last; the number is the metric's value. */
export type HealthState = 'healthy' | 'suspect' | 'degraded' | 'failing';
export const HEALTH_STATES: readonly HealthState[] = ['healthy', 'suspect', 'degraded', 'failing'];

export function healthLevel(state: HealthState): number {
  return HEALTH_STATES.indexOf(state);
}

/** Which failures a rule counts. */
export type FailureKind =
  | 'any'
  | 'action-required'
  | 'recursive'
  | 'guest-reset'
  | 'hypervisor'
  | 'hypervisor-fatal';
export const FAILURE_KINDS: readonly FailureKind[] = [
  'any',
  'action-required',
  'recursive',
  'guest-reset',
  'hypervisor',
  'hypervisor-fatal',
];

const RULE_MEMBERS = ['state', 'kind', 'atLeast', 'vms', 'within'] as const;

export interface HealthRule {
  /** The state a host is in (at least) when the rule matches; never `healthy`. */
  readonly state: Exclude<HealthState, 'healthy'>;
  readonly kind: FailureKind;
  /** At least this many such failures… */
  readonly atLeast: number;
  /** …on at least this many distinct VMs… */
  readonly vms: number;
  /** …within this window before now (milliseconds), as written (e.g. "24h"). */
  readonly withinMs: number;
  readonly within: string;
}

export interface Policy {
  readonly rules: readonly HealthRule[];
  /** Where it came from: a file path or "built-in". */
  readonly source: string;
}

/**
 * The built-in policy. A fatal error in QEMU's own memory is the host's
 * memory failing where no guest can absorb it; action-required errors on
 * several VMs within a day are the classic sign of a failing DIMM.
 */
export const DEFAULT_POLICY_JSON = `{
  "rules": [
    { "state": "failing", "kind": "hypervisor-fatal", "atLeast": 1, "within": "7d" },
    { "state": "failing", "kind": "action-required", "atLeast": 3, "vms": 2, "within": "24h" },
    { "state": "degraded", "kind": "action-required", "atLeast": 2, "within": "24h" },
    { "state": "degraded", "kind": "recursive", "atLeast": 1, "within": "24h" },
    { "state": "suspect", "kind": "any", "atLeast": 1, "within": "7d" }
  ]
}
`;

export const DEFAULT_POLICY: Policy = parsePolicy(DEFAULT_POLICY_JSON, 'built-in');

export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** Reads and checks a policy file; throws PolicyError (message `FILE:LINE:COL: …`). */
export function loadPolicy(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`cannot read policy ${path}: ${(err as Error).message}`);
  }
  return parsePolicy(text, path);
}

export function parsePolicy(text: string, file: string): Policy {
  try {
    const top = ObjectReader.of(parseJson(text, file), file, 'the policy');
    top.get('$schema');
    const rulesNode = top.require('rules');
    top.done(['$schema', 'rules']);
    if (rulesNode.kind !== 'array') {
      throw new SourceError(file, rulesNode.pos, '"rules" must be an array of rules');
    }
    if (rulesNode.items.length === 0) {
      throw new SourceError(file, rulesNode.pos, '"rules" is empty: every host would be healthy');
    }
    const rules = rulesNode.items.map((node, i) => readRule(node, file, i + 1));
    return { rules, source: file };
  } catch (err) {
    if (err instanceof SourceError) throw new PolicyError(err.message);
    throw err;
  }
}

function readRule(node: JsonNode, file: string, n: number): HealthRule {
  const what = `rule ${n}`;
  const r = ObjectReader.of(node, file, what);
  const stateNode = r.require('state');
  const state = expectString(stateNode, file, `${what} "state"`);
  if (state === 'healthy' || !(HEALTH_STATES as readonly string[]).includes(state)) {
    throw new SourceError(
      file,
      stateNode.pos,
      `${what}: "state" must be suspect, degraded or failing, not ${JSON.stringify(state)}`,
    );
  }
  const kindNode = r.require('kind');
  const kind = expectString(kindNode, file, `${what} "kind"`);
  if (!(FAILURE_KINDS as readonly string[]).includes(kind)) {
    throw new SourceError(
      file,
      kindNode.pos,
      `${what}: unknown "kind" ${JSON.stringify(kind)} (expected one of: ${FAILURE_KINDS.join(', ')})`,
    );
  }
  const atLeast = expectInteger(r.require('atLeast'), file, `${what} "atLeast"`, 1);
  const vmsNode = r.get('vms');
  const vms = vmsNode === undefined ? 1 : expectInteger(vmsNode, file, `${what} "vms"`, 1);
  if (vms > atLeast) {
    throw new SourceError(
      file,
      vmsNode!.pos,
      `${what}: "vms" (${vms}) cannot exceed "atLeast" (${atLeast}): the rule could never match`,
    );
  }
  const withinNode = r.require('within');
  const within = expectString(withinNode, file, `${what} "within"`);
  const withinMs = parseDuration(within);
  if (withinMs === null) {
    throw new SourceError(
      file,
      withinNode.pos,
      `${what}: "within" ${JSON.stringify(within)} is not a duration (30s, 15m, 24h, 7d)`,
    );
  }
  r.done(RULE_MEMBERS);
  return {
    state: state as HealthRule['state'],
    kind: kind as FailureKind,
    atLeast,
    vms,
    withinMs,
    within,
  };
}

/** `30s`, `15m`, `24h`, `7d` in milliseconds; null when not one of those (or zero). */
export function parseDuration(text: string): number | null {
  const m = /^([1-9]\d*)(s|m|h|d)$/.exec(text);
  if (!m) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit * 1000;
}

/** "24h" → "24 h", "15m" → "15 min": how a reason spells a window. */
export function spellDuration(text: string): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m) return text;
  return `${m[1]} ${{ s: 's', m: 'min', h: 'h', d: 'd' }[m[2] as 's' | 'm' | 'h' | 'd']}`;
}
