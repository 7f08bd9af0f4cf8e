import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  formatAddress,
  type QmpAddress,
  QmpClient,
  QmpCommandError,
  QmpConnectionError,
  QmpEventValidationError,
  QmpReconnector,
  type ReconnectState,
  QmpServer,
  type QmpSession,
  backoffDelay,
} from '../../src/qmp/index.js';

const dir = mkdtempSync(join(tmpdir(), 'memfail-qmp-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const unixPath = () => join(dir, `s${sockets++}.sock`);

function newServer(): QmpServer {
  const server = new QmpServer({ oobCommands: ['x-oob-echo'] });
  server.handle('echo', (args) => args);
  server.handle('x-oob-echo', (args) => args);
  server.handle('fail', () => {
    throw new QmpCommandError('DeviceNotFound', "Device 'nope' not found");
  });
  server.handle('crash', () => {
    throw new Error('handler blew up');
  });
  return server;
}

/** A raw line-based peer, to see exactly what goes over the wire. */
async function rawPeer(address: QmpAddress) {
  const socket: Socket =
    address.kind === 'unix' ? connect(address.path) : connect(address.port, address.host);
  let buffer = '';
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    buffer += d;
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
    wake?.();
  });
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    ended,
    send: (text: string) => socket.write(text),
    async next(): Promise<Record<string, unknown>> {
      while (lines.length === 0) await new Promise<void>((r) => (wake = r));
      return JSON.parse(lines.shift()!);
    },
  };
}

