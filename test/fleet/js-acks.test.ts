/**
 * AckedPublisher against a real nats-server with JetStream: a chunk resolves
 * once every message is stored (a repeated Nats-Msg-Id is acked, not stored
 * twice); it rejects, with a reason, when no stream takes the subject, when
 * JetStream refuses, or when nothing acknowledges in time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckedPublisher, JetStreamAckError } from '../../src/fleet/js-acks.js';
import { type NatsServer, startNats } from './services.js';

let nats: NatsServer;
let nc: NatsConnection;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ACKS', subjects: ['acks.>'] });
});

after(async () => {
  await nc?.close();
  await nats?.dispose();
});

const data = (s: string) => new TextEncoder().encode(s);

test('a chunk resolves once every message is stored; a repeated id is acked once stored', async () => {
  const acks = new AckedPublisher(nc, 5000);
  const messages = Array.from({ length: 500 }, (_, i) => ({
    subject: `acks.a${i % 7}`,
    data: data(`m${i}`),
    msgId: `id-${i}`,
  }));
  await acks.publishAll(messages);
  await acks.publishAll(messages.slice(0, 10)); // duplicates: acked, dropped
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('ACKS');
  assert.equal(info.state.messages, 500);
  assert.equal(info.state.last_seq, 500);
  acks.close();
});

test('no stream for the subject: the chunk fails at once, saying so', async () => {
  const acks = new AckedPublisher(nc, 5000);
  const started = Date.now();
  await assert.rejects(
    acks.publishAll([{ subject: 'nowhere.x', data: data('x'), msgId: 'n1' }]),
    (err: unknown) => err instanceof JetStreamAckError && /no stream stores/.test(err.message),
  );
  assert.ok(Date.now() - started < 2000);
  acks.close();
});

test('JetStream refusing a message fails the chunk with its reason', async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 16 });
  const acks = new AckedPublisher(nc, 5000);
  await assert.rejects(
    acks.publishAll([{ subject: 'small.x', data: data('x'.repeat(100)), msgId: 's1' }]),
    (err: unknown) =>
      err instanceof JetStreamAckError && /JetStream refused a message: .*size/i.test(err.message),
  );
  acks.close();
});

test('nothing acknowledging in time fails the chunk; a late ack changes nothing', async () => {
  const silent = nc.subscribe('quiet.>'); // a responder that never replies
  const acks = new AckedPublisher(nc, 300);
  await assert.rejects(
    acks.publishAll([{ subject: 'quiet.x', data: data('x'), msgId: 'q1' }]),
    (err: unknown) => err instanceof JetStreamAckError && /no ack within 300 ms/.test(err.message),
  );
  silent.unsubscribe();
  acks.close();
});
