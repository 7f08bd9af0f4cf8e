// One host's publisher for bench/fleet.mjs: publishes the agent database DB
// to NATS as HOST until nothing is left, then exits (what `memfail watch
// --publish` runs beside the agent).
//
//   node bench/fleet-publish.mjs DB NATS_URL HOST
import { Publisher } from '../dist/src/fleet/publisher.js';
import { DEFAULT_STREAM, parseNatsUrl } from '../dist/src/fleet/nats.js';

const [db, url, host] = process.argv.slice(2);
const publisher = new Publisher(db, parseNatsUrl(url), { host, stream: DEFAULT_STREAM });
publisher.start();
const ok = await publisher.flush(600_000);
await publisher.stop();
process.exit(ok ? 0 : 1);