for (const kind of ['unix', 'tcp'] as const) {
  describe(`client and server over ${kind}`, () => {
    const listenOn = () => (kind === 'unix' ? `unix:${unixPath()}` : 'tcp:127.0.0.1:0');

    test('greeting, negotiation, execute, errors and events', async () => {
      const server = newServer();
      const address = await server.listen(listenOn());
      const client = new QmpClient({ oob: true });
      const greeting = await client.connect(address);
      assert.deepEqual(greeting.version.qemu, { major: 7, minor: 2, micro: 0 });
      assert.deepEqual(greeting.capabilities, ['oob']);
      assert.equal(client.state, 'running');
      assert.deepEqual(client.capabilities, ['oob']);

      assert.deepEqual(await client.execute('echo', { a: [1, 'é'] }), { a: [1, 'é'] });
      assert.deepEqual(await client.executeOob('x-oob-echo', { b: 2 }), { b: 2 });
      await assert.rejects(client.execute('fail'), (e: unknown) => {
        assert.ok(e instanceof QmpCommandError);
        assert.equal(e.errorClass, 'DeviceNotFound');
        assert.equal(e.desc, "Device 'nope' not found");
        assert.equal(e.command, 'fail');
        return true;
      });
      await assert.rejects(client.execute('crash'), {
        errorClass: 'GenericError',
        desc: 'handler blew up',
      });
      await assert.rejects(client.execute('nope'), {
        errorClass: 'CommandNotFound',
        desc: 'The command nope has not been found',
      });
      await assert.rejects(client.executeOob('echo'), {
        errorClass: 'GenericError',
        desc: 'The command echo does not support OOB',
      });
      await assert.rejects(client.execute('qmp_capabilities'), {
        errorClass: 'CommandNotFound',
        desc: 'Capabilities negotiation is already complete, command ignored',
      });

      const seen: string[] = [];
      const off = client.on('event', (ev) => seen.push(ev.event), { names: ['STOP'] });
      const stream = client.events({ names: ['RESUME', 'STOP'] });
      assert.equal(server.emit('RESUME'), 1);
      assert.equal(server.emit('STOP', { reason: 'x' }), 1);
      const first = await stream.next();
      const second = await stream.next();
      assert.equal(first.value?.event, 'RESUME');
      assert.deepEqual(first.value?.data, {});
      assert.equal(second.value?.event, 'STOP');
      assert.deepEqual(second.value?.data, { reason: 'x' });
      assert.ok(Number.isInteger(second.value?.timestamp.seconds));
      assert.deepEqual(seen, ['STOP']);
      off();

      await client.close();
      assert.equal(client.state, 'idle');
      assert.equal((await client.closed).reason, 'closed');
      assert.equal((await stream.next()).done, true);
      await server.close();
    });

    test('negotiation mode: only qmp_capabilities, QEMU wording, no events', async () => {
      const server = newServer();
      const address = await server.listen(listenOn());
      const peer = await rawPeer(address);
      const greeting = await peer.next();
      assert.deepEqual(greeting, {
        QMP: {
          version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'memfail' },
          capabilities: ['oob'],
        },
      });
      peer.send('{"execute": "echo", "id": 1}\n');
      assert.deepEqual(await peer.next(), {
        id: 1,
        error: {
          class: 'CommandNotFound',
          desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
        },
      });
      server.emit('STOP'); // not negotiated: must not reach this peer
      peer.send('[1]\r\n{"execute": }\n{"foo": 1, "id": "x"}\n{"id": 2}\n');
      assert.deepEqual(await peer.next(), {
        error: { class: 'GenericError', desc: 'QMP input must be a JSON object' },
      });
      const parse = await peer.next();
      assert.match((parse.error as { desc: string }).desc, /^JSON parse error, /);
      assert.deepEqual(await peer.next(), {
        id: 'x',
        error: { class: 'GenericError', desc: "QMP input member 'foo' is unexpected" },
      });
      assert.deepEqual(await peer.next(), {
        id: 2,
        error: { class: 'GenericError', desc: "QMP input lacks member 'execute'" },
      });
      peer.send('{"exec-oob": "x-oob-echo", "id": 3}\n');
      assert.deepEqual(await peer.next(), {
        id: 3,
        error: { class: 'GenericError', desc: "QMP input member 'exec-oob' is unexpected" },
      });
      peer.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}, "id": 4}\n');
      assert.deepEqual(await peer.next(), {
        id: 4,
        error: { class: 'GenericError', desc: "Parameter 'null' does not accept value 'foo'" },
      });
      peer.send('{"execute": "qmp_capabilities", "id": 5}\n');
      assert.deepEqual(await peer.next(), { return: {}, id: 5 });
      server.emit('RESUME');
      const ev = await peer.next();
      assert.equal(ev.event, 'RESUME');
      peer.socket.destroy();
      await server.close();
    });

    test('several clients each get every event; close() flushes before closing', async () => {
      const server = newServer();
      const address = await server.listen(listenOn());
      const clients = [new QmpClient(), new QmpClient(), new QmpClient()];
      await Promise.all(clients.map((c) => c.connect(address)));
      const counts = clients.map(() => 0);
      for (const [i, c] of clients.entries()) c.on('event', () => counts[i]!++);
      const total = 2000;
      const payload = {
        recipient: 'guest',
        action: 'inject',
        flags: { 'action-required': true, recursive: false },
      };
      for (let i = 0; i < total; i++) server.emit('MEMORY_FAILURE', payload);
      await server.close(); // must flush all 2000 to each before the EOF
      const infos = await Promise.all(clients.map((c) => c.closed));
      assert.deepEqual(counts, [total, total, total]);
      for (const info of infos) assert.equal(info.reason, 'eof');
    });

    test('events received before EOF are delivered before the disconnect; pending commands reject', async () => {
      const server = newServer();
      let release!: () => void;
      let started!: () => void;
      const slowStarted = new Promise<void>((r) => (started = r));
      server.handle('slow', () => {
        started();
        return new Promise((r) => (release = () => r({})));
      });
      const address = await server.listen(listenOn());
      const client = new QmpClient();
      await client.connect(address);
      const order: string[] = [];
      client.on('event', (ev) => order.push(ev.event));
      client.on('disconnect', (info) => order.push(`disconnect:${info.reason}`));
      const slow = assert.rejects(
        client.execute('slow'),
        (e: unknown) => e instanceof QmpConnectionError && e.code === 'disconnected',
      );
      await slowStarted;
      server.emit('MEMORY_FAILURE', { recipient: 'guest' });
      server.emit('SHUTDOWN', { guest: true, reason: 'guest-reset' });
      await server.close();
      await slow;
      assert.deepEqual(order, ['MEMORY_FAILURE', 'SHUTDOWN', 'disconnect:eof']);
      release();
    });
  });
}

