// The Node floor for bench/libvirt-burst.mjs: memfail's own libvirt client
// (src/libvirt) registered for MEMORY_FAILURE (event 25), merely counting —
// what bench/libvirt_count.py does with libvirt's Python binding.
//   node bench/libvirt_count.mjs COUNT URI [DOMAIN]
// (DOMAIN: that domain's events alone; else every domain's.)
// Prints "ready" once registered, then "COUNT EPOCH_SECONDS_OF_THE_LAST", and
// exits when its stdin closes (so that the bench can read its CPU time first).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { LibvirtClient, REMOTE, DOMAIN_EVENT_ID } = await import(
  join(root, 'dist/src/libvirt/index.js')
);

const want = Number(process.argv[2]);
const uri = process.argv[3];
const domainName = process.argv[4] ?? null;
const socket = '/var/run/libvirt/libvirt-sock';
let count = 0;
let last = 0;
const client = new LibvirtClient();
client.on('event', (ev) => {
  if (ev.name !== 'memoryFailure') return;
  count++;
  if (count === want) {
    last = Date.now() / 1000;
    console.log(`${count} ${last}`);
  }
});
await client.connect(socket, { uri });
const dom =
  domainName === null
    ? null
    : (await client.call(REMOTE.domainLookupByName, { name: domainName })).dom;
await client.call(REMOTE.connectDomainEventCallbackRegisterAny, {
  eventID: DOMAIN_EVENT_ID.memoryFailure,
  dom,
});
console.log('ready');
process.stdin.resume();
process.stdin.on('end', () => client.close().then(() => process.exit(0)));
