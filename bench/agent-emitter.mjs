// A fast QMP endpoint for the agent benchmarks: greets, negotiates, answers
// every other command with an empty return, then writes COUNT MEMORY_FAILURE
// events (pre-serialised, distinct timestamps) as fast as the client takes
// them, and hangs up: a VM that exits right after its last event.
//
// Plain node:net on purpose: the benchmark measures the receiving side, so the
// sender must cost as little as possible and the same for every contender.
import { createServer } from 'node:net';

const GREETING = `${JSON.stringify({
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'bench' }, capabilities: [] },
})}\r\n`;

// In QEMU 7.2's member order: its dictionaries print in hash order, which for
// MEMORY_FAILURE's data is flags (recursive, action-required), recipient,
// action (as the real QEMU sends it, see test/agent/qemu.test.ts).
const kind = (recipient, action, ar, recursive) => ({
  flags: { recursive, 'action-required': ar },
  recipient,
  action,
});
const KINDS = [
  kind('guest', 'inject', true, false),
  kind('guest', 'inject', false, false),
  kind('hypervisor', 'ignore', false, false),
  kind('guest', 'reset', true, true),
];

/** JSON as QEMU's QMP writer prints it: a space after every `:` and `,`. */
function qemuJson(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${qemuJson(v)}`);
  return `{${members.join(', ')}}`;
}

export const BASE_SECONDS = 1_764_000_000;

/**
 * COUNT event lines as one buffer, byte for byte as QEMU 7.2 writes them;
 * event i has timestamp base + i µs.
 */
export function eventStream(count, baseSeconds = BASE_SECONDS) {
  const lines = [];
  for (let i = 0; i < count; i++) {
    const timestamp = {
      seconds: baseSeconds + Math.floor(i / 1_000_000),
      microseconds: i % 1_000_000,
    };
    lines.push(`${qemuJson({ timestamp, event: 'MEMORY_FAILURE', data: KINDS[i % 4] })}\r\n`);
  }
  return Buffer.from(lines.join(''));
}

/**
 * Splits a byte stream into top-level JSON objects (clients need not end them
 * with a newline: QEMU's Python client does not). Enough for commands.
 */
function jsonObjects(onObject) {
  let buf = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = 0;
  return (chunk) => {
    const from = buf.length;
    buf += chunk.toString();
    for (let i = from; i < buf.length; i++) {
      const c = buf[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && --depth === 0) {
        onObject(JSON.parse(buf.slice(start, i + 1)));
      }
    }
    if (depth === 0) buf = '';
    else {
      buf = buf.slice(start);
      start = 0;
    }
  };
}

/**
 * Serves `stream` to each client after negotiation. With `keepOpen`, the
 * connection stays up after the last event (until `end()`).
 */
export function serveEvents(stream, { keepOpen = false } = {}) {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(GREETING);
    let streaming = false;
    const commands = jsonObjects((cmd) => {
      // Commands after the last event (the agent's query-qmp-schema) find the VM gone.
      if (socket.writableEnded) return;
      const id = cmd.id === undefined ? {} : { id: cmd.id };
      const ret = cmd.execute === 'query-qmp-schema' ? [] : {};
      socket.write(`${JSON.stringify({ return: ret, ...id })}\r\n`);
      if (cmd.execute === 'qmp_capabilities' && !streaming) {
        streaming = true;
        if (keepOpen) socket.write(stream);
        else socket.end(stream);
      }
    });
    socket.on('data', commands);
  });
  return {
    server,
    listen: (path) => new Promise((resolve) => server.listen(path, resolve)),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.end();
        server.close(() => resolve());
      }),
  };
}
