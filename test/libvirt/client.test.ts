/**
 * LibvirtClient against a scripted peer: call/reply by serial, typed remote
 * errors, auth, keepalive, and every way a bad peer can misbehave (each a
 * clear error and a disconnect, never a crash).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  EVENTS,
  KEEPALIVE_PROGRAM,
  LibvirtClient,
  LibvirtConnectionError,
  type LibvirtEvent,
  LibvirtProtocolError,
  LibvirtRemoteError,
  REMOTE,
  REMOTE_PROGRAM,
} from '../../src/libvirt/index.js';
import { memoryFailureMsg, remoteError } from '../../src/libvirt/types.js';
import { encode } from '../../src/libvirt/xdr.js';
import { type FakeDaemon, type FakeOptions, fakeDaemon, message, reply } from './fake-daemon.js';

const daemons: FakeDaemon[] = [];
const clients: LibvirtClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close(100);
  for (const d of daemons.splice(0)) await d.close();
});

async function connected(
  options: FakeOptions = {},
  clientOptions: ConstructorParameters<typeof LibvirtClient>[0] = {},
): Promise<{ daemon: FakeDaemon; client: LibvirtClient }> {
  const daemon = await fakeDaemon(options);
  daemons.push(daemon);
  const client = new LibvirtClient(clientOptions);
  clients.push(client);
  await client.connect(daemon.path);
  return { daemon, client };
}

const libVersion = encode(REMOTE.connectGetLibVersion.ret, { libVer: 9_000_000 });

describe('LibvirtClient calls', () => {
  test('replies are matched by serial, whatever their order', async () => {
    const calls: Parameters<NonNullable<FakeOptions['onCall']>>[0][] = [];
    const { client } = await connected({
      onCall: (call) => {
        calls.push(call);
        if (calls.length === 2) {
          reply(calls[1]!, encode(REMOTE.connectGetLibVersion.ret, { libVer: 2 }));
          reply(calls[0]!, encode(REMOTE.connectGetLibVersion.ret, { libVer: 1 }));
        }
      },
    });
    const [a, b] = await Promise.all([
      client.call(REMOTE.connectGetLibVersion, undefined),
      client.call(REMOTE.connectGetLibVersion, undefined),
    ]);
    assert.deepEqual([a.libVer, b.libVer], [1, 2]);
    assert.notEqual(calls[0]!.header.serial, calls[1]!.header.serial);
  });

  test('an ERROR reply rejects with LibvirtRemoteError carrying remote_error', async () => {
    const { client } = await connected({
      onCall: (call) =>
        reply(
          call,
          encode(remoteError, {
            code: 42,
            domain: 10,
            message: "Domain not found: no domain with matching name 'nope'",
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
        ),
    });
    await assert.rejects(
      client.call(REMOTE.domainLookupByName, { name: 'nope' }),
      (err: unknown) => {
        assert.ok(err instanceof LibvirtRemoteError);
        assert.equal(err.code, 42);
        assert.equal(err.procedure, 'DOMAIN_LOOKUP_BY_NAME');
        assert.match(
          err.message,
          /^DOMAIN_LOOKUP_BY_NAME: Domain not found: .*'nope' \(code 42\)$/,
        );
        return true;
      },
    );
    assert.equal(client.state, 'running');
  });

  test('events are decoded by the table; unknown MESSAGE procedures are reported and dropped', async () => {
    const unknown: number[] = [];
    const { daemon, client } = await connected(
      {},
      { onUnknownMessage: (_p, proc) => unknown.push(proc) },
    );
    const events: LibvirtEvent[] = [];
    client.on('event', (ev) => events.push(ev));
    const socket = daemon.sockets[0]!;
    message(socket, { procedure: 9999 }, Buffer.from('whatever'));
    message(
      socket,
      { procedure: EVENTS.memoryFailure.procedure },
      encode(memoryFailureMsg, {
        callbackID: 3,
        dom: { name: 'vm1', uuid: Buffer.alloc(16, 0xab), id: 7 },
        recipient: 1,
        action: 3,
        flags: 3,
      }),
    );
    await until(() => events.length > 0);
    assert.deepEqual(unknown, [9999]);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.name, 'memoryFailure');
    assert.deepEqual(events[0]?.body, {
      callbackID: 3,
      dom: { name: 'vm1', uuid: Buffer.alloc(16, 0xab), id: 7 },
      recipient: 1,
      action: 3,
      flags: 3,
    });
  });
});

describe('LibvirtClient gatherMs', () => {
  test('a lone packet is read at once; under a burst, the packets of a pause come in one read, in order, none lost', async () => {
    const { daemon, client } = await connected({}, { gatherMs: 100 });
    const ids: number[] = [];
    const at: number[] = [];
    client.on('event', (ev) => {
      if (ev.name !== 'memoryFailure') return;
      ids.push(ev.body.callbackID);
      at.push(performance.now());
    });
    const send = (callbackID: number) =>
      message(
        daemon.sockets[0]!,
        { procedure: EVENTS.memoryFailure.procedure },
        encode(memoryFailureMsg, {
          callbackID,
          dom: { name: 'vm1', uuid: Buffer.alloc(16, 1), id: 7 },
          recipient: 1,
          action: 0,
          flags: 0,
        }),
      );
    // Quiet for longer than a burst's gap (4 pauses) since connect's last reply.
    await new Promise((r) => setTimeout(r, 500));
    const sent = performance.now();
    send(1);
    await until(() => ids.length === 1);
    assert.ok(at[0]! - sent < 90, `a lone packet waited ${at[0]! - sent} ms`);
    send(2); // read at once too; a burst now, so reading pauses after it
    await until(() => ids.length === 2);
    for (let id = 3; id <= 10; id++) send(id);
    await until(() => ids.length === 10);
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(at[2]! - at[1]! >= 95, `the pause lasted ${at[2]! - at[1]!} ms`);
    assert.ok(
      at[9]! - at[2]! < 10,
      `packets 3-10 came over ${at[9]! - at[2]!} ms, not in one read`,
    );
  });
});

describe('LibvirtClient auth', () => {
  for (const [types, word] of [
    [[1], 'SASL'],
    [[2], 'polkit'],
  ] as const) {
    test(`${word} is refused with what to configure`, async () => {
      const daemon = await fakeDaemon({ authTypes: types });
      daemons.push(daemon);
      const client = new LibvirtClient();
      await assert.rejects(client.connect(daemon.path), (err: unknown) => {
        assert.ok(err instanceof LibvirtConnectionError);
        assert.equal(err.code, 'auth-unsupported');
        assert.match(err.message, new RegExp(`requires ${word} authentication`));
        assert.match(err.message, /run memfail as root .* auth_unix_rw = "none"/);
        return true;
      });
      assert.equal(client.state, 'idle');
    });
  }

  test('a missing socket is connect-failed, naming the path', async () => {
    const client = new LibvirtClient();
    await assert.rejects(
      client.connect('/nonexistent/libvirt-sock'),
      (err: unknown) =>
        err instanceof LibvirtConnectionError &&
        err.code === 'connect-failed' &&
        /\/nonexistent\/libvirt-sock/.test(err.message),
    );
  });
});

describe('LibvirtClient against a misbehaving peer: a clear error and a disconnect', () => {
  async function misbehave(
    send: (call: Parameters<NonNullable<FakeOptions['onCall']>>[0]) => void,
  ) {
    const { client } = await connected({ onCall: send });
    const call = client.call(REMOTE.connectGetLibVersion, undefined);
    const outcome = await call.then(
      () => null,
      (e: unknown) => e,
    );
    // A peer that broke the stream is already being hung up on; otherwise we hang up here.
    if (client.state === 'running') await client.close(100);
    return { outcome, info: await client.closed, client };
  }

  test('a reply for an unknown serial', async () => {
    const { outcome, info } = await misbehave((call) =>
      reply({ ...call, header: { ...call.header, serial: call.header.serial + 1000 } }, libVersion),
    );
    assert.equal(info.reason, 'protocol-error');
    assert.ok(info.error instanceof LibvirtProtocolError);
    assert.equal(info.error.code, 'unknown-serial');
    assert.match(info.error.message, /matches no call in flight/);
    assert.ok(outcome instanceof LibvirtConnectionError && outcome.code === 'disconnected');
  });

  test('a length of 2^31', async () => {
    const { info } = await misbehave((call) => call.socket.write(Buffer.from('80000000', 'hex')));
    assert.equal(info.reason, 'protocol-error');
    assert.equal((info.error as LibvirtProtocolError).code, 'packet-too-large');
  });

  test('garbage', async () => {
    const { info } = await misbehave((call) =>
      call.socket.write(Buffer.from('hello, this is not XDR')),
    );
    assert.equal(info.reason, 'protocol-error');
    assert.ok(info.error instanceof LibvirtProtocolError);
  });

  test('closing mid-packet', async () => {
    const { info, outcome } = await misbehave((call) => {
      const bytes = encodePacketFor(call);
      call.socket.end(bytes.subarray(0, bytes.length - 3));
    });
    assert.equal(info.reason, 'protocol-error');
    assert.equal((info.error as LibvirtProtocolError).code, 'truncated');
    assert.ok(outcome instanceof LibvirtConnectionError);
  });

  test('a reply body that does not decode', async () => {
    const { outcome, info } = await misbehave((call) => reply(call, Buffer.from('0000', 'hex')));
    assert.ok(outcome instanceof LibvirtProtocolError && outcome.code === 'xdr-truncated');
    // A short body is the call's failure; the stream itself is still in step.
    assert.equal(info.reason, 'closed');
  });

  test('a packet of an unknown program', async () => {
    const { info } = await misbehave((call) => reply(call, libVersion, { program: 0x12345678 }));
    assert.equal((info.error as LibvirtProtocolError).code, 'unexpected-packet');
    assert.match(info.error?.message ?? '', /0x12345678/);
  });
});

describe('LibvirtClient keepalive', () => {
  test("the daemon's PING is answered with PONG", async () => {
    const { daemon, client } = await connected();
    message(daemon.sockets[0]!, { program: KEEPALIVE_PROGRAM, procedure: 1 });
    await until(() => daemon.received.some((h) => h.program === KEEPALIVE_PROGRAM));
    const pong = daemon.received.find((h) => h.program === KEEPALIVE_PROGRAM);
    assert.ok(pong, 'a PONG');
    assert.equal(pong.procedure, 2);
    assert.equal(pong.type, 2);
    assert.equal(client.state, 'running');
  });

  test('a silent link is pinged, then dropped after `count` intervals', async () => {
    const { daemon, client } = await connected({}, { keepaliveIntervalMs: 30, keepaliveCount: 3 });
    const info = await client.closed;
    assert.equal(info.reason, 'keepalive-timeout');
    assert.match(info.error?.message ?? '', /sent nothing for 3 keepalive intervals of 30 ms/);
    const pings = daemon.received.filter(
      (h) => h.program === KEEPALIVE_PROGRAM && h.procedure === 1,
    );
    assert.equal(pings.length, 3);
  });

  test('a peer that answers PINGs keeps the link', async () => {
    const { client } = await connected(
      {
        onCall: (call) => {
          if (call.header.program === KEEPALIVE_PROGRAM)
            message(call.socket, { program: KEEPALIVE_PROGRAM, procedure: 2 });
        },
      },
      { keepaliveIntervalMs: 20, keepaliveCount: 2 },
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(client.state, 'running');
  });

  test('close() sends CONNECT_CLOSE and ends as closed', async () => {
    const { daemon, client } = await connected({ onCall: (call) => reply(call) });
    await client.close();
    assert.equal((await client.closed).reason, 'closed');
    assert.ok(daemon.received.some((h) => h.program === REMOTE_PROGRAM && h.procedure === 2));
    await assert.rejects(
      client.call(REMOTE.connectGetLibVersion, undefined),
      (err: unknown) => err instanceof LibvirtConnectionError && err.code === 'not-connected',
    );
  });
});

function encodePacketFor(call: Parameters<NonNullable<FakeOptions['onCall']>>[0]): Buffer {
  const out = Buffer.alloc(28 + libVersion.length);
  out.writeUInt32BE(out.length, 0);
  out.writeUInt32BE(call.header.program, 4);
  out.writeUInt32BE(1, 8);
  out.writeInt32BE(call.header.procedure, 12);
  out.writeInt32BE(1, 16);
  out.writeUInt32BE(call.header.serial, 20);
  out.writeInt32BE(0, 24);
  libVersion.copy(out, 28);
  return out;
}

async function until(check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('gave up waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
