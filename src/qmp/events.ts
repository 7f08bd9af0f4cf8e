/**
 * Event delivery shared by QmpClient and the reconnecting helper: a set of
 * subscribers, each with an optional name filter, fed synchronously in
 * arrival order; and an async-iterator view that queues for a slow consumer.
 *
 *   const hub = new EventHub<Ev>();
 *   const off = hub.subscribe((ev) => ..., ['STOP', 'RESUME']);
 *   for await (const ev of hub.stream({ names: ['MEMORY_FAILURE'] })) ...
 *   hub.endStreams();  // every open stream finishes once drained
 */

export interface EventFilter<Name extends string = string> {
  /** Only these event names (all events when absent or empty). */
  readonly names?: readonly Name[];
}

export interface StreamOptions<Name extends string = string> extends EventFilter<Name> {
  /** Ends the stream (after what is already queued) when aborted. */
  readonly signal?: AbortSignal;
}

interface Subscriber<T> {
  readonly names: ReadonlySet<string> | null;
  readonly fn: (ev: T) => void;
}

export class EventHub<T extends { readonly event: string }> {
  private subscribers: Subscriber<T>[] = [];
  private readonly streamEnders = new Set<() => void>();

  get subscriberCount(): number {
    return this.subscribers.length;
  }

  subscribe(fn: (ev: T) => void, names?: readonly string[]): () => void {
    const sub: Subscriber<T> = { fn, names: names && names.length > 0 ? new Set(names) : null };
    // Copy on write: dispatch iterates a snapshot, so (un)subscribing from a listener is safe.
    this.subscribers = [...this.subscribers, sub];
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== sub);
    };
  }

  /** Hands one event to every matching subscriber, in subscription order. */
  dispatch(ev: T): void {
    const subs = this.subscribers;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      if (sub.names !== null && !sub.names.has(ev.event)) continue;
      try {
        sub.fn(ev);
      } catch (err) {
        // A failing listener must not break the protocol state; surface it like
        // an EventEmitter listener error would, outside our call stack.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Finishes every open stream once its queue is drained. */
  endStreams(): void {
    for (const end of [...this.streamEnders]) end();
  }

  /**
   * An async iterator over events from now on (subscribed at once, so none is
   * missed before the first next()). Queues without bound for a slow consumer.
   */
  stream(options: StreamOptions = {}): AsyncIterableIterator<T, undefined> {
    const queue: T[] = [];
    let head = 0;
    let done = false;
    let waiter: ((r: IteratorResult<T>) => void) | null = null;
    const unsubscribe = this.subscribe((ev) => {
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w({ value: ev, done: false });
      } else queue.push(ev);
    }, options.names);
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      this.streamEnders.delete(finish);
      options.signal?.removeEventListener('abort', finish);
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w({ value: undefined, done: true });
      }
    };
    this.streamEnders.add(finish);
    if (options.signal?.aborted) finish();
    else options.signal?.addEventListener('abort', finish, { once: true });
    const iterator: AsyncIterableIterator<T, undefined> = {
      next: () => {
        if (head < queue.length) {
          const value = queue[head++]!;
          if (head > 1024 && head * 2 > queue.length) {
            queue.splice(0, head);
            head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiter = resolve;
        });
      },
      return: () => {
        queue.length = 0;
        head = 0;
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}
