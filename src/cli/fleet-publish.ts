/** `memfail watch --publish`: the publisher beside the agent, and its backlog metric. */
import { hostname } from 'node:os';
import { Gauge, type Registry } from 'prom-client';
import { Publisher } from '../fleet/publisher.js';
import type { WatchFlags } from './agent.js';
import { natsTarget, streamSettings } from './fleet-collect.js';
import { UsageError } from './io.js';

export function startPublisher(
  path: string,
  opts: WatchFlags & { publish: string },
  log: (line: string) => void,
  registry: Registry | undefined,
): Publisher {
  const host = opts.host ?? hostname();
  if (!/^[A-Za-z0-9_.:-]+$/.test(host)) {
    throw new UsageError(`--host '${host}': letters, digits, '.', '-', '_' and ':' only`);
  }
  const target = natsTarget(opts.publish, opts);
  const publisher = new Publisher(path, target, { host, stream: streamSettings(opts), log });
  if (registry !== undefined) {
    new Gauge({
      name: 'memfail_fleet_backlog_events',
      help: 'Recorded events not yet acknowledged by JetStream (kept on disk until they are)',
      registers: [registry],
      // Counted when scraped: right even while NATS has never been reached.
      collect() {
        if (publisher.state !== 'stopped') this.set(publisher.backlog());
      },
    });
  }
  log(`publishing as host ${host} to ${target.display}`);
  publisher.start();
  return publisher;
}
