// The floor under bench/agent-ingest.mjs: connect to the QMP socket, negotiate,
// and count the lines that arrive until the server hangs up. No parsing, no
// storage: what reading the stream alone costs a node process.
//
//   node bench/agent-floor.mjs SOCKET COUNT     (prints the events counted)
import { connect } from 'node:net';

const [path, countText] = process.argv.slice(2);
const socket = connect(path);
let lines = 0;
let negotiated = false;
socket.on('data', (chunk) => {
  if (!negotiated) {
    // The greeting: answer it, then count whatever follows.
    negotiated = true;
    socket.write('{"execute": "qmp_capabilities"}\r\n');
    return;
  }
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
});
socket.on('end', () => {
  // One of the lines is the answer to qmp_capabilities.
  const events = lines - 1;
  process.stdout.write(`${events}\n`);
  process.exitCode = events === Number(countText) ? 0 : 1;
});