describe('client edge cases', () => {
  test('connect to nothing fails with connect-failed; bad address is an AddressError', async () => {
    const client = new QmpClient();
    await assert.rejects(client.connect(`unix:${join(dir, 'missing.sock')}`), {
      code: 'connect-failed',
    });
    assert.equal(client.state, 'idle');
    await assert.rejects(client.connect('tcp:localhost'), {
      name: 'AddressError',
      code: 'missing-port',
    });
  });

  test('a silent server hits the connect timeout', async () => {
    const path = unixPath();
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(path, r));
    const client = new QmpClient({ connectTimeoutMs: 50 });
    await assert.rejects(client.connect(path), { code: 'connect-timeout' });
    assert.equal(client.state, 'idle');
    await new Promise<void>((r) => silent.close(() => r()));
  });

  test('garbage from the server is a protocol error, not a crash', async () => {
    const path = unixPath();
    const bad = createServer((s) => {
      s.write(
        '{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}\n',
      );
      // Answer the negotiation, then break the protocol in the same write.
      s.once('data', () => s.end('{"return": {}, "id": 1}\n{oops}\n'));
    });
    await new Promise<void>((r) => bad.listen(path, r));
    const client = new QmpClient();
    await client.connect(path);
    const info = await client.closed;
    assert.equal(info.reason, 'protocol-error');
    assert.equal((info.error as { code?: string }).code, 'invalid-json');
    await new Promise<void>((r) => bad.close(() => r()));
  });

  test('a message over the client limit ends the connection with message-too-large', async () => {
    const server = newServer();
    const address = await server.listen(`unix:${unixPath()}`);
    const client = new QmpClient({ limits: { maxMessageBytes: 4096 } });
    await client.connect(address);
    const got: string[] = [];
    client.on('event', (ev) => got.push(ev.event));
    server.emit('SMALL');
    server.emit('HUGE', { blob: 'x'.repeat(100_000) });
    const info = await client.closed;
    assert.equal(info.reason, 'protocol-error');
    assert.equal((info.error as { code?: string }).code, 'message-too-large');
    assert.deepEqual(got, ['SMALL']);
    await server.close();
  });

  test('invalid events are flagged and still delivered', async () => {
    const server = newServer();
    const address = await server.listen(`unix:${unixPath()}`);
    const client = new QmpClient({
      validateEvent: (ev) => (typeof ev.data.recipient === 'string' ? null : 'recipient missing'),
    });
    await client.connect(address);
    const stream = client.events();
    server.emit('MEMORY_FAILURE', { recipient: 'guest' });
    server.emit('MEMORY_FAILURE', { action: 'inject' });
    assert.equal((await stream.next()).value?.invalid, undefined);
    assert.equal((await stream.next()).value?.invalid, 'recipient missing');
    await client.close();
    await server.close();
  });

  test('the server refuses to emit events its validator rejects', async () => {
    const server = new QmpServer({
      validateEvent: (ev) => (ev.event === 'BAD' ? 'no such event' : null),
    });
    assert.throws(() => server.emit('BAD'), QmpEventValidationError);
    assert.equal(server.emit('GOOD'), 0);
  });

  test('a stale unix socket file is replaced; a regular file is not', async () => {
    const path = unixPath();
    const first = new QmpServer();
    await first.listen(path);
    const live = new QmpServer();
    await assert.rejects(live.listen(path), /another server is listening/);
    await first.close();
    // A process that dies while listening leaves its socket file behind.
    execFileSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
    ]);
    assert.ok(lstatSync(path).isSocket());
    const second = new QmpServer();
    const address = await second.listen(path);
    assert.equal(formatAddress(address), `unix:${path}`);
    await second.close();
    const regular = join(dir, 'regular-file');
    writeFileSync(regular, 'x');
    await assert.rejects(new QmpServer().listen(regular), /not a socket/);
  });
});

