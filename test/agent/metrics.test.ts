import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BatchWriter } from '../../src/agent/batch.js';
import { AgentMetrics, parseMetricsListen, serveMetrics } from '../../src/agent/metrics.js';
import { Store } from '../../src/agent/store.js';
import { failure, invalidFailure, lifecycle, tempDir } from './fixtures.js';

describe('metrics', () => {
  test('committed events are scraped over HTTP; replays do not count twice', async () => {
    const { dir, cleanup } = tempDir();
    const store = Store.open(join(dir, 'events.db'));
    const metrics = new AgentMetrics();
    const writer = new BatchWriter(store, { maxEvents: 1000, maxDelayMs: 60_000 });
    writer.onCommitted((b) => metrics.observeCommitted(b));
    const server = await serveMetrics(metrics, parseMetricsListen('127.0.0.1:0'));
    try {
      const batch = [
        failure('vm1', 1, { action: 'inject', actionRequired: true }),
        failure('vm1', 2, { action: 'inject', actionRequired: true }),
        failure('vm2', 3, { recipient: 'hypervisor', action: 'fatal', actionRequired: true }),
        invalidFailure('vm2', 4, { event: 'MEMORY_FAILURE', data: {} }),
        lifecycle('vm1', 'RESET', 5),
      ];
      for (const obs of [...batch, ...batch]) writer.push(obs);
      writer.flush();
      metrics.setConnected('vm1', true);
      metrics.setConnected('vm2', false);
      metrics.countReconnect('vm2');

      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(server.url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const body = await res.text();
      const line = (s: string) => assert.ok(body.includes(s), `missing ${s} in\n${body}`);
      line(
        'memfail_memory_failures_total{vm="vm1",recipient="guest",action="inject",action_required="true"} 2',
      );
      line(
        'memfail_memory_failures_total{vm="vm2",recipient="hypervisor",action="fatal",action_required="true"} 1',
      );
      line('memfail_invalid_events_total{vm="vm2"} 1');
      line('memfail_lifecycle_events_total{vm="vm1",event="RESET"} 1');
      line('memfail_vm_connected{vm="vm1"} 1');
      line('memfail_vm_connected{vm="vm2"} 0');
      line('memfail_reconnects_total{vm="vm2"} 1');
      // Four events carried a timestamp; the fixtures arrive 100 µs after it.
      line('memfail_ingest_lag_seconds_count 4');
      line('memfail_ingest_lag_seconds_bucket{le="0.001"} 4');

      const other = await fetch(server.url.replace('/metrics', '/'));
      assert.equal(other.status, 404);
      await other.text();
    } finally {
      await server.close();
      writer.close();
      store.close();
      cleanup();
    }
  });

  test('--metrics address forms default to loopback and reject junk', () => {
    assert.deepEqual(parseMetricsListen('9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsListen(':9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsListen('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseMetricsListen('[::1]:9100'), { host: '::1', port: 9100 });
    assert.throws(() => parseMetricsListen('host:99999'), /invalid --metrics address/);
    assert.throws(() => parseMetricsListen('host:'), /invalid --metrics address/);
    assert.throws(() => parseMetricsListen('a:b:1'), /invalid --metrics address/);
  });
});
