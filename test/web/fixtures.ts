/** Shared pieces of the dashboard tests: stores with failures at chosen times, a served dashboard. */
import { request } from 'node:http';
import { nowMicros } from '../../src/agent/records.js';
import type { FailureObservation, LifecycleObservation } from '../../src/agent/records.js';
import { Store } from '../../src/agent/store.js';
import type { MemoryFailure } from '../../src/event/model.js';
import { type Dashboard, type ServeOptions, startDashboard } from '../../src/web/server.js';
import { SqliteSource } from '../../src/web/sqlite-source.js';

export { tempDir } from '../agent/fixtures.js';

/** A failure QEMU stamped at `atUs` (µs since the epoch), received 100 µs later. */
export function failureAt(
  vm: string,
  atUs: number,
  f: Partial<MemoryFailure> = {},
): FailureObservation {
  const event: MemoryFailure = {
    recipient: f.recipient ?? 'guest',
    action: f.action ?? 'inject',
    actionRequired: f.actionRequired ?? true,
    recursive: f.recursive ?? false,
  };
  const timestamp = { seconds: Math.floor(atUs / 1_000_000), microseconds: atUs % 1_000_000 };
  return {
    kind: 'failure',
    vm,
    failure: event,
    error: null,
    timestamp,
    receivedUs: atUs + 100,
    dialect: 'qemu',
    message: {
      timestamp,
      event: 'MEMORY_FAILURE',
      data: {
        recipient: event.recipient,
        action: event.action,
        flags: { 'action-required': event.actionRequired, recursive: event.recursive },
      },
    },
  };
}

export function lifecycleAt(
  vm: string,
  event: LifecycleObservation['event'],
  atUs: number,
  data: unknown = {},
): LifecycleObservation {
  const timestamp = { seconds: Math.floor(atUs / 1_000_000), microseconds: atUs % 1_000_000 };
  return { kind: 'lifecycle', vm, event, timestamp, receivedUs: atUs + 100, data };
}

/** The host name the tests' stores are served under. */
export const HOST = 'host-a';

export function minutesAgo(minutes: number): number {
  return nowMicros() - minutes * 60_000_000;
}

export function record(path: string, observations: Parameters<Store['insert']>[0]): void {
  const store = Store.open(path);
  try {
    store.insert(observations);
  } finally {
    store.close();
  }
}

export async function serveStore(
  path: string,
  options: Partial<Omit<ServeOptions, 'source'>> = {},
): Promise<Dashboard & { source: SqliteSource }> {
  const source = SqliteSource.open(path, HOST);
  const dashboard = await startDashboard({
    source,
    host: '127.0.0.1',
    port: 0,
    pollMs: 50,
    ...options,
  });
  return {
    source,
    url: dashboard.url,
    close: async () => {
      await dashboard.close();
      source.close();
    },
  };
}

/**
 * Opens the dashboard's live stream at `base` and collects its `marks`
 * events (the newest failure id each announces) with when each came.
 */
export async function liveMarks(
  base: string,
): Promise<{ marks: { failure: number; at: number }[]; contentType: string; close(): void }> {
  const marks: { failure: number; at: number }[] = [];
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request(new URL('/api/stream', base), resolve).on('error', reject).end();
  });
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(event)?.[1];
      if (/^event: marks$/m.test(event) && data) {
        marks.push({
          failure: (JSON.parse(data) as { failure: number }).failure,
          at: performance.now(),
        });
      }
    }
  });
  return { marks, contentType: res.headers['content-type'] ?? '', close: () => res.destroy() };
}
