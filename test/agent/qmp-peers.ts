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
    setImmediate(() => w.forEach((f) => f()));
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
