/**
 * Keeps a QmpClient connected to a VM that may not be up yet, or restarts:
 * reconnects with exponential backoff and jitter, up to a cap, until stopped.
 *
 *   const link = new QmpReconnector('unix:/run/vm1.qmp', {
 *     initialDelayMs: 100, maxDelayMs: 30_000,
 *     onState: (s) => log(s.kind),                // connecting/connected/disconnected/waiting/stopped
 *     onConnected: async (client) => { await client.execute('query-status'); },
 *   });
 *   void link.run();                                // resolves once stopped
 *   for await (const ev of link.events({ names: ['MEMORY_FAILURE'] })) ...  // spans reconnects
 *   await link.stop();                              // or abort `signal`
 *
 * `link.client` is the one QmpClient used for every connection (listeners
 * added with client.on stay across reconnects; execute works while connected).
 */

import { type QmpAddress, parseAddress } from './address.js';
import { type DisconnectInfo, QmpClient, type QmpClientOptions, type QmpEvent } from './client.js';
import { EventHub, type StreamOptions } from './events.js';
import type { CommandSpec, LooseCommands, LooseEvents, QmpGreeting } from './message.js';

export interface BackoffOptions {
  /** Delay before the first retry (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Cap on any delay (default 30 s). */
  readonly maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  readonly factor?: number;
  /** Spread as a fraction of the delay, ±jitter (default 0.2), so many agents do not retry in step. */
  readonly jitter?: number;
}

/** The delay before retry number `attempt` (0-based), jittered and capped. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const base = Math.min(max, initial * factor ** attempt);
  const spread = 1 - jitter + 2 * jitter * random();
  return Math.round(Math.min(max, Math.max(0, base * spread)));
}

export type ReconnectState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'connected'; readonly greeting: QmpGreeting }
  | { readonly kind: 'disconnected'; readonly info: DisconnectInfo }
  | {
      readonly kind: 'waiting';
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: Error | null;
    }
  | { readonly kind: 'stopped' };

export interface ReconnectOptions<C extends { [K in keyof C]: CommandSpec }, E>
  extends BackoffOptions {
  readonly clientOptions?: QmpClientOptions;
  readonly signal?: AbortSignal;
  readonly onState?: (state: ReconnectState) => void;
  /** Runs after each successful connect (e.g. to catch up with query-status). Errors are reported, not fatal. */
  readonly onConnected?: (client: QmpClient<C, E>) => void | Promise<void>;
  readonly random?: () => number;
}

export class QmpReconnector<
  C extends { [K in keyof C]: CommandSpec } = LooseCommands,
  E = LooseEvents,
> {
  readonly client: QmpClient<C, E>;
  readonly address: QmpAddress;
  private readonly hub = new EventHub<QmpEvent<E>>();
  private readonly stopper = new AbortController();
  private current: ReconnectState = { kind: 'stopped' };
  private loop: Promise<void> | null = null;

  constructor(
    address: QmpAddress | string,
    private readonly options: ReconnectOptions<C, E> = {},
  ) {
    this.address = typeof address === 'string' ? parseAddress(address) : address;
    this.client = new QmpClient<C, E>(options.clientOptions);
    this.client.on('event', (ev) => this.hub.dispatch(ev));
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get state(): ReconnectState {
    return this.current;
  }

  /** Events from every connection, until stop(). */
  events(
    options: StreamOptions<keyof E & string> = {},
  ): AsyncIterableIterator<QmpEvent<E>, undefined> {
    return this.hub.stream(options);
  }

  /** Connects and keeps reconnecting; resolves when stopped. Calling it again returns the same run. */
  run(): Promise<void> {
    this.loop ??= this.keepConnected();
    return this.loop;
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.client.close();
    await this.loop;
    this.hub.endStreams();
  }

  private async keepConnected(): Promise<void> {
    const signal = this.stopper.signal;
    let attempt = 0;
    while (!signal.aborted && !this.options.signal?.aborted) {
      this.setState({ kind: 'connecting', attempt });
      let error: Error | null = null;
      try {
        const greeting = await this.client.connect(this.address, { signal });
        attempt = 0;
        this.setState({ kind: 'connected', greeting });
        try {
          await this.options.onConnected?.(this.client);
        } catch (err) {
          error = err instanceof Error ? err : new Error(String(err));
        }
        const info = await this.client.closed;
        this.setState({ kind: 'disconnected', info });
        error ??= info.error;
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
      }
      if (signal.aborted) break;
      const delayMs = backoffDelay(attempt, this.options, this.options.random);
      attempt++;
      this.setState({ kind: 'waiting', attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
    this.setState({ kind: 'stopped' });
  }

  private setState(state: ReconnectState): void {
    this.current = state;
    this.options.onState?.(state);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
