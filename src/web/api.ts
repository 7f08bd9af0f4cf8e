/**
 * The JSON API under the pages (documented in docs/web-api.md). Each route
 * names the query parameters it takes; any other is refused, as are bad
 * values, so a typo gets a 400 that says what is wrong instead of a silent default.
 */
import { nowMicros } from '../agent/records.js';
import { RequestError } from './errors.js';
import type { EvacuationsSource } from './evacuations.js';
import { HEALTH_STATES, type HealthOf, type HealthState, type HealthVerdict } from './health.js';
import { clip, parseCount, parseRange } from './range.js';
import type { DataSource, HostFacts } from './source.js';

export interface ApiContext {
  readonly source: DataSource;
  readonly health: HealthOf;
  /** The evacuation journal, when there is one to read. */
  readonly evacuations?: EvacuationsSource;
  readonly now?: () => number;
}

export type Json = unknown;

interface Route {
  readonly pattern: RegExp;
  readonly params: readonly string[];
  readonly run: (
    ctx: ApiContext,
    names: readonly string[],
    query: URLSearchParams,
  ) => Json | Promise<Json>;
}

const RANGE = ['range', 'from', 'to'];

const ROUTES: readonly Route[] = [
  { pattern: /^\/api\/hosts$/, params: [], run: (ctx) => hostsOverview(ctx) },
  {
    pattern: /^\/api\/series$/,
    params: [...RANGE, 'host', 'vm'],
    run: (ctx, _n, q) => {
      const host = optionalName(q, 'host');
      const vm = optionalName(q, 'vm');
      if (vm !== undefined && host === undefined) throw new RequestError(400, 'vm needs host');
      return ctx.source.series(range(ctx, q), {
        ...(host === undefined ? {} : { host }),
        ...(vm === undefined ? {} : { vm }),
      });
    },
  },
  {
    pattern: /^\/api\/top\/hosts$/,
    params: [...RANGE, 'limit'],
    run: (ctx, _n, q) => ctx.source.topHosts(range(ctx, q), parseCount(q, 'limit', 10, 100)),
  },
  {
    pattern: /^\/api\/top\/vms$/,
    params: [...RANGE, 'limit'],
    run: (ctx, _n, q) => ctx.source.topVms(range(ctx, q), parseCount(q, 'limit', 10, 100)),
  },
  {
    pattern: /^\/api\/events$/,
    params: [...RANGE, 'host', 'vm', 'limit', 'before'],
    run: (ctx, _n, q) => {
      const host = optionalName(q, 'host');
      const vm = optionalName(q, 'vm');
      const before = q.has('before') ? parseCount(q, 'before', 0, 2 ** 53 - 1) : undefined;
      return ctx.source.events({
        range: range(ctx, q),
        limit: parseCount(q, 'limit', 100, 1000),
        ...(host === undefined ? {} : { host }),
        ...(vm === undefined ? {} : { vm }),
        ...(before === undefined ? {} : { before }),
      });
    },
  },
  {
    pattern: /^\/api\/hosts\/([^/]+)$/,
    params: [],
    run: async (ctx, [host]) => {
      const facts = await knownHost(ctx, host!);
      const evacuations = ctx.evacuations?.evacuations(host!) ?? [];
      return { host, health: await ctx.health(facts), facts, evacuations };
    },
  },
  {
    pattern: /^\/api\/hosts\/([^/]+)\/vms$/,
    params: [...RANGE, 'limit', 'offset'],
    run: async (ctx, [host], q) => {
      await knownHost(ctx, host!);
      const limit = parseCount(q, 'limit', 50, 500);
      const offset = parseCount(q, 'offset', 0, 1_000_000);
      const items = await ctx.source.hostVms(host!, range(ctx, q), limit, offset);
      return { items, offset, limit };
    },
  },
  {
    pattern: /^\/api\/hosts\/([^/]+)\/vms\/([^/]+)\/failures$/,
    params: ['limit', 'before'],
    run: async (ctx, [host, vm], q) => {
      if (!(await ctx.source.hasVm(host!, vm!))) {
        throw new RequestError(404, `no VM '${clip(vm!)}' on host '${clip(host!)}'`);
      }
      const before = q.has('before') ? parseCount(q, 'before', 0, 2 ** 53 - 1) : undefined;
      return ctx.source.failures(host!, vm!, parseCount(q, 'limit', 20, 200), before);
    },
  },
];

