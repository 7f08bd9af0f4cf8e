/**
 * QMP servers standing in for VMs in the agent tests: our QmpServer, with a
 * query-qmp-schema answer for a dialect and a way to wait until the agent is
 * ready to receive (it asks for the schema right after negotiating).
 */
import type { Dialect } from '../../src/event/model.js';
import { schemaInfo as qemuSchema } from '../../src/generated/qemu/introspection.js';
import { schemaInfo as seedSchema } from '../../src/generated/seed/introspection.js';
import { QmpServer } from '../../src/qmp/server.js';

export interface FakeVm {
  readonly server: QmpServer;
  readonly address: string;
  /** Resolves after the next client has asked for the schema (it is listening for events then). */
  nextClient(): Promise<void>;
}

export async function startVm(path: string, dialect: Dialect | null = 'qemu'): Promise<FakeVm> {
  const server = new QmpServer();
  let waiters: (() => void)[] = [];
  let asked = 0;
  let seen = 0;
  server.handle('query-qmp-schema', () => {
    asked++;
    const w = waiters;
    waiters = [];
    // Resolve after this reply is written, so later events follow it.
    setImmediate(() => {
      for (const f of w) f();
    });
    if (dialect === null) return [];
    return (dialect === 'qemu' ? qemuSchema : seedSchema) as unknown as Record<string, unknown>[];
  });
  const address = `unix:${path}`;
  await server.listen(address);
  return {
    server,
    address,
    nextClient: () =>
      new Promise<void>((resolve) => {
        if (asked > seen) {
          seen = asked;
          setImmediate(resolve);
          return;
        }
        waiters.push(() => {
          seen = asked;
          resolve();
        });
      }),
  };
}

export const QEMU_INJECT = {
  recipient: 'guest',
  action: 'inject',
  flags: { 'action-required': true, recursive: false },
};
export const QEMU_RESET = {
  recipient: 'guest',
  action: 'reset',
  flags: { 'action-required': true, recursive: true },
};

/** One MEMORY_FAILURE of a deterministic stream: event i always has the same timestamp and data. */
export function streamEvent(i: number): Record<string, unknown> {
  const kinds = [
    { recipient: 'guest', action: 'inject', flags: { 'action-required': true, recursive: false } },
    { recipient: 'guest', action: 'inject', flags: { 'action-required': false, recursive: false } },
    {
      recipient: 'hypervisor',
      action: 'ignore',
      flags: { 'action-required': false, recursive: false },
    },
    { recipient: 'guest', action: 'reset', flags: { 'action-required': true, recursive: true } },
  ];
  return {
    event: 'MEMORY_FAILURE',
    data: kinds[i % kinds.length],
    timestamp: { seconds: 1_764_000_000 + Math.floor(i / 1_000_000), microseconds: i % 1_000_000 },
  };
}

/** Microseconds since the epoch of stream event i (its identity in the tests). */
export function streamEventMicros(i: number): number {
  return 1_764_000_000 * 1_000_000 + i;
}

export interface StreamOptions {
  /** Events written between pauses. */
  readonly chunk?: number;
  readonly pauseMs?: number;
  /** End the session after the last event (the VM exits). */
  readonly endAfter?: boolean;
}

/**
 * Serves the same `count` events, from the first, to every client once it has
 * negotiated; respects backpressure. Returns a stop function.
 */
export function serveStream(
  server: QmpServer,
  count: number,
  options: StreamOptions = {},
): () => void {
  let stopped = false;
  const chunk = options.chunk ?? 1000;
  const lines = Array.from({ length: count }, (_, i) => `${JSON.stringify(streamEvent(i))}\r\n`);
  const off = server.onSession(async (session) => {
    let gone = false;
    void session.closed.then(() => {
      gone = true;
    });
    while (!session.negotiated) {
      if (stopped || gone) return;
      await new Promise((r) => setTimeout(r, 1));
    }
    for (let i = 0; i < count && !stopped && !gone; i += chunk) {
      for (let k = i; k < Math.min(count, i + chunk); k++) session.writeLine(lines[k]!);
      while (session.unsentBytes > 1 << 20 && !stopped) await new Promise((r) => setTimeout(r, 1));
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
    if (options.endAfter) session.end();
  });
  return () => {
    stopped = true;
    off();
  };
}
