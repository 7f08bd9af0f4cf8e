/**
 * The simulator against real QEMU 7.2: the same `mce` sequences on both
 * must give the same MEMORY_FAILURE data (and RESET/SHUTDOWN) in the same
 * order, and the same monitor text for every command line.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { type SchemaValidator, validatorFromIntrospection } from '../../src/codegen/index.js';
import * as qemuSchema from '../../src/generated/qemu/index.js';
import { SimulatedVm } from '../../src/hypervisor/simulator.js';
import { type GuestOptions, hmp, startGuest } from '../../src/qemu/guest.js';
import { findQemu } from '../../src/qemu/launch.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';
import type { LooseEvents } from '../../src/qmp/message.js';
import { until } from '../support/wait.js';

/** One step: a monitor command line, or "wait until the guest idles again" (QEMU's guest needs to reboot). */
type Step = string | { readonly ready: true };
const READY = { ready: true } as const;

interface Run {
  readonly texts: string[];
  readonly events: [string, unknown][];
  readonly exitStatus: number | null;
}

const WATCHED = new Set(['MEMORY_FAILURE', 'RESET', 'SHUTDOWN']);

async function drive(
  client: QmpClient,
  steps: readonly Step[],
  waitReady: () => Promise<void>,
): Promise<{ texts: string[]; events: QmpEvent<LooseEvents>[] }> {
  const events: QmpEvent<LooseEvents>[] = [];
  client.on('event', (ev) => events.push(ev));
  const texts: string[] = [];
  for (const step of steps) {
    if (typeof step !== 'string') {
      await waitReady();
      continue;
    }
    const text = await hmp(client, step);
    texts.push(text);
    if (text.includes('raising triple fault')) {
      // QEMU's main loop performs the reset after the command: wait for its event.
      const last = () => events.at(-1)?.event;
      await until(
        () => last() === 'RESET' || last() === 'SHUTDOWN',
        `RESET or SHUTDOWN after '${step}'`,
        5_000,
      );
      // Then let the guest boot again before the next step (through SeaBIOS's own resets).
      if (last() === 'RESET') await waitReady();
    }
  }
  return { texts, events };
}

/**
 * The events compared, in order. A run of identical RESETs counts once: when
 * real QEMU reboots, SeaBIOS resets the machine again itself (a guest-reset
 * of its own, one or more), which is firmware, not the memory-failure path.
 */
function watched(events: readonly QmpEvent<LooseEvents>[]): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const e of events) {
    if (!WATCHED.has(e.event)) continue;
    const last = out.at(-1);
    if (
      e.event === 'RESET' &&
      last?.[0] === 'RESET' &&
      JSON.stringify(last[1]) === JSON.stringify(e.data)
    )
      continue;
    out.push([e.event, e.data]);
  }
  return out;
}

/** QEMU 7.2's own schema, as its query-qmp-schema reports it (set by the first QEMU run). */
let qemuOwnSchema: SchemaValidator | null = null;

/** Every event must be valid in our generated QEMU-dialect schema and in QEMU's own. */
function assertValid(events: readonly QmpEvent<LooseEvents>[]): void {
  assert.ok(qemuOwnSchema, "QEMU's own schema was not fetched");
  for (const ev of events) {
    assert.equal(qemuSchema.describeInvalidEvent(ev), null, JSON.stringify(ev));
    const own = qemuOwnSchema.validateEvent(ev.event, ev.data);
    assert.ok(own.ok, `${JSON.stringify(ev)}: ${own.ok ? '' : own.message}`);
  }
}

async function onQemu(options: GuestOptions, steps: readonly Step[]): Promise<Run> {
  const guest = await startGuest(options);
  try {
    if (qemuOwnSchema === null) {
      qemuOwnSchema = validatorFromIntrospection(await guest.client.execute('query-qmp-schema'));
      // It has teeth: the seed's wire form is not QEMU 7.2's.
      const seedData = {
        action: 'guest-mce-inject',
        flags: { 'action-required': true, recursive: false },
      };
      assert.equal(qemuOwnSchema.validateEvent('MEMORY_FAILURE', seedData).ok, false);
    }
    await guest.waitReady();
    const { texts, events } = await drive(guest.client, steps, guest.waitReady);
    assertValid(events);
    const exitStatus = options.noReboot ? (await guest.vm.exited).code : null;
    return { texts, events: watched(events), exitStatus };
  } finally {
    await guest.stop();
  }
}

