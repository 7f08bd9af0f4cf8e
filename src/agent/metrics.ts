/**
 * Prometheus metrics for the agent, served on `--metrics HOST:PORT` at
 * /metrics. Counters move when a batch commits and only for new rows, so a
 * replay after a reconnect or restart does not count twice.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommittedBatch } from './batch.js';
import type { GapObservation } from './records.js';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly failures = new Counter({
    name: 'memfail_memory_failures_total',
    help: 'MEMORY_FAILURE events recorded, by VM and canonical fields',
    labelNames: ['vm', 'recipient', 'action', 'action_required'] as const,
    registers: [this.registry],
  });
  private readonly invalid = new Counter({
    name: 'memfail_invalid_events_total',
    help: 'MEMORY_FAILURE events that failed validation (stored flagged)',
    labelNames: ['vm'] as const,
    registers: [this.registry],
  });
  private readonly lifecycle = new Counter({
    name: 'memfail_lifecycle_events_total',
    help: 'Lifecycle events recorded (RESET, SHUTDOWN, STOP, RESUME, GUEST_PANICKED, CONNECTED, DISCONNECTED)',
    labelNames: ['vm', 'event'] as const,
    registers: [this.registry],
  });
  private readonly connected = new Gauge({
    name: 'memfail_vm_connected',
    help: "1 while the agent holds the VM's QMP connection, else 0",
    labelNames: ['vm'] as const,
    registers: [this.registry],
  });
  private readonly reconnects = new Counter({
    name: 'memfail_reconnects_total',
    help: 'Connections to a VM after its first one (the VM restarted or went away)',
    labelNames: ['vm'] as const,
    registers: [this.registry],
  });
  private readonly lag = new Histogram({
    name: 'memfail_ingest_lag_seconds',
    help: "Time from QEMU's event timestamp to the agent receiving it",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
    registers: [this.registry],
  });
  private readonly alerts = new Counter({
    name: 'memfail_alert_deliveries_total',
    help: 'Alert delivery attempts, by sink kind and result',
    labelNames: ['sink', 'result'] as const,
    registers: [this.registry],
  });

  private readonly gaps = new Counter({
    name: 'memfail_gaps_total',
    help: 'Windows in which the record may be incomplete (agent killed, VM connection lost), by VM ("*": every VM) and reason',
    labelNames: ['vm', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly gapSeconds = new Counter({
    name: 'memfail_gap_seconds_total',
    help: 'Total length of those windows, in seconds',
    labelNames: ['vm', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly quarantined = new Counter({
    name: 'memfail_quarantined_total',
    help: 'Observations the database refused, set aside in the quarantine table',
    registers: [this.registry],
  });
  /** Where the dead letters are counted at each scrape (the dispatcher's store). */
  private deadSource: (() => readonly { readonly sink: string; readonly dead: number }[]) | null =
    null;
  private readonly deadAlerts: Gauge<'sink'> = new Gauge({
    name: 'memfail_alerts_dead',
    help: 'Alerts given up on (dead letters) per sink; memfail alerts retry sends them again',
    labelNames: ['sink'] as const,
    registers: [this.registry],
    // Counted when scraped: `memfail alerts retry` (another process) changes it too.
    collect: () => {
      if (this.deadSource === null) return;
      try {
        this.setDeadAlerts(this.deadSource());
      } catch {
        // The store is closing: keep the last figures.
      }
    },
  });

  /** Counts what a committed batch added. */
  observeCommitted(batch: CommittedBatch): void {
    const failures = new Map<string, { labels: Record<string, string>; n: number }>();
    batch.observations.forEach((obs, i) => {
      if (!batch.result.fresh[i]) return;
      if (obs.kind === 'lifecycle') {
        this.lifecycle.inc({ vm: obs.vm, event: obs.event });
        return;
      }
      if (obs.kind === 'gap') {
        this.countGap(obs);
        return;
      }
      if (obs.timestamp !== null) {
        const sentUs = obs.timestamp.seconds * 1_000_000 + obs.timestamp.microseconds;
        this.lag.observe(Math.max(0, obs.receivedUs - sentUs) / 1_000_000);
      }
      if (obs.error !== null) this.invalid.inc({ vm: obs.vm });
      if (obs.failure === null) return;
      const f = obs.failure;
      const key = `${obs.vm}\0${f.recipient}\0${f.action}\0${f.actionRequired}`;
      const entry = failures.get(key);
      if (entry) entry.n++;
      else {
        const labels = {
          vm: obs.vm,
          recipient: f.recipient,
          action: f.action,
          action_required: String(f.actionRequired),
        };
        failures.set(key, { labels, n: 1 });
      }
    });
    for (const { labels, n } of failures.values()) this.failures.inc(labels, n);
  }

  setConnected(vm: string, connected: boolean): void {
    this.connected.set({ vm }, connected ? 1 : 0);
  }

  countReconnect(vm: string): void {
    this.reconnects.inc({ vm });
  }

  countAlert(sink: 'webhook' | 'command', result: 'delivered' | 'failed' | 'dead'): void {
    this.alerts.inc({ sink, result });
  }

  countGap(gap: GapObservation): void {
    const labels = { vm: gap.vm ?? '*', reason: gap.reason };
    this.gaps.inc(labels);
    this.gapSeconds.inc(labels, Math.max(0, gap.toUs - gap.fromUs) / 1_000_000);
  }

  countQuarantined(): void {
    this.quarantined.inc();
  }

  /** Dead letters per sink id, as the store counts them. */
  setDeadAlerts(bySink: readonly { readonly sink: string; readonly dead: number }[]): void {
    for (const { sink, dead } of bySink) this.deadAlerts.set({ sink }, dead);
  }

  /** Counts dead letters with `source` at every scrape from now on. */
  countDeadAlertsWith(
    source: () => readonly { readonly sink: string; readonly dead: number }[],
  ): void {
    this.deadSource = source;
  }
}

export interface MetricsListen {
  readonly host: string;
  readonly port: number;
}

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` or `PORT`; the host defaults to loopback. */
export function parseMetricsListen(text: string): MetricsListen {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?([0-9]{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new Error(`invalid --metrics address '${text}': expected HOST:PORT, [IPV6]:PORT or PORT`);
  }
  const host = match[1] ?? (match[2] || '127.0.0.1');
  return { host, port };
}

export interface MetricsServer {
  /** The bound address as HOST:PORT (the real port when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics; anything else is 404. */
export async function serveMetrics(
  metrics: { readonly registry: Registry },
  listen: MetricsListen,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
