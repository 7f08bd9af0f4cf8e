/**
 * Fleet records from the agent tests' observations, as a publisher would
 * send them, for loading a fleet database through storeRecords() without NATS.
 */
import type { FailureObservation, LifecycleObservation } from '../../src/agent/records.js';
import { contentCode } from '../../src/agent/store-rows.js';
import type { Sql } from '../../src/fleet/pg.js';
import {
  FORMAT_VERSION,
  type FailureRecord,
  type LifecycleRecord,
} from '../../src/fleet/message.js';

export function failureRecord(host: string, o: FailureObservation): FailureRecord {
  const content = o.failure === null ? null : contentCode(o.failure);
  return {
    memfail: FORMAT_VERSION,
    kind: 'failure',
    host,
    vm: o.vm,
    content,
    tsSeconds: o.timestamp?.seconds ?? -1,
    tsMicros: o.timestamp?.microseconds ?? -1,
    receivedUs: o.receivedUs,
    dialect: o.dialect,
    raw: JSON.stringify(o.message),
    error: o.error,
    dedup: String(content ?? 'x'),
  };
}

export function lifecycleRecord(host: string, o: LifecycleObservation): LifecycleRecord {
  return {
    memfail: FORMAT_VERSION,
    kind: 'lifecycle',
    host,
    vm: o.vm,
    event: o.event,
    tsSeconds: o.timestamp?.seconds ?? null,
    tsMicros: o.timestamp?.microseconds ?? null,
    receivedUs: o.receivedUs,
    data: JSON.stringify(o.data),
    dedup: `received:${o.receivedUs}`,
  };
}

/**
 * `n` older failures (one a second from 1764000000) over 500 hosts `h0`…
 * and 7 VMs each, straight into memory_failure: enough rows that a plan
 * scanning the table would cost more than one using an index.
 */
export async function insertOlderFailures(sql: Sql, n = 50_000): Promise<void> {
  await sql`INSERT INTO memory_failure (host, vm, recipient, action, action_required, recursive,
      ts_seconds, ts_micros, seen_us, received_us, dialect, raw, valid, dedup)
    SELECT 'h' || (i % 500), 'vm' || (i % 7), 'guest', 'inject', false, false,
      1764000000 + i, 0, (1764000000 + i)::bigint * 1000000, (1764000000 + i)::bigint * 1000000,
      'qemu', '{}', true, '3'
    FROM generate_series(1, ${n}::int) AS i`;
}
