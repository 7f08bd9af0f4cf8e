import { formatEventLine, toEventRecord } from '../agent/event-record.js';
import type { StoredGap } from '../agent/records.js';
import { reportText } from '../agent/report.js';
import type { Store } from '../agent/store.js';
import type { EventsFlags, ReportFlags } from './agent.js';
import { openStoreFor } from './store-open.js';
import { type Io, UsageError, writeOut } from './io.js';

export function events(opts: EventsFlags, io: Io): Promise<number> {
  const since = opts.since === undefined ? undefined : parseSince(opts.since);
  return withStore(opts.db, io, async (store) => {
    const filter = {
      ...(opts.vm === undefined ? {} : { vm: opts.vm }),
      ...(since === undefined ? {} : { since }),
      includeUnreadable: opts.all === true,
    };
    if (opts.count) {
      io.stdout(`${store.countFailures(filter)}\n`);
      return 0;
    }
    // Streamed: a database of any size lists in constant memory. The text
    // listing also shows the gaps (JSON keeps its contract: failure records).
    const gaps =
      opts.json === true
        ? []
        : store
            .gaps(opts.vm === undefined ? {} : { vm: opts.vm })
            .filter((g) => since === undefined || g.toUs >= since.getTime() * 1000);
    await writeOut(io, eventsText(store, filter, opts.json === true, gaps));
    return 0;
  });
}

function* eventsText(
  store: Store,
  filter: Parameters<Store['iterateFailures']>[0],
  json: boolean,
  gaps: readonly StoredGap[],
): Generator<string> {
  let first = true;
  let g = 0;
  if (json) yield '[';
  for (const f of store.iterateFailures(filter)) {
    const r = toEventRecord(f);
    // Gaps in receipt order among the failures.
    for (; g < gaps.length && gaps[g]!.fromUs <= f.receivedUs; g++) yield formatGapLine(gaps[g]!);
    if (!json) yield `${formatEventLine(r)}\n`;
    else {
      yield `${first ? '\n' : ',\n'}${indent(JSON.stringify(r, null, 2))}`;
      first = false;
    }
  }
  for (; g < gaps.length; g++) yield formatGapLine(gaps[g]!);
  if (json) yield first ? ']\n' : '\n]\n';
}

function formatGapLine(gap: StoredGap): string {
  return `${gap.from}  ${gap.vm ?? '*'}  GAP until ${gap.to}: events may be missing (${gap.reason})\n`;
}

export function report(opts: ReportFlags, io: Io): Promise<number> {
  const horizonMs = parseWithin(opts.within);
  return withStore(opts.db, io, async (store) => {
    // Streamed VM by VM: a database of any size reports in bounded memory.
    const options = { json: opts.json === true, horizonMs };
    let pieces: Iterable<string> = reportText(store.reportSource(), options);
    if (opts.health || opts.policy !== undefined) {
      const { healthOf, withHealth } = await import('./health-run.js');
      pieces = withHealth(pieces, healthOf(store, opts), options.json);
    }
    await writeOut(io, pieces);
    return 0;
  });
}

function indent(json: string): string {
  return `  ${json.replaceAll('\n', '\n  ')}`;
}

async function withStore(
  db: string | undefined,
  io: Io,
  use: (store: Store) => Promise<number>,
): Promise<number> {
  const store = openStoreFor(db, io);
  if (store === null) return 1;
  try {
    return await use(store);
  } finally {
    store.close();
  }
}

/** `--within SECONDS` as milliseconds: a positive, finite number of seconds. */
export function parseWithin(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--within '${text}' is not a positive number of seconds`);
  }
  return seconds * 1000;
}

/** `--since`: ISO 8601, or an age such as 90s, 15m, 2h, 7d. */
export function parseSince(text: string, now: Date = new Date()): Date {
  const age = /^(\d+)(s|m|h|d)$/.exec(text);
  if (age) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[age[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(age[1]) * unit * 1000);
  }
  const date = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--since '${text}': expected ISO 8601 (2026-11-25T10:00:00Z) or an age (15m, 2h, 7d)`,
    );
  }
  return date;
}
