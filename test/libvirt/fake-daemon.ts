/**
 * A scripted libvirt peer on a temporary unix socket, for the client's unit
 * tests: it answers AUTH_LIST and CONNECT_OPEN like libvirtd (unless told
 * otherwise), then hands every later packet to the test's `onCall`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtFramer } from '../../src/libvirt/framing.js';
import {
  encodePacket,
  type PacketHeader,
  PROTOCOL_VERSION,
  type RawHeader,
  REMOTE_PROGRAM,
} from '../../src/libvirt/packet.js';
import { authList } from '../../src/libvirt/types.js';
import { encode } from '../../src/libvirt/xdr.js';

export interface FakeCall {
  readonly header: RawHeader;
  readonly body: Buffer;
  readonly socket: Socket;
}

export interface FakeDaemon {
  readonly path: string;
  /** Every packet received after CONNECT_OPEN, keepalives included. */
  readonly received: RawHeader[];
  readonly sockets: Socket[];
  close(): Promise<void>;
}

export interface FakeOptions {
  /** AUTH_LIST's answer (default [0], NONE). */
  readonly authTypes?: readonly number[];
  onCall?(call: FakeCall): void;
}

export function reply(
  call: FakeCall,
  body: Buffer = Buffer.alloc(0),
  overrides: Partial<PacketHeader> = {},
): void {
  call.socket.write(
    encodePacket(
      {
        program: call.header.program,
        version: PROTOCOL_VERSION,
        procedure: call.header.procedure,
        type: 'reply',
        serial: call.header.serial,
        status: 'ok',
        ...overrides,
      },
      body,
    ),
  );
}

export function message(
  socket: Socket,
  header: Partial<PacketHeader>,
  body: Buffer = Buffer.alloc(0),
): void {
  socket.write(
    encodePacket(
      {
        program: REMOTE_PROGRAM,
        version: PROTOCOL_VERSION,
        procedure: 0,
        type: 'message',
        serial: 0,
        status: 'ok',
        ...header,
      },
      body,
    ),
  );
}

export async function fakeDaemon(options: FakeOptions = {}): Promise<FakeDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'memfail-fake-libvirtd-'));
  const path = join(dir, 'sock');
  const received: RawHeader[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const framer = new LibvirtFramer({
      packet: (header, body) => {
        const call = { header, body: Buffer.from(body), socket };
        if (header.program === REMOTE_PROGRAM && header.procedure === 66) {
          reply(call, encode(authList, { types: [...(options.authTypes ?? [0])] }));
          return;
        }
        if (header.program === REMOTE_PROGRAM && header.procedure === 1) {
          reply(call);
          return;
        }
        received.push(header);
        options.onCall?.(call);
      },
      error: () => socket.destroy(),
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    received,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
