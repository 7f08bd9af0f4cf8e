/** The fleet's wire format and NATS addresses, as pure functions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decode,
  decodeContent,
  encode,
  type FailureRecord,
  hostToken,
  type LifecycleRecord,
  messageId,
  subjectOf,
} from '../../src/fleet/message.js';
import { parseNatsUrl, redactUrl } from '../../src/fleet/nats.js';
import { redactPgUrl } from '../../src/fleet/pg.js';
import { contentCode } from '../../src/agent/store-rows.js';
import { ACTIONS, RECIPIENTS } from '../../src/event/model.js';

const failure: FailureRecord = {
  memfail: 1,
  kind: 'failure',
  host: 'rack1.host-7.example',
  vm: 'web',
  content: 11,
  tsSeconds: 1_764_000_000,
  tsMicros: 5,
  receivedUs: 1_764_000_000_000_105,
  dialect: 'qemu',
  raw: '{"event": "MEMORY_FAILURE"}',
  error: null,
  dedup: '11',
};

const connected: LifecycleRecord = {
  memfail: 1,
  kind: 'lifecycle',
  host: 'h',
  vm: 'web',
  event: 'CONNECTED',
  tsSeconds: null,
  tsMicros: null,
  receivedUs: 7,
  data: null,
  dedup: 'received:7',
};

test('a record round-trips through its subject and bytes', () => {
  assert.equal(subjectOf(failure), 'memfail.rack1_host-7_example.failure');
  assert.deepEqual(decode(subjectOf(failure), encode(failure)), { ok: true, record: failure });
  assert.deepEqual(decode(subjectOf(connected), encode(connected)), {
    ok: true,
    record: connected,
  });
});

test('the message id is the record key: same key same id, any other member ignored', () => {
  assert.equal(messageId(failure), messageId({ ...failure, receivedUs: 1, raw: 'other' }));
  assert.notEqual(messageId(failure), messageId({ ...failure, tsMicros: 6 }));
  assert.notEqual(messageId(failure), messageId({ ...failure, host: 'other' }));
  assert.notEqual(messageId(failure), messageId({ ...failure, dedup: '3' }));
  assert.notEqual(messageId(connected), messageId({ ...connected, dedup: 'received:8' }));
});

test('host tokens never carry NATS wildcards or separators', () => {
  assert.equal(hostToken('a.b c*d>e'), 'a_b_c_d_e');
  assert.equal(hostToken(''), '_');
});

test('decode rejects, with a reason, whatever is not a record it can store', () => {
  const subject = subjectOf(failure);
  const reject = (s: string, body: string | Uint8Array) => {
    const d = decode(s, typeof body === 'string' ? Buffer.from(body) : body);
    assert.equal(d.ok, false);
    return d.ok ? null : [d.reason, d.detail];
  };
  assert.deepEqual(reject('other.subject', encode(failure))?.[0], 'not-ours');
  assert.deepEqual(reject(subject, '{"x": 1}')?.[0], 'not-ours');
  assert.deepEqual(reject(subject, '{"memfail": ')?.[0], 'malformed');
  assert.deepEqual(reject(subject, JSON.stringify({ ...failure, memfail: 2 })), [
    'newer-version',
    'format version 2, this collector reads 1',
  ]);
  assert.deepEqual(reject(subject, Buffer.alloc(70_000, 32))?.[0], 'oversized');
  assert.deepEqual(reject(subject, JSON.stringify({ ...failure, content: 32 })), [
    'malformed',
    'content not a 5-bit code',
  ]);
  assert.deepEqual(
    reject('memfail.h.failure', encode(failure))?.[1],
    'host missing or not the subject host',
  );
  assert.deepEqual(
    reject(subjectOf(connected).replace('lifecycle', 'failure'), encode(connected))?.[0],
    'malformed',
  );
  assert.deepEqual(reject(subjectOf(connected), JSON.stringify({ ...connected, event: 'BOOM' })), [
    'malformed',
    'unknown lifecycle event BOOM',
  ]);
});

test('decodeContent inverts the store content code for every canonical failure', () => {
  for (const recipient of RECIPIENTS)
    for (const action of ACTIONS)
      for (const actionRequired of [false, true])
        for (const recursive of [false, true]) {
          const f = { recipient, action, actionRequired, recursive };
          assert.deepEqual(decodeContent(contentCode(f)), f);
        }
});

test('NATS URLs: credentials go to the client only, never to what is printed', () => {
  const t = parseNatsUrl('nats://ops:s3cr%40t@nats1:4222,nats://nats2');
  assert.deepEqual(t.servers, ['nats1:4222', 'nats2:4222']);
  assert.equal(t.user, 'ops');
  assert.equal(t.pass, 's3cr@t');
  assert.equal(t.display, 'nats://nats1:4222,nats://nats2:4222');
  assert.equal(parseNatsUrl('tls://n:4443').tls, true);
  assert.throws(
    () => parseNatsUrl('http://u:pw@n'),
    /^NatsUrlError: http:\/\/n: only nats:\/\/ and tls:\/\/ URLs$/,
  );
  assert.equal(redactUrl('nats://u:pw@h:1'), 'nats://h:1');
  assert.equal(redactPgUrl('postgres://u:pw@db/x'), 'postgres://u:***@db/x');
});
