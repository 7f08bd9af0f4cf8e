import { microsToIso } from '../agent/records.js';
import type { Store } from '../agent/store.js';
import type { AlertsFlags } from './agent.js';
import { openStoreFor } from './store-open.js';
import type { Io } from './io.js';

export function listAlerts(opts: AlertsFlags, io: Io): number {
  return withStore(opts.db, false, io, (store) => {
    const rows = store.undeliveredAlerts(opts.sink);
    if (opts.json) {
      io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout('no undelivered alerts\n');
      return 0;
    }
    for (const r of rows) {
      const state =
        r.deadAt === null
          ? `owed, next attempt ${r.nextAttemptUs > 0 ? microsToIso(r.nextAttemptUs) : 'now'}`
          : `DEAD since ${r.deadAt}`;
      const error = r.lastError === null ? '' : `  last error: ${r.lastError}`;
      io.stdout(
        `${r.id}  ${r.sink}  event ${r.failureId} (${r.vm})  ${state}, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${error}\n`,
      );
    }
    return 0;
  });
}

export function retryAlerts(opts: AlertsFlags, io: Io): number {
  return withStore(opts.db, true, io, (store) => {
    const n = store.retryDeadAlerts(opts.sink);
    io.stdout(
      `${n} dead alert${n === 1 ? '' : 's'} owed again; a \`memfail watch\` running with ${n === 1 ? 'its sink' : 'their sinks'} delivers them within 5 s (else the next one started)\n`,
    );
    return 0;
  });
}

function withStore(
  db: string | undefined,
  write: boolean,
  io: Io,
  use: (store: Store) => number,
): number {
  const store = openStoreFor(db, io, write);
  if (store === null) return 1;
  try {
    return use(store);
  } finally {
    store.close();
  }
}