/** Answers GET `path` (already split from its query); throws RequestError for a bad request. */
export async function answer(ctx: ApiContext, path: string, query: URLSearchParams): Promise<Json> {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match === null) continue;
    for (const name of new Set(query.keys())) {
      if (!route.params.includes(name)) {
        const takes = route.params.length === 0 ? 'none' : route.params.join(', ');
        throw new RequestError(
          400,
          `unknown query parameter '${clip(name)}' (this route takes: ${takes})`,
        );
      }
      if (query.getAll(name).length > 1) throw new RequestError(400, `${clip(name)} given twice`);
    }
    return await route.run(ctx, match.slice(1).map(decodeName), query);
  }
  throw new RequestError(404, `no API route ${clip(path)} (see GET /api)`);
}

/** Whether a page path (not the API) names something the app can show. */
export async function pageExists(ctx: ApiContext, path: string): Promise<boolean> {
  if (path === '/') return true;
  const host = /^\/hosts\/([^/]+)$/.exec(path);
  if (host) return (await ctx.source.hostFacts(decodeName(host[1]!), nowMicrosOf(ctx))) !== null;
  const vm = /^\/hosts\/([^/]+)\/vms\/([^/]+)$/.exec(path);
  if (vm) return await ctx.source.hasVm(decodeName(vm[1]!), decodeName(vm[2]!));
  return false;
}

/** The overview's host list: how many hosts in each state, and the 100 worst with their facts. */
async function hostsOverview(ctx: ApiContext) {
  const now = nowMicrosOf(ctx);
  const byState = Object.fromEntries(HEALTH_STATES.map((s) => [s, 0])) as Record<
    HealthState,
    number
  >;
  const judged = await judgeHosts(ctx, now);
  const worst: { host: string; health: HealthVerdict; facts: HostFacts | null }[] = [];
  for (const { host, health, facts } of judged) {
    byState[health.state]++;
    // The list is for the worst hosts; the counts cover every host.
    if (worst.length < 100 || health.state !== 'healthy') worst.push({ host, health, facts });
  }
  worst.sort(
    (a, b) => HEALTH_STATES.indexOf(a.health.state) - HEALTH_STATES.indexOf(b.health.state),
  );
  const shown = worst.slice(0, 100);
  // A verdict judged without facts: read the facts of the hosts shown alone.
  const missing = shown.filter((h) => h.facts === null).map((h) => h.host);
  const facts = new Map((await someFacts(ctx.source, now, missing)).map((f) => [f.host, f]));
  const hosts = [];
  for (const h of shown) {
    const f = h.facts ?? facts.get(h.host);
    if (f !== undefined) hosts.push({ host: h.host, health: h.health, facts: f });
  }
  return { byState, hosts };
}

/**
 * Every host's verdict, sorted by host: by name when the verdicts need no
 * facts (HealthOf.byHost: the fleet's policy), else from each host's facts.
 */
async function judgeHosts(
  ctx: ApiContext,
  nowUs: number,
): Promise<{ host: string; health: HealthVerdict; facts: HostFacts | null }[]> {
  const byHost = ctx.health.byHost;
  if (byHost !== undefined) {
    const [names, verdictOf] = await Promise.all([ctx.source.hosts(), byHost()]);
    return names.map((host) => ({ host, health: verdictOf(host), facts: null }));
  }
  ctx.health.prefetch?.();
  const out = [];
  for (const facts of await someFacts(ctx.source, nowUs)) {
    out.push({ host: facts.host, health: await ctx.health(facts), facts });
  }
  return out;
}

/** The facts of `hosts`, or of every host. */
async function someFacts(
  source: DataSource,
  nowUs: number,
  hosts?: readonly string[],
): Promise<readonly HostFacts[]> {
  if (hosts !== undefined && hosts.length === 0) return [];
  if (source.hostsFacts !== undefined) return await source.hostsFacts(nowUs, hosts);
  const out: HostFacts[] = [];
  for (const host of hosts ?? (await source.hosts())) {
    const facts = await source.hostFacts(host, nowUs);
    if (facts !== null) out.push(facts);
  }
  return out;
}

async function knownHost(ctx: ApiContext, host: string): Promise<HostFacts> {
  const facts = await ctx.source.hostFacts(host, nowMicrosOf(ctx));
  if (facts === null) throw new RequestError(404, `no host '${clip(host)}'`);
  return facts;
}

function range(ctx: ApiContext, q: URLSearchParams) {
  return parseRange(q, nowMicrosOf(ctx));
}

function nowMicrosOf(ctx: ApiContext): number {
  return (ctx.now ?? nowMicros)();
}

function optionalName(q: URLSearchParams, name: string): string | undefined {
  const value = q.get(name);
  if (value === null) return undefined;
  if (value.length === 0 || value.length > 256) {
    throw new RequestError(400, `${name} must be 1 to 256 characters`);
  }
  return value;
}

function decodeName(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw new RequestError(400, 'a name in the path is not valid percent-encoding');
  }
  if (name.length > 256) throw new RequestError(400, 'a name in the path is over 256 characters');
  return name;
}
