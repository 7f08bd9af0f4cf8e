/**
 * Fleet records from the agent tests' observations, as a publisher would
 * send them, for loading a fleet database through storeRecords() without NATS.
 */
import type { FailureObservation, LifecycleObservation } from '../../src/agent/records.js';
import { contentCode } from '../../src/agent/store-rows.js';
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
