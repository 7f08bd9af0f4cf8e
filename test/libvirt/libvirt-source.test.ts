/**
 * LibvirtWatcher's own logic against a scripted libvirt peer: one stream per
 * connection (QEMU's monitor events when granted, else libvirt's event 25,
 * recorded from its integers), one row per failure, URIs map to sockets, and
 * a lost daemon leaves a recorded gap.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { BatchWriter } from '../../src/agent/batch.js';
import {
  LibvirtUriError,
  LibvirtWatcher,
  libvirtFailure,
  libvirtTarget,
} from '../../src/agent/libvirt-source.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import type { Observation } from '../../src/agent/records.js';
import {
  DOMAIN_EVENT_ID,
  EVENTS,
  QEMU,
  QEMU_PROGRAM,
  REMOTE,
  REMOTE_PROGRAM,
} from '../../src/libvirt/index.js';
import {
  lifecycleMsg,
  memoryFailureMsg,
  monitorEventMsg,
  rebootMsg,
  remoteError,
} from '../../src/libvirt/types.js';
import { decode, encode } from '../../src/libvirt/xdr.js';
import { type FakeDaemon, fakeDaemon, message, reply } from './fake-daemon.js';

const DOM = { name: 'vm1', uuid: Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), id: 4 };
const UUID = '01234567-89ab-cdef-0123-456789abcdef';

const daemons: FakeDaemon[] = [];
const watchers: LibvirtWatcher[] = [];
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
  for (const d of daemons.splice(0)) await d.close();
});

const monitorRegistrations: { event: string | null; flags: number }[] = [];
/** libvirt's own event ids registered, in order, by the last setUp's watcher. */
const eventRegistrations: number[] = [];

