// Events received per second from one QMP server, three receivers side by side:
//   memfail QmpClient (listener, and async iterator), QEMU's Python client
//   (qemu.qmp), and a naive newline-split JSON.parse loop (the floor).
//
//   npx tsc -p tsconfig.json && node bench/qmp-events.mjs [--events N] [--rounds R]
//
// The emitter is a separate process (so it never shares an event loop with a
// receiver): a raw unix-socket writer that sends QEMU's greeting, answers
// qmp_capabilities, then writes N MEMORY_FAILURE events exactly as QEMU frames
// them (one per line, CRLF), respecting backpressure. Every receiver talks to
// the same emitter; each times from its first event to its N-th. Rounds
// alternate the receivers; the median rate per receiver is reported.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPython, pythonVersion } from './python.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "bench"}, "capabilities": ["oob"]}}\r\n';
const EVENT =
  '{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "MEMORY_FAILURE", "data": {"flags": {"recursive": false, "action-required": true}, "recipient": "guest", "action": "inject"}}\r\n';

if (process.argv[2] === 'emitter') {
  // Child: serve every connection with greeting, negotiation, then N events.
  const [, , , path, countText] = process.argv;
  const count = Number(countText);
  const block = Buffer.from(EVENT.repeat(256));
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.write(GREETING);
    let input = '';
    socket.on('data', (d) => {
      // qemu.qmp sends requests without a newline: wait for one whole JSON object.
      input += d.toString();
      let request;
      try {
        request = JSON.parse(input);
      } catch {
        return;
      }
      input = '';
      if (request.execute !== 'qmp_capabilities') return;
      socket.write(`${JSON.stringify({ return: {}, id: request.id })}\r\n`);
      let left = count;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(256, left);
          left -= n;
          const ok = socket.write(n === 256 ? block : block.subarray(0, n * EVENT.length));
          if (!ok) return void socket.once('drain', pump);
        }
      };
      pump();
    });
  });
  server.listen(path, () => process.stdout.write('ready\n'));
} else {
  await runBench();
}

async function runBench() {
  const events = arg('--events', 200_000);
  const rounds = arg('--rounds', 3);
  const pyEvents = arg('--py-events', Math.min(events, 50_000));
  const dir = mkdtempSync(join(tmpdir(), 'memfail-bench-'));
  const path = join(dir, 'qmp.sock');
  const emitterFor = async (tag, n) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), 'emitter', path + tag, String(n)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((r) => child.stdout.once('data', r));
    return { child, path: path + tag };
  };
  const { QmpClient } = await import(join(root, 'dist/src/qmp/index.js'));

  const receivers = {
    'naive split + JSON.parse': (addr, n) =>
      new Promise((resolveRun, reject) => {
        const socket = connect(addr);
        socket.setEncoding('utf8');
        let buffer = '';
        let got = 0;
        let start = 0;
        let negotiated = false;
        socket.on('error', reject);
        socket.on('data', (text) => {
          buffer += text;
          const lines = buffer.split('\n');
          buffer = lines.pop();
          for (const line of lines) {
            const msg = JSON.parse(line);
            if (msg.event !== undefined) {
              if (got++ === 0) start = performance.now();
              if (got === n) {
                const ms = performance.now() - start;
                socket.destroy();
                resolveRun(ms);
                return;
              }
            } else if (!negotiated && msg.QMP !== undefined) {
              negotiated = true;
              socket.write('{"execute": "qmp_capabilities", "id": 1}\n');
            }
          }
        });
      }),
    'memfail QmpClient (on event)': async (addr, n) => {
      const client = new QmpClient();
      let got = 0;
      let start = 0;
      let done;
      const finished = new Promise((r) => (done = r));
      client.on('event', () => {
        if (got++ === 0) start = performance.now();
        if (got === n) done(performance.now() - start);
      });
      await client.connect(`unix:${addr}`);
      const ms = await finished;
      await client.close();
      return ms;
    },
    'memfail QmpClient (for await)': async (addr, n) => {
      const client = new QmpClient();
      const stream = client.events();
      // Start the clock when the first event arrives, not when the loop first
      // sees it: by then more may already be queued.
      let start = 0;
      const off = client.on('event', () => {
        start = performance.now();
        off();
      });
      await client.connect(`unix:${addr}`);
      let got = 0;
      for await (const _ev of stream) {
        if (++got === n) break;
      }
      const ms = performance.now() - start;
      await client.close();
      return ms;
    },
    'qemu.qmp (QEMU 7.2 Python client)': async (addr, n) => {
      const out = execFileSync(peerPython(), [join(here, 'qmp_events_qemu.py'), addr, String(n)], {
        env: { ...process.env, PYTHONPATH: join(root, '.cache/qemu-src/qemu-7.2.0/python') },
        encoding: 'utf8',
      });
      return JSON.parse(out.trim().split('\n').pop()).seconds * 1000;
    },
  };

  const rates = Object.fromEntries(Object.keys(receivers).map((k) => [k, []]));
  const big = await emitterFor('node', events);
  const small = await emitterFor('python', pyEvents);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, receive] of Object.entries(receivers)) {
        const isPython = name.startsWith('qemu.qmp');
        const n = isPython ? pyEvents : events;
        const ms = await receive(isPython ? small.path : big.path, n);
        rates[name].push(n / (ms / 1000));
      }
    }
  } finally {
    big.child.kill();
    small.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const floor = median(rates['naive split + JSON.parse']);
  const py = median(rates['qemu.qmp (QEMU 7.2 Python client)']);
  console.log(
    `events: ${events} (qemu.qmp: ${pyEvents}), rounds: ${rounds}, node ${process.version}, ${pythonVersion(peerPython())} (${peerPython()})`,
  );
  console.log('| receiver | events/s (median) | vs naive floor | vs qemu.qmp |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, xs] of Object.entries(rates)) {
    const r = median(xs);
    console.log(
      `| ${name} | ${Math.round(r).toLocaleString('en-US')} | ${(r / floor).toFixed(2)}x | ${(r / py).toFixed(1)}x |`,
    );
  }
}
