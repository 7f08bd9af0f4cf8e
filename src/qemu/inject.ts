/**
 * Inject a memory failure into a VM over QMP — a memfail simulator or a real
 * QEMU — and collect the events that follow. The body of `memfail inject`
 * and of the demo's injections.
 *
 * Guest-path faults go through `human-monitor-command` "mce ...", which both
 * understand. Host-side faults need the simulator's
 * x-memfail-host-memory-failure: real QEMU only learns of one from a SIGBUS
 * for a poisoned page under KVM.
 */
import { mceCommandLine } from '../hypervisor/faults.js';
import type { GuestFault, HostFault } from '../hypervisor/mca.js';
import type { QmpClient, QmpEvent } from '../qmp/client.js';
import { QmpConnectionError } from '../qmp/errors.js';
import type { LooseEvents } from '../qmp/message.js';

export type InjectErrorCode = 'host-fault-needs-simulator';

export class InjectError extends Error {
  override readonly name = 'InjectError';
  constructor(
    readonly code: InjectErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Target = 'simulator' | 'qemu';

export interface InjectOutcome {
  readonly target: Target;
  /** What was sent: the QMP command and, for the guest path, the monitor line. */
  readonly sent: { readonly execute: string; readonly arguments: Record<string, unknown> };
  /** The monitor's reply text (guest path), CRLF turned into LF. */
  readonly monitorText: string | null;
  /** Every event seen from just before the injection until the reply (plus `settleMs`). */
  readonly events: readonly QmpEvent<LooseEvents>[];
  /** The VM closed the connection: it exited (fatal failure, -no-reboot reset). */
  readonly vmExited: boolean;
}

export interface InjectOptions {
  /** How long to keep listening after the reply for events QEMU's main loop sends late (default 100 ms). */
  readonly settleMs?: number;
}

/** Whether the other end is memfail's simulator: it alone has x-memfail-host-memory-failure. */
export async function detectTarget(client: QmpClient): Promise<Target> {
  const commands = (await client.execute('query-commands')) as { name: string }[];
  return commands.some((c) => c.name === 'x-memfail-host-memory-failure') ? 'simulator' : 'qemu';
}

/** Inject into a connected (negotiated) client's VM. The client stays open unless the VM exited. */
export async function inject(
  client: QmpClient,
  fault: HostFault | GuestFault,
  options: InjectOptions = {},
): Promise<InjectOutcome> {
  const target = await detectTarget(client);
  let sent: InjectOutcome['sent'];
  if (fault.kind === 'host') {
    if (target === 'qemu') {
      throw new InjectError(
        'host-fault-needs-simulator',
        'real QEMU cannot take a host-side memory failure over QMP: it learns of one only from a SIGBUS ' +
          'for a poisoned page under KVM. Use the guest path (--cpu/--bank/... or --preset), or `memfail sim`.',
      );
    }
    sent = {
      execute: 'x-memfail-host-memory-failure',
      arguments: {
        code: fault.code === 'AR' ? 'ar' : 'ao',
        address: Number(fault.address),
        'guest-ram': fault.inGuestRam,
        ...(fault.cpu === undefined ? {} : { 'cpu-index': fault.cpu }),
      },
    };
  } else {
    sent = {
      execute: 'human-monitor-command',
      arguments: { 'command-line': mceCommandLine(fault) },
    };
  }
  const events: QmpEvent<LooseEvents>[] = [];
  const off = client.on('event', (ev) => events.push(ev));
  let monitorText: string | null = null;
  let vmExited = false;
  try {
    const reply = await client.execute(sent.execute, sent.arguments);
    if (typeof reply === 'string') monitorText = reply.replace(/\r\n/g, '\n');
    await Promise.race([delay(options.settleMs ?? 100), client.closed]);
  } catch (err) {
    if (!(err instanceof QmpConnectionError)) throw err;
  }
  if (client.state !== 'running') vmExited = true;
  off();
  return { target, sent, monitorText, events, vmExited };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
