/**
 * A library user's program, type-checked (strict) and run by
 * test/package/pack.test.ts in a temporary project that installed memfail's
 * packed tarball. It talks to `memfail sim` through QEMU 7.2's typed QMP API.
 *
 *   node main.js ADDRESS    prints one JSON line: what it read, typed
 */
import { QmpClient, type QemuCommands, type QemuEvents, type QmpEvent } from 'memfail/qmp';
import type { MemoryFailureAction, RunState, StatusInfo } from 'memfail/qemu-7.2';

const address = process.argv[2];
if (address === undefined) throw new Error('usage: node main.js ADDRESS');

const client = new QmpClient<QemuCommands, QemuEvents>();
await client.connect(address);
const status: StatusInfo = await client.execute('query-status');
const state: RunState = status.status;
const version = await client.execute('query-version');
const major: number = version.qemu.major;

// Subscribed before the injection, so the event cannot be missed.
const events = client.events({ names: ['MEMORY_FAILURE'] });
const reply: string = await client.execute('human-monitor-command', {
  'command-line': 'mce 0 9 0xbd80000000000134 0x7 0x1000 0x8c',
});
let event: QmpEvent<QemuEvents> | undefined;
for await (const received of events) {
  event = received;
  break;
}
if (event?.event !== 'MEMORY_FAILURE') {
  throw new Error(`expected MEMORY_FAILURE, got ${JSON.stringify(event)}`);
}
const action: MemoryFailureAction = event.data.action;
const actionRequired: boolean = event.data.flags['action-required'];
await client.execute('quit');
await client.closed;
console.log(
  JSON.stringify({
    state,
    running: status.running,
    major,
    reply,
    recipient: event.data.recipient,
    action,
    actionRequired,
    recursive: event.data.flags.recursive,
  }),
);
