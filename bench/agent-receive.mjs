// Reference contender for bench/agent-ingest.mjs: memfail's own QmpClient
// merely receiving COUNT events (no validation, no storage) — the floor the
// agent's ingest stands on, to compare with QEMU's Python client doing the same.
//
//   node bench/agent-receive.mjs SOCKET COUNT
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { QmpClient } = await import(join(root, 'dist/src/qmp/client.js'));
const [path, countText] = process.argv.slice(2);
const count = Number(countText);
const client = new QmpClient();
let received = 0;
const all = new Promise((resolve) => {
  client.on('event', () => {
    if (++received === count) resolve();
  });
});
await client.connect(`unix:${path}`);
await Promise.race([all, client.closed]);
await client.close();
console.log(received);
