/**
 * Publishing to JetStream with the acknowledgements of many messages
 * gathered on one inbox subscription. JetStream acknowledges a message it
 * stored by replying to the message's reply subject; @nats-io/jetstream's
 * publish() makes a request of each message, with a promise, a timer and an
 * error object (built even when the request succeeds) apiece: a third of a
 * publisher's CPU (BENCHMARKS.md, the fleet section). Here each message is
 * published with the library's core publish() and a reply subject
 * `<inbox>.<n>`, one subscription hears every ack, and a chunk has one
 * promise and one timer.
 */
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

export interface Outgoing {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The Nats-Msg-Id header: JetStream drops a second message with the same id. */
  readonly msgId: string;
}

export class JetStreamAckError extends Error {
  override name = 'JetStreamAckError';
}

interface Chunk {
  left: number;
  readonly ids: number[];
  readonly timer: NodeJS.Timeout;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class AckedPublisher {
  private readonly prefix = createInbox();
  private readonly subscription: Subscription;
  private next = 0;
  /** Reply number → the chunk waiting for it. */
  private readonly waiting = new Map<number, Chunk>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.subscription = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => this.onReply(err, msg),
    });
  }

  /**
   * Publishes `messages`; resolves once JetStream acknowledged every one
   * (stored, or dropped as a duplicate of its id), rejects at the first
   * refusal, a missing stream, or no ack within the timeout.
   */
  publishAll(messages: readonly Outgoing[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const chunk: Chunk = {
        left: messages.length,
        ids: [],
        timer: setTimeout(
          () => this.fail(chunk, new JetStreamAckError(`no ack within ${this.timeoutMs} ms`)),
          this.timeoutMs,
        ),
        resolve,
        reject,
      };
      try {
        for (const m of messages) {
          const id = this.next++;
          chunk.ids.push(id);
          this.waiting.set(id, chunk);
          const h = headers();
          h.set('Nats-Msg-Id', m.msgId);
          this.nc.publish(m.subject, m.data, { headers: h, reply: `${this.prefix}.${id}` });
        }
      } catch (err) {
        this.fail(chunk, err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Stops listening; chunks still waiting fail. */
  close(): void {
    this.subscription.unsubscribe();
    for (const chunk of new Set(this.waiting.values())) {
      this.fail(chunk, new JetStreamAckError('publisher closed'));
    }
  }

  private onReply(err: Error | null, msg: Msg): void {
    const id = Number(msg?.subject?.slice(this.prefix.length + 1));
    const chunk = this.waiting.get(id);
    if (chunk === undefined) return; // late, after its chunk failed
    const refusal = err ?? refusalIn(msg);
    if (refusal !== null) {
      this.fail(chunk, refusal);
      return;
    }
    this.waiting.delete(id);
    if (--chunk.left === 0) {
      clearTimeout(chunk.timer);
      chunk.resolve();
    }
  }

  private fail(chunk: Chunk, err: Error): void {
    clearTimeout(chunk.timer);
    for (const id of chunk.ids) this.waiting.delete(id);
    chunk.reject(err);
  }
}

/** Why a reply is not an ack, or null for an ack ({"stream":…,"seq":…}). */
function refusalIn(msg: Msg): Error | null {
  if (msg.data.length === 0 && msg.headers?.code === 503) {
    return new JetStreamAckError('no stream stores the subject (no responders)');
  }
  const text = msg.string();
  if (!text.includes('"error"')) return null;
  let why = text;
  try {
    why = (JSON.parse(text) as { error?: { description?: string } }).error?.description ?? text;
  } catch {
    // not JSON: say what came
  }
  return new JetStreamAckError(`JetStream refused a message: ${why}`);
}