async function setUp(options: { monitorEvents?: boolean; metrics?: AgentMetrics } = {}) {
  let nextCallback = 1;
  eventRegistrations.length = 0;
  const daemon = await fakeDaemon({
    onCall: (call) => {
      const { program, procedure } = call.header;
      if (
        program === REMOTE_PROGRAM &&
        procedure === REMOTE.connectDomainEventCallbackRegisterAny.procedure
      ) {
        eventRegistrations.push(
          decode(REMOTE.connectDomainEventCallbackRegisterAny.args, call.body).eventID,
        );
        reply(
          call,
          encode(REMOTE.connectDomainEventCallbackRegisterAny.ret, { callbackID: nextCallback++ }),
        );
      } else if (
        program === QEMU_PROGRAM &&
        procedure === QEMU.connectDomainMonitorEventRegister.procedure
      ) {
        monitorRegistrations.push(decode(QEMU.connectDomainMonitorEventRegister.args, call.body));
        if (options.monitorEvents === false) {
          reply(
            call,
            encode(remoteError, {
              code: 55,
              domain: 0,
              message: 'operation forbidden: read only access',
              level: 2,
              dom: null,
              str1: null,
              str2: null,
              str3: null,
              int1: 0,
              int2: 0,
              net: null,
            }),
            { status: 'error' },
          );
        } else
          reply(
            call,
            encode(QEMU.connectDomainMonitorEventRegister.ret, { callbackID: nextCallback++ }),
          );
      } else if (
        program === REMOTE_PROGRAM &&
        procedure === REMOTE.connectListAllDomains.procedure
      ) {
        reply(
          call,
          encode(REMOTE.connectListAllDomains.ret, {
            domains: [DOM, { ...DOM, name: 'off', id: -1 }],
            ret: 2,
          }),
        );
      } else if (program === REMOTE_PROGRAM && procedure === REMOTE.domainGetState.procedure) {
        reply(call, encode(REMOTE.domainGetState.ret, { state: 1, reason: 1 }));
      } else if (program === REMOTE_PROGRAM) {
        reply(call);
      }
    },
  });
  daemons.push(daemon);
  const seen: Observation[] = [];
  const backlog: ((full: boolean) => void)[] = [];
  const writer = {
    push: (o: Observation) => seen.push(o),
    onBacklog: (l: (full: boolean) => void) => backlog.push(l),
    full: false,
    pendingCount: 50_000,
  } as unknown as BatchWriter;
  /** What BatchWriter says when its backlog fills (true) and drains (false). */
  const setFull = (full: boolean) => {
    (writer as unknown as { full: boolean }).full = full;
    for (const l of backlog) l(full);
  };
  const logs: string[] = [];
  const watcher = new LibvirtWatcher({ uri: 'qemu:///system', socket: daemon.path }, writer, {
    log: (l) => logs.push(l),
    backoffInitialMs: 20,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  watchers.push(watcher);
  watcher.start();
  await until(() => seen.some((o) => o.kind === 'lifecycle' && o.event === 'CONNECTED'));
  return { daemon, seen, logs, watcher, setFull };
}

function sendMonitor(
  daemon: FakeDaemon,
  details: string,
  seconds = 1_764_000_000,
  micros = 123_456,
): void {
  message(
    daemon.sockets.at(-1)!,
    { program: QEMU_PROGRAM, procedure: EVENTS.monitorEvent.procedure },
    encode(monitorEventMsg, {
      callbackID: 4,
      dom: DOM,
      event: 'MEMORY_FAILURE',
      seconds,
      micros,
      details,
    }),
  );
}

function sendLibvirt(daemon: FakeDaemon, recipient: number, action: number, flags: number): void {
  message(
    daemon.sockets.at(-1)!,
    { procedure: EVENTS.memoryFailure.procedure },
    encode(memoryFailureMsg, { callbackID: 1, dom: DOM, recipient, action, flags }),
  );
}

const INJECT =
  '{"recipient":"guest","action":"inject","flags":{"action-required":true,"recursive":false}}';
const failures = (seen: Observation[]) => seen.filter((o) => o.kind === 'failure');

describe('LibvirtWatcher: one stream, one row per failure', () => {
  test('only running domains are announced, with their UUID; only recorded QEMU events are asked for', async () => {
    monitorRegistrations.length = 0;
    const { seen } = await setUp();
    assert.deepEqual(
      monitorRegistrations.map((r) => [r.event, r.flags]),
      [['^(MEMORY_FAILURE|RESET|SHUTDOWN|STOP|RESUME|GUEST_PANICKED)$', 1]],
    );
    const connected = seen.filter((o) => o.kind === 'lifecycle' && o.event === 'CONNECTED');
    assert.equal(connected.length, 1);
    assert.equal(connected[0]?.vm, 'vm1');
    assert.deepEqual(connected[0]?.kind === 'lifecycle' && connected[0].data, {
      via: 'libvirt',
      uri: 'qemu:///system',
      uuid: UUID,
      state: 'running',
    });
  });

  test("with the monitor stream: libvirt's event 25 and REBOOT are not asked for; a failure is recorded at once from QEMU's message", async () => {
    const { daemon, seen } = await setUp();
    assert.deepEqual(eventRegistrations, [DOMAIN_EVENT_ID.lifecycle]);
    sendMonitor(daemon, INJECT);
    sendMonitor(daemon, INJECT, 1_764_000_000, 123_457);
    await until(() => failures(seen).length === 2);
    await sleep(50);
    const rows = failures(seen);
    assert.equal(rows.length, 2);
    const f = rows[0]!;
    assert.ok(f.kind === 'failure');
    assert.deepEqual(f.failure, {
      recipient: 'guest',
      action: 'inject',
      actionRequired: true,
      recursive: false,
    });
    assert.deepEqual(f.timestamp, { seconds: 1_764_000_000, microseconds: 123_456 });
    assert.equal(f.dialect, 'qemu');
    assert.equal(f.error, null);
    assert.equal(
      f.raw,
      `{"timestamp":{"seconds":1764000000,"microseconds":123456},"event":"MEMORY_FAILURE","data":${INJECT}}`,
    );
  });

  test('without monitor events (refused), event 25 is asked for and each is recorded at once from its integers', async () => {
    const { daemon, seen } = await setUp({ monitorEvents: false });
    assert.deepEqual(eventRegistrations, [
      DOMAIN_EVENT_ID.memoryFailure,
      DOMAIN_EVENT_ID.lifecycle,
      DOMAIN_EVENT_ID.reboot,
    ]);
    sendLibvirt(daemon, 1, 1, 1);
    sendLibvirt(daemon, 1, 3, 3); // reset, action-required, recursive
    await until(() => failures(seen).length === 2, 200);
    const f = failures(seen)[1]!;
    assert.ok(f.kind === 'failure');
    assert.deepEqual(f.failure, {
      recipient: 'guest',
      action: 'reset',
      actionRequired: true,
      recursive: true,
    });
    assert.equal(f.timestamp, null);
    assert.equal(f.dialect, null);
    assert.deepEqual(JSON.parse(f.raw ?? ''), {
      libvirt: 'MEMORY_FAILURE',
      domain: { name: 'vm1', uuid: UUID, id: 4 },
      recipient: 1,
      action: 3,
      flags: 3,
    });
  });

  test('a refused monitor stream is logged with its reason; a hypervisor failure from event 25 maps too', async () => {
    const { daemon, seen, logs } = await setUp({ monitorEvents: false });
    assert.ok(
      logs.some((l) => /no raw QEMU monitor events .*read only access/.test(l)),
      logs.join('\n'),
    );
    sendLibvirt(daemon, 0, 2, 1);
    await until(() => failures(seen).length === 1, 200);
    const f = failures(seen)[0]!;
    assert.ok(f.kind === 'failure');
    assert.deepEqual(f.failure, {
      recipient: 'hypervisor',
      action: 'fatal',
      actionRequired: true,
      recursive: false,
    });
  });

  test('a monitor event with data QEMU would not send is stored flagged, not lost', async () => {
    const { daemon, seen } = await setUp();
    sendMonitor(
      daemon,
      '{"recipient":"guest","action":"explode","flags":{"action-required":true,"recursive":false}}',
    );
    await until(() => failures(seen).length === 1);
    const f = failures(seen)[0]!;
    assert.ok(f.kind === 'failure');
    assert.equal(f.failure, null);
    assert.match(f.error ?? '', /action/);
  });

  test('a full backlog pauses reading from libvirtd; what it sent meanwhile comes once it drains', async () => {
    const { daemon, seen, logs, setFull } = await setUp();
    setFull(true);
    assert.ok(logs.some((l) => /50000 events wait for the database: pausing reading/.test(l)));
    for (let i = 0; i < 3; i++) sendMonitor(daemon, INJECT, 1_764_000_000 + i);
    await sleep(300);
    assert.equal(failures(seen).length, 0, 'read while paused');
    setFull(false);
    await until(() => failures(seen).length === 3);
    assert.ok(logs.some((l) => /the database takes events again/.test(l)));
  });

  test('a lost daemon is a recorded gap; the watch reconnects and says so', async () => {
    const { daemon, seen, logs } = await setUp();
    daemon.sockets[0]!.destroy();
    await until(() => logs.some((l) => /reconnected to libvirtd/.test(l)));
    const life = seen.filter((o) => o.kind === 'lifecycle');
    assert.deepEqual(
      life.map((o) => [
        o.event,
        (o.data as { reason?: string; reconnected?: boolean }).reason ??
          (o.data as { reconnected?: boolean }).reconnected ??
          null,
      ]),
      [
        ['CONNECTED', null],
        ['DISCONNECTED', 'libvirtd-lost'],
        ['CONNECTED', true],
      ],
    );
    assert.ok(
      logs.some((l) => /lost libvirtd \(eof\); reconnecting/.test(l)),
      logs.join('\n'),
    );
  });
});

describe('LibvirtWatcher lifecycle', () => {
  function sendLifecycle(daemon: FakeDaemon, event: number, detail: number, name = 'vm2'): void {
    message(
      daemon.sockets.at(-1)!,
      { procedure: EVENTS.lifecycle.procedure },
      encode(lifecycleMsg, { callbackID: 2, msg: { dom: { ...DOM, name }, event, detail } }),
    );
  }

  test('started, stopped, crashed and migrated become CONNECTED/DISCONNECTED with their detail', async () => {
    const { daemon, seen } = await setUp();
    sendLifecycle(daemon, 2, 0); // started, booted
    sendLifecycle(daemon, 5, 2); // stopped, crashed
    sendLifecycle(daemon, 2, 1); // started, migrated (incoming)
    sendLifecycle(daemon, 5, 3); // stopped, migrated (outgoing)
    sendLifecycle(daemon, 3, 0); // suspended: QEMU's own STOP comes on the monitor stream
    await until(() => seen.filter((o) => o.vm === 'vm2').length === 4);
    await sleep(50);
    const vm2 = seen.filter((o) => o.kind === 'lifecycle' && o.vm === 'vm2');
    assert.deepEqual(
      vm2.map((o) =>
        o.kind === 'lifecycle'
          ? [
              o.event,
              (o.data as Record<string, unknown>).detail ??
                (o.data as Record<string, unknown>).reason,
            ]
          : null,
      ),
      [
        ['CONNECTED', 'booted'],
        ['DISCONNECTED', 'crashed'],
        ['CONNECTED', 'migrated'],
        ['DISCONNECTED', 'migrated'],
      ],
    );
  });

  test("QEMU's RESET comes from the monitor stream; libvirt's REBOOT stands in only without it", async () => {
    const withMonitor = await setUp();
    message(
      withMonitor.daemon.sockets.at(-1)!,
      { procedure: EVENTS.reboot.procedure },
      encode(rebootMsg, { callbackID: 3, msg: { dom: DOM } }),
    );
    message(
      withMonitor.daemon.sockets.at(-1)!,
      { program: QEMU_PROGRAM, procedure: EVENTS.monitorEvent.procedure },
      encode(monitorEventMsg, {
        callbackID: 4,
        dom: DOM,
        event: 'RESET',
        seconds: 1_764_000_001,
        micros: 5,
        details: '{"guest":true,"reason":"guest-reset"}',
      }),
    );
    await until(() => withMonitor.seen.some((o) => o.kind === 'lifecycle' && o.event === 'RESET'));
    await sleep(50);
    const resets = withMonitor.seen.filter((o) => o.kind === 'lifecycle' && o.event === 'RESET');
    assert.equal(resets.length, 1);
    assert.deepEqual(resets[0]?.kind === 'lifecycle' && resets[0].timestamp, {
      seconds: 1_764_000_001,
      microseconds: 5,
    });
    assert.deepEqual(resets[0]?.kind === 'lifecycle' && resets[0].data, {
      guest: true,
      reason: 'guest-reset',
    });

    const without = await setUp({ monitorEvents: false });
    message(
      without.daemon.sockets.at(-1)!,
      { procedure: EVENTS.reboot.procedure },
      encode(rebootMsg, { callbackID: 3, msg: { dom: DOM } }),
    );
    await until(() => without.seen.some((o) => o.kind === 'lifecycle' && o.event === 'RESET'));
    const r = without.seen.find((o) => o.kind === 'lifecycle' && o.event === 'RESET');
    assert.equal(r?.kind === 'lifecycle' && r.timestamp, null);
    assert.deepEqual(r?.kind === 'lifecycle' && r.data, { via: 'libvirt', event: 'reboot' });
  });
});

describe('LibvirtWatcher against a misbehaving daemon: a clear error, then a reconnect', () => {
  const cases: [string, (socket: import('node:net').Socket) => void, RegExp][] = [
    [
      'garbage',
      (s) => s.write('this is not XDR at all'),
      /protocol-error: packet length \d+ is over the maximum/,
    ],
    [
      'a length of 2^31',
      (s) => s.write(Buffer.from('80000000', 'hex')),
      /protocol-error: packet length 2147483648 is over/,
    ],
    [
      'a reply for an unknown serial',
      (s) => message(s, { type: 'reply', serial: 987654, procedure: 1 }),
      /protocol-error: reply with serial 987654/,
    ],
    [
      'closing mid-packet',
      (s) => s.end(Buffer.from('0000004020008086', 'hex')),
      /protocol-error: the stream ended inside a packet \(8 of 64 bytes\)/,
    ],
  ];
  for (const [what, misbehave, why] of cases) {
    test(what, async () => {
      const { daemon, seen, logs } = await setUp();
      misbehave(daemon.sockets[0]!);
      await until(() => logs.some((l) => /reconnected to libvirtd/.test(l)));
      assert.ok(
        logs.some((l) => /lost libvirtd/.test(l) && why.test(l)),
        logs.join('\n'),
      );
      const gap = seen.filter((o) => o.kind === 'lifecycle' && o.event === 'DISCONNECTED');
      assert.equal(gap.length, 1);
    });
  }
});

describe('LibvirtWatcher metrics', () => {
  test('memfail_vm_connected follows each domain and the daemon', async () => {
    const calls: boolean[] = [];
    const metrics = new (class extends AgentMetrics {
      override setConnected(vm: string, connected: boolean): void {
        if (vm === 'vm1') calls.push(connected);
        super.setConnected(vm, connected);
      }
    })();
    const { daemon, logs } = await setUp({ metrics });
    daemon.sockets[0]!.destroy();
    await until(() => logs.some((l) => /reconnected to libvirtd/.test(l)));
    assert.deepEqual(calls, [true, false, true]);
    assert.match(await metrics.registry.metrics(), /memfail_vm_connected\{vm="vm1"\} 1/);
  });
});

describe('libvirt URIs and values', () => {
  test('URIs map to local sockets; remote ones are refused with what to do', () => {
    assert.equal(libvirtTarget('qemu:///system').socket, '/var/run/libvirt/libvirt-sock');
    assert.equal(libvirtTarget('qemu:///system', '/x/sock').socket, '/x/sock');
    assert.equal(libvirtTarget('qemu+unix:///system?socket=/y/sock').socket, '/y/sock');
    assert.throws(
      () => libvirtTarget('qemu+ssh://host/system'),
      (e: unknown) => e instanceof LibvirtUriError && /local unix socket only/.test(e.message),
    );
    assert.throws(() => libvirtTarget('vm1=/run/x'), LibvirtUriError);
  });

  test("libvirt's integers map to the canonical model; unknown values are errors", () => {
    assert.deepEqual(libvirtFailure(0, 0, 0), {
      ok: true,
      value: { recipient: 'hypervisor', action: 'ignore', actionRequired: false, recursive: false },
    });
    assert.deepEqual(libvirtFailure(1, 3, 2), {
      ok: true,
      value: { recipient: 'guest', action: 'reset', actionRequired: false, recursive: true },
    });
    assert.deepEqual(libvirtFailure(2, 0, 0), { ok: false, error: 'libvirt: unknown recipient 2' });
    assert.deepEqual(libvirtFailure(1, 4, 0), { ok: false, error: 'libvirt: unknown action 4' });
    assert.deepEqual(libvirtFailure(1, 1, 4), { ok: false, error: 'libvirt: unknown flags 0x4' });
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('gave up waiting');
    await sleep(5);
  }
}
