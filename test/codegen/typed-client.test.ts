/**
 * The generated maps drive the QMP client's types. The `@ts-expect-error`
 * lines are the test: this file is compiled by the build, and each marked
 * misuse must fail to type-check (an unneeded marker is itself an error).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Commands, Events } from '../../src/generated/qemu/types.js';
import { describeInvalidEvent, validateEvent } from '../../src/generated/qemu/validators.js';
import { QmpClient } from '../../src/qmp/client.js';
import type { QemuCommands, QemuEvents } from '../../src/qmp/index.js';

/** Compiled, never run: what a typed client accepts and rejects. */
export async function typedUse(client: QmpClient<Commands, Events>): Promise<void> {
  const status = await client.execute('query-status');
  const running: boolean = status.running;
  // @ts-expect-error a boolean is not a string
  const runningText: string = status.running;
  // @ts-expect-error query-status takes no arguments
  await client.execute('query-status', { verbose: true });
  // @ts-expect-error human-monitor-command needs its arguments
  await client.execute('human-monitor-command');
  // @ts-expect-error command-line is a string
  await client.execute('human-monitor-command', { 'command-line': 42 });
  // @ts-expect-error not a command of this schema
  await client.execute('no-such-command');
  const out: string = await client.execute('human-monitor-command', { 'command-line': 'info mce' });
  for await (const ev of client.events()) {
    if (ev.event === 'MEMORY_FAILURE') {
      const action: 'ignore' | 'inject' | 'fatal' | 'reset' = ev.data.action;
      // @ts-expect-error recursive is a boolean
      const recursive: number = ev.data.flags.recursive;
      void [action, recursive];
    }
  }
  void [running, runningText, out];
}

/** Compiled, never run: QEMU 7.2's whole schema types commands memfail's own schemas lack. */
export async function typedQemuUse(client: QmpClient<QemuCommands, QemuEvents>): Promise<void> {
  const blocks = await client.execute('query-block');
  const device: string = blocks[0]!.device;
  await client.execute('migrate', { uri: 'unix:/tmp/x' });
  // @ts-expect-error migrate needs its uri
  await client.execute('migrate', {});
  // @ts-expect-error not a QEMU 7.2 command
  await client.execute('x-memfail-host-memory-failure', { code: 'ar' });
  for await (const ev of client.events()) {
    if (ev.event === 'MIGRATION') {
      // @ts-expect-error status is a MigrationStatus, not a number
      const status: number = ev.data.status;
      void status;
    }
  }
  // next() is typed too: a value, or undefined once the stream ended.
  const { value } = await client.events({ names: ['MEMORY_FAILURE'] }).next();
  if (value?.event === 'MEMORY_FAILURE') {
    // @ts-expect-error the action is one of four names, not a number
    const action: number = value.data.action;
    void action;
  }
  void device;
}

test('describeInvalidEvent plugs into the QMP client as its event validator', () => {
  const client = new QmpClient<Commands, Events>({ validateEvent: describeInvalidEvent });
  assert.equal(client.state, 'idle');
  const data = {
    recipient: 'guest',
    action: 'reset',
    flags: { 'action-required': true, recursive: true },
  };
  assert.equal(describeInvalidEvent({ event: 'MEMORY_FAILURE', data }), null);
  assert.equal(
    describeInvalidEvent({ event: 'MEMORY_FAILURE', data: { ...data, recipient: 'host' } }),
    `data.recipient: expected one of 'hypervisor', 'guest', got "host"`,
  );
  assert.equal(describeInvalidEvent({ event: 'STOP' }), null);
});

test('validateEvent narrows to the generated data type', () => {
  const r = validateEvent(
    'MEMORY_FAILURE',
    JSON.parse(
      '{"recipient":"hypervisor","action":"fatal","flags":{"action-required":true,"recursive":false}}',
    ),
  );
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value.flags['action-required'], true);
});
