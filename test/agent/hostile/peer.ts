/**
 * A QMP peer that sends whatever it is told: any bytes, any JSON, at any pace.
 * It greets and answers commands like QEMU (enough for a client to get to
 * events), then plays a script per connection. Nothing here checks what it
 * sends: that is the point.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** One step of a script. */
export type Step =
  /** Write these bytes at once. */
  | { readonly kind: 'write'; readonly bytes: Buffer }
  /** Write these bytes a few at a time, pausing between. */
  | {
      readonly kind: 'trickle';
      readonly bytes: Buffer;
      readonly chunk: number;
      readonly pauseMs: number;
    }
  | { readonly kind: 'pause'; readonly ms: number }
  /** Hang up abruptly (RST), whatever is half written. */
  | { readonly kind: 'reset' }
  /** Close the write side normally. */
  | { readonly kind: 'end' };

export const GREETING = `${JSON.stringify({
  QMP: {
    version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'hostile' },
    capabilities: [],
  },
})}\r\n`;

export interface HostilePeer {
  readonly address: string;
  /** Plays `steps` on the next client once it negotiated; resolves when they are played. */
  play(steps: readonly Step[]): Promise<void>;
  /** How many clients have negotiated so far. */
  readonly sessions: number;
  close(): Promise<void>;
}

export async function startHostilePeer(path: string): Promise<HostilePeer> {
  const sockets = new Set<Socket>();
  let sessions = 0;
  let ready: ((s: Socket) => void)[] = [];
  const negotiated: Socket[] = [];

  /** Per socket: resolves once the client asked its first command after negotiating. */
  const asked = new WeakMap<Socket, Promise<void>>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let markAsked!: () => void;
    asked.set(socket, new Promise<void>((r) => (markAsked = r)));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(GREETING);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (line === '') continue;
        let request: { execute?: string; id?: unknown };
        try {
          request = JSON.parse(line) as typeof request;
        } catch {
          continue;
        }
        const id = request.id === undefined ? '' : `, "id": ${JSON.stringify(request.id)}`;
        if (request.execute === 'qmp_capabilities') {
          socket.write(`{"return": {}${id}}\r\n`);
          sessions++;
          const waiter = ready.shift();
          if (waiter) waiter(socket);
          else negotiated.push(socket);
        } else {
          // Like a QEMU without the command: the client learns nothing from it.
          socket.write(
            `{"error": {"class": "CommandNotFound", "desc": "The command ${String(request.execute)} has not been found"}${id}}\r\n`,
          );
          markAsked();
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });

  const nextSocket = (): Promise<Socket> => {
    const s = negotiated.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => ready.push(resolve));
  };

  async function run(socket: Socket, steps: readonly Step[]): Promise<void> {
    // Let the client ask (and be refused) its schema question first: a peer
    // that hangs up while the client writes makes the client's write fail
    // (EPIPE), and Node then drops what was still unread (see the harness).
    await Promise.race([asked.get(socket), sleep(2000)]);
    await sleep(5);
    for (const step of steps) {
      if (socket.destroyed) return;
      switch (step.kind) {
        case 'write':
          await write(socket, step.bytes);
          break;
        case 'trickle':
          for (let i = 0; i < step.bytes.length; i += step.chunk) {
            if (socket.destroyed) return;
            await write(socket, step.bytes.subarray(i, i + step.chunk));
            await sleep(step.pauseMs);
          }
          break;
        case 'pause':
          await sleep(step.ms);
          break;
        case 'reset':
          // An RST on TCP; on a Unix socket (no RST) an abrupt close.
          try {
            socket.resetAndDestroy();
          } catch {
            socket.destroy();
          }
          return;
        case 'end':
          await new Promise<void>((r) => socket.end(r));
          return;
      }
    }
  }

  return {
    address: `unix:${path}`,
    get sessions() {
      return sessions;
    },
    async play(steps) {
      const socket = await nextSocket();
      await run(socket, steps);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        ready = [];
        server.close(() => resolve());
      }),
  };
}

function write(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(bytes, () => resolve());
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
