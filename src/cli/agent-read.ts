/** `memfail events` and `memfail report`: read the agent's database. */
import { formatEventLine, toEventRecord } from '../agent/event-record.js';
import { defaultDbPath } from '../agent/paths.js';
import { buildReport, formatReport } from '../agent/report.js';
import { Store, StoreError } from '../agent/store.js';
import { type EventsFlags, parseSince, type ReportFlags } from './agent.js';
import type { Io } from './io.js';

export function events(opts: EventsFlags, io: Io): number {
  const since = opts.since === undefined ? undefined : parseSince(opts.since);
  return withStore(opts.db, io, (store) => {
    const filter = {
      ...(opts.vm === undefined ? {} : { vm: opts.vm }),
      ...(since === undefined ? {} : { since }),
      includeUnreadable: opts.all === true,
    };
    if (opts.count) {
      io.stdout(`${store.countFailures(filter)}\n`);
      return 0;
    }
    // Streamed in chunks: a database of any size lists in constant memory.
    const out = chunked(io);
    let first = true;
    if (opts.json) out('[');
    for (const f of store.iterateFailures(filter)) {
      const r = toEventRecord(f);
      if (!opts.json) out(`${formatEventLine(r)}\n`);
      else {
        out(`${first ? '\n' : ',\n'}${indent(JSON.stringify(r, null, 2))}`);
        first = false;
      }
    }
    if (opts.json) out(first ? ']\n' : '\n]\n');
    out(null);
    return 0;
  });
}

export function report(opts: ReportFlags, io: Io): number {
  return withStore(opts.db, io, (store) => {
    const r = buildReport(store.failures({ includeUnreadable: true }), store.lifecycle());
    io.stdout(opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatReport(r));
    return 0;
  });
}

/** Collects text and writes it in ~64 KiB pieces; null flushes. */
function chunked(io: Io): (text: string | null) => void {
  let pending: string[] = [];
  let size = 0;
  return (text) => {
    if (text !== null) {
      pending.push(text);
      size += text.length;
    }
    if ((text === null || size >= 65536) && pending.length > 0) {
      io.stdout(pending.join(''));
      pending = [];
      size = 0;
    }
  };
}

function indent(json: string): string {
  return `  ${json.replaceAll('\n', '\n  ')}`;
}

function withStore(db: string | undefined, io: Io, use: (store: Store) => number): number {
  const path = db ?? defaultDbPath();
  let store: Store;
  try {
    store = Store.open(path, { mustExist: true });
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    io.stderr(`memfail: ${err.message}\n`);
    return 1;
  }
  try {
    return use(store);
  } finally {
    store.close();
  }
}