describe('server backpressure', () => {
  test('drained() waits until clients took their output; a client that stops reading is dropped', async () => {
    const server = new QmpServer({ maxOutputBytes: 256 * 1024 });
    const address = await server.listen(`unix:${unixPath()}`);
    const sessions: QmpSession[] = [];
    server.onSession((session) => sessions.push(session));
    const reader = new QmpClient();
    await reader.connect(address);
    let received = 0;
    reader.on('event', () => received++);
    const stalled = await rawPeer(address);
    await stalled.next();
    stalled.send('{"execute": "qmp_capabilities"}\n');
    await stalled.next();
    stalled.socket.pause(); // stops reading: its output piles up in the server

    const blob = { blob: 'x'.repeat(1000) };
    let emitted = 0;
    // Each emit reaches both clients until the stalled one passes the limit;
    // yielding now and then lets the reading client read.
    while (server.emit('BIG', blob) === 2 && emitted < 20_000) {
      emitted++;
      if (emitted % 16 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    assert.ok(emitted < 20_000, `stalled client still served after ${emitted} events`);
    await sessions[1]!.closed; // dropped by the server (the paused peer cannot see it yet)
    stalled.socket.destroy();
    server.emit('BIG', blob);
    await server.drained();
    assert.equal(server.sessions.length, 1);
    assert.equal(server.sessions[0]!.unsentBytes, 0);
    await server.close();
    await reader.closed;
    assert.equal(received, emitted + 2);
  });
});

describe('typed commands and events', () => {
  interface Commands {
    echo: { args: { a: number }; returns: { a: number } };
    'query-version': { args: undefined; returns: { qemu: { major: number } } };
  }
  interface Events {
    MEMORY_FAILURE: { recipient: 'guest' | 'hypervisor' };
    STOP: Record<string, never>;
  }

  test('maps from codegen type execute(), handlers and events', async () => {
    const server = new QmpServer<Commands>();
    server.handle('echo', (args) => ({ a: args.a + 1 }));
    const address = await server.listen(`unix:${unixPath()}`);
    const client = new QmpClient<Commands, Events>();
    await client.connect(address);
    const echoed: { a: number } = await client.execute('echo', { a: 1 });
    assert.deepEqual(echoed, { a: 2 });
    const version = await client.execute('query-version');
    assert.equal(version.qemu.major, 7);
    // @ts-expect-error: not a command of the map
    await assert.rejects(client.execute('nope'), { errorClass: 'CommandNotFound' });
    const typeOnly = (): unknown =>
      // @ts-expect-error: wrong argument type
      client.execute('echo', { a: 'x' });
    assert.equal(typeof typeOnly, 'function');
    const stream = client.events({ names: ['MEMORY_FAILURE'] });
    server.emit('MEMORY_FAILURE', { recipient: 'guest' });
    const ev = (await stream.next()).value!;
    if (ev.event === 'MEMORY_FAILURE') {
      const recipient: 'guest' | 'hypervisor' = ev.data.recipient;
      assert.equal(recipient, 'guest');
    } else assert.fail(`unexpected ${ev.event}`);
    await client.close();
    await server.close();
  });
});

describe('reconnecting', () => {
  test('backoff grows by the factor, is jittered within bounds and capped', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };
    assert.equal(
      backoffDelay(0, opts, () => 0.5),
      100,
    );
    assert.equal(
      backoffDelay(2, opts, () => 0.5),
      400,
    );
    assert.equal(
      backoffDelay(2, opts, () => 0),
      200,
    );
    assert.equal(
      backoffDelay(2, opts, () => 1),
      600,
    );
    assert.equal(
      backoffDelay(10, opts, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(60, opts, () => 0),
      500,
    );
  });

  test('waits for a server that is not up yet, reconnects after it restarts, stops on request', async () => {
    const path = unixPath();
    const states: ReconnectState[] = [];
    const waiters: [(s: ReconnectState) => boolean, () => void][] = [];
    const reached = (pred: (s: ReconnectState) => boolean) =>
      new Promise<void>((resolve) => waiters.push([pred, resolve]));
    const link = new QmpReconnector(path, {
      initialDelayMs: 5,
      maxDelayMs: 20,
      onState: (s) => {
        states.push(s);
        for (const [pred, resolve] of waiters) if (pred(s)) resolve();
      },
    });
    const stream = link.events({ names: ['MEMORY_FAILURE'] });
    const running = link.run();
    await reached((s) => s.kind === 'waiting' && s.attempt >= 2);
    assert.equal(link.client.state, 'idle');

    const first = new QmpServer();
    let connected = reached((s) => s.kind === 'connected');
    await first.listen(path);
    await connected;
    first.emit('MEMORY_FAILURE', { n: 1 });
    assert.deepEqual((await stream.next()).value?.data, { n: 1 });

    // The VM restarts: its socket goes away and comes back.
    const gone = reached((s) => s.kind === 'disconnected');
    await first.close();
    await gone;
    connected = reached((s) => s.kind === 'connected');
    const second = new QmpServer();
    await second.listen(path);
    await connected;
    second.emit('MEMORY_FAILURE', { n: 2 });
    assert.deepEqual((await stream.next()).value?.data, { n: 2 });
    assert.deepEqual(await link.client.execute('query-version'), {
      qemu: { major: 7, minor: 2, micro: 0 },
      package: 'memfail',
    });

    await link.stop();
    await running;
    assert.equal(states.at(-1)?.kind, 'stopped');
    assert.equal((await stream.next()).done, true);
    await second.close();
  });
});

/**
 * A QEMU stand-in that writes fixed bytes: QEMU 7.2's greeting, the reply to
 * qmp_capabilities, then each of `parts` in its own write, a pause apart (so
 * that each tends to arrive as its own read), then hangs up.
 */
async function scriptedServer(parts: readonly (string | Buffer)[]): Promise<string> {
  const path = unixPath();
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.write(
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n',
    );
    socket.once('data', async (request: Buffer) => {
      const { id } = JSON.parse(request.toString('utf8')) as { id: unknown };
      socket.write(`{"return": {}, "id": ${JSON.stringify(id)}}\r\n`);
      for (const part of parts) {
        await new Promise((r) => setTimeout(r, 5));
        socket.write(part);
      }
      socket.end();
      server.close();
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return path;
}

describe('event raw text', () => {
  // QEMU's spacing: ", " and ": " between members, CRLF after each message.
  const failure =
    '{"timestamp": {"seconds": 1764000000, "microseconds": 123456}, "event": "MEMORY_FAILURE", "data": {"recipient": "guest", "action": "inject", "flags": {"action-required": true, "recursive": false}}}';
  const stop = '{"timestamp": {"seconds": 1764000001, "microseconds": 7}, "event": "STOP"}';
  const unicode =
    '{"timestamp": {"seconds": 1764000002, "microseconds": 8}, "event": "BLOCK_IO_ERROR", "data": {"reason": "dépassé €"}}';

  test('a line per message: raw is each line as written, without its CRLF', async () => {
    const path = await scriptedServer([`${failure}\r\n${stop}\r\n${unicode}\r\n`]);
    const client = new QmpClient({
      validateEvent: (ev) => (ev.event === 'STOP' ? 'flagged for the test' : null),
    });
    const raws: (string | undefined)[] = [];
    client.on('event', (ev) => raws.push(ev.raw));
    const stream = client.events();
    await client.connect(path);
    await client.closed;
    assert.deepEqual(raws, [failure, stop, unicode]);
    const [first, second] = [(await stream.next()).value, (await stream.next()).value];
    assert.equal(first?.raw, failure);
    // The parsed side still fills in the missing data; raw does not.
    assert.deepEqual(second?.data, {});
    assert.equal(second?.invalid, 'flagged for the test');
    assert.equal(second?.raw, stop);
  });

  test('a message split across reads or spread over lines: raw is still the exact text', async () => {
    const pretty = JSON.stringify(JSON.parse(failure), null, 2).replace(/\n/g, '\r\n');
    const unicodeBytes = Buffer.from(`${unicode}\r\n`, 'utf8');
    const cut = unicodeBytes.indexOf(Buffer.from('€', 'utf8')) + 1; // inside the euro sign
    const path = await scriptedServer([
      failure.slice(0, 50),
      `${failure.slice(50)}\r\n${stop.slice(0, 10)}`,
      `${stop.slice(10)}\r\n`,
      `${pretty}\r\n`,
      unicodeBytes.subarray(0, cut),
      unicodeBytes.subarray(cut),
      `  ${stop}${stop}\r\n`,
    ]);
    const client = new QmpClient();
    const raws: (string | undefined)[] = [];
    client.on('event', (ev) => raws.push(ev.raw));
    await client.connect(path);
    const info = await client.closed;
    assert.equal(info.reason, 'eof');
    assert.deepEqual(raws, [failure, stop, pretty, unicode, stop, stop]);
  });
});