let dir = '';
let n = 0;
before(async () => {
  findQemu(); // throws, saying how to install it, when QEMU is missing
  dir = await mkdtemp(join(tmpdir(), 'memfail-diff-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function onSimulator(options: GuestOptions, steps: readonly Step[]): Promise<Run> {
  const sim = new SimulatedVm({
    dialect: 'qemu',
    guest: options.mce ? 'stuck' : 'no-mce',
    vcpus: options.vcpus ?? 1,
    noReboot: options.noReboot ?? false,
  });
  const sock = join(dir, `sim${n++}.sock`);
  await sim.listen(sock);
  const client = new QmpClient();
  await client.connect(sock);
  try {
    const { texts, events } = await drive(client, steps, async () => {});
    assertValid(events);
    const exitStatus = options.noReboot ? await sim.exited : null;
    return { texts, events: watched(events), exitStatus };
  } finally {
    await client.close();
    await sim.close();
  }
}

const AR = 'mce 0 9 0xbd80000000000134 7 0x1000 0x8c';
const AO = 'mce 0 9 0xbd000000000000c0 5 0x2000 0x8c';
const CORRECTED = 'mce 0 1 0x9c0000000000009f 0 0x3000 0x8c';

async function same(
  options: GuestOptions,
  steps: readonly Step[],
  expectFailures: unknown[],
): Promise<void> {
  const qemu = await onQemu(options, steps);
  const sim = await onSimulator(options, steps);
  assert.deepEqual(sim, qemu);
  // And both are what the model says.
  assert.deepEqual(
    qemu.events.filter(([name]) => name === 'MEMORY_FAILURE').map(([, data]) => data),
    expectFailures,
  );
}

const mf = (action: string, ar: boolean, recursive: boolean) => ({
  recipient: 'guest',
  action,
  flags: { 'action-required': ar, recursive },
});

describe('differential: simulator vs QEMU 7.2 (TCG, boot-sector guest)', () => {
  test('guest with CR4.MCE whose handler never returns: inject, recursive reset, reboot, AO/corrected/recursive', async () => {
    await same(
      { mce: true },
      [AR, AR, READY, AO, CORRECTED, AO, READY, CORRECTED, CORRECTED, AR],
      [
        mf('inject', true, false),
        mf('reset', true, true),
        mf('inject', false, false),
        mf('inject', false, true),
        mf('reset', false, true),
        mf('inject', false, false),
        mf('inject', false, false),
        mf('inject', true, false),
      ],
    );
  });

  test('guest without CR4.MCE, two vCPUs: resets (also broadcast), corrected still logged', async () => {
    await same(
      { mce: false, vcpus: 2 },
      [
        AR,
        READY,
        CORRECTED,
        'mce -b 1 9 0xbd80000000000134 7 0x1000 0x8c',
        READY,
        AO,
        READY,
        'mce 1 1 0x9c0000000000009f 0 0 0',
      ],
      [
        mf('reset', true, false),
        mf('inject', false, false),
        mf('reset', true, false),
        mf('reset', false, false),
        mf('reset', false, false),
        mf('inject', false, false),
      ],
    );
  });

  test('-no-reboot: the recursive reset becomes SHUTDOWN and QEMU exits 0 after sending it', async () => {
    await same(
      { mce: true, noReboot: true },
      [AR, AR],
      [mf('inject', true, false), mf('reset', true, true)],
    );
  });

  test('refused and malformed command lines get the same monitor text and no event', async () => {
    const lines = [
      'mce 0 10 0x8000000000000000 0 0 0',
      'mce 0 0x80000000 0x8000000000000000 0 0 0',
      'mce 0 1 0 0 0 0',
      'mce 5 1 0xbd80000000000134 7 0 0',
      'mce 0xffffffff 1 0x8000000000000000 0 0 0',
      'mce',
      'mce 0',
      'mce -b',
      'mce -x 0 1 2 3 4 5',
      'mce x 1 2 3 4 5',
      'mce 0 1 0xZZ 0 0 0',
      'mce 0 1 08 0 0 0',
      'mce 0 1 0x1ffffffffffffffff 0 0 0',
      'mce 0 0x100000000 1 0 0 0',
      'mce 0 1 (1+2 0 0 0',
      'mce 0 1 1/0 0 0 0',
      "mce 0 1 'a 0 0 0",
      'mce 0 1 0x8000000000000000 0 0 0 7',
      'bogus',
      'info bogus',
      'info status',
      'info status extra',
      'help mce',
      '? mce',
      'help info status',
      'help bogus',
      '',
      '  ',
    ];
    await same({ mce: true }, lines, []);
  });
});

/** Random `mce` lines: AR/AO/corrected and odd status bits, valid and invalid banks, a missing vCPU. */
const randomLine = fc
  .record({
    cpu: fc.constantFrom(0, 0, 0, 1),
    bank: fc.integer({ min: 0, max: 11 }),
    kind: fc.constantFrom('ar', 'ao', 'corrected', 'noise'),
    noise: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    mcgStatus: fc.integer({ min: 0, max: 15 }),
    broadcast: fc.boolean(),
  })
  .map((r) => {
    const status =
      r.kind === 'ar'
        ? 0xbd80000000000134n
        : r.kind === 'ao'
          ? 0xbd000000000000c0n
          : r.kind === 'corrected'
            ? 0x9c0000000000009fn
            : r.noise;
    return `mce ${r.broadcast ? '-b ' : ''}${r.cpu} ${r.bank} 0x${status.toString(16)} ${r.mcgStatus} 0x1000 0x8c`;
  });

describe('differential: random mce sequences, simulator vs QEMU 7.2', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: 20 random injections on the CR4.MCE guest`, async () => {
      const [lines] = fc.sample(fc.array(randomLine, { minLength: 20, maxLength: 20 }), {
        seed,
        numRuns: 1,
      });
      assert.ok(lines);
      const qemu = await onQemu({ mce: true }, lines);
      const sim = await onSimulator({ mce: true }, lines);
      assert.deepEqual(sim, qemu);
      assert.ok(qemu.events.length > 0);
    });
  }
});

describe('memfail inject against real QEMU 7.2', () => {
  test('the guest path goes through human-monitor-command and shows the event; a host fault is refused', async () => {
    const { main } = await import('../../src/cli/main.js');
    // The test drives the guest on the last socket; the CLI takes the first.
    const guest = await startGuest({ mce: true, qmpSockets: 2 });
    const cliSocket = guest.vm.qmp[0]!.path;
    try {
      await guest.waitReady();
      let out = '';
      let err = '';
      const io = { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s) };
      assert.equal(
        await main(['inject', cliSocket, '--preset', 'ar', '--settle-ms', '0'], io),
        0,
        err,
      );
      assert.match(out, /\(QEMU\): mce 0 9 0xbd80000000000134 0x7 0x1000 0x8c\n/);
      // QEMU's own member order, printed as received.
      assert.match(
        out,
        /event MEMORY_FAILURE \{"flags":\{"recursive":false,"action-required":true\},"recipient":"guest","action":"inject"\}\n/,
      );
      assert.match(
        out,
        /vm — action-required error in guest memory; QEMU injected a machine check.*\[qemu dialect\]/,
      );
      assert.equal(await main(['inject', cliSocket, '--host', 'AR', '--address', '0x1000'], io), 1);
      assert.match(err, /real QEMU cannot take a host-side memory failure over QMP/);
    } finally {
      await guest.stop();
    }
  });
});
