/** The dashboard's reads of memfail's JSON API (the same shapes as src/web/source.ts). */
export type Action = 'ignore' | 'inject' | 'fatal' | 'reset';
export type Recipient = 'hypervisor' | 'guest';
export const ACTIONS: readonly Action[] = ['ignore', 'inject', 'fatal', 'reset'];
export const RECIPIENTS: readonly Recipient[] = ['hypervisor', 'guest'];
export type HealthState = 'healthy' | 'suspect' | 'degraded' | 'failing' | 'unknown';
export const HEALTH_STATES: readonly HealthState[] = [
  'failing',
  'degraded',
  'suspect',
  'healthy',
  'unknown',
];

export interface Series {
  bucketSeconds: number;
  t: number[];
  byAction: Record<Action, number[]>;
  byRecipient: Record<Recipient, number[]>;
  total: number;
}
export interface HealthVerdict {
  state: HealthState;
  reasons: string[];
}
export interface HostFacts {
  host: string;
  lastDay: Record<Action, number>;
  vms: number;
  lastFailure: string | null;
}
export interface HostsOverview {
  byState: Record<HealthState, number>;
  hosts: { host: string; health: HealthVerdict; facts: HostFacts }[];
}
export interface HostCount {
  host: string;
  failures: number;
}
export interface VmCount {
  host: string;
  vm: string;
  failures: number;
  severe: number;
  lastSeen: string | null;
}
export interface HostDetail {
  host: string;
  health: HealthVerdict;
  facts: HostFacts;
  evacuations: {
    evacuation: number;
    vm: string;
    to: string;
    state: 'planned' | 'started' | 'completed' | 'failed' | 'skipped';
    detail: string;
    at: string;
    reason: string;
  }[];
}
export interface LifecycleEntry {
  id: number;
  event: string;
  receivedAt: string;
  timestamp: string | null;
  data: unknown;
}
export interface FailureDetail {
  id: number;
  host: string;
  vm: string;
  recipient: Recipient | null;
  action: Action | null;
  actionRequired: boolean | null;
  recursive: boolean | null;
  timestamp: string;
  receivedAt: string;
  dialect: string | null;
  valid: boolean;
  error: string | null;
  explanation: string;
  outcome: string | null;
  raw: string;
  around: LifecycleEntry[];
}
export interface Page<T> {
  items: T[];
  next: number | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function get<T>(
  path: string,
  params: Record<string, string | number | undefined> = {},
): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
  const text = query.toString();
  const res = await fetch(text === '' ? path : `${path}?${text}`, {
    headers: { accept: 'application/json' },
  });
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body as T;
}
