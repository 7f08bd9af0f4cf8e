/**
 * Alerts for each new memory failure, delivered from the durable outbox: the
 * outbox row is written in the same transaction as the failure, and stays
 * until a delivery succeeds, so a receiver that is down (or an agent that is
 * killed) loses nothing — delivery resumes on the next start. Each sink is a
 * queue delivered in order: when its oldest alert fails, the sink backs off
 * (exponentially) and retries that alert first; other sinks carry on.
 *
 * Delivery is at least once: an agent killed after a delivery succeeded but
 * before it was marked will deliver that alert again on restart. Receivers can
 * deduplicate on the payload's `id`.
 *
 * Sinks:
 *  - `--webhook URL`: POST the payload as JSON; any 2xx is delivered; a 4xx
 *    other than 408/429 is a refusal (the alert becomes a dead letter at once),
 *    anything else is retried, up to maxAttempts, then a dead letter.
 *  - `--on-event CMD`: run CMD with the payload as JSON on stdin (one line);
 *    exit status 0 is delivered. CMD is split into words without a shell:
 *    whitespace separates, '...' is literal, "..." allows \" and \\, and a
 *    backslash outside quotes escapes the next character. No globbing,
 *    variables or pipes: wrap those in `sh -c '...'` yourself. The program
 *    gets a small fixed environment (hookEnvironment), not the agent's, and
 *    at the timeout SIGTERM, then SIGKILL after a grace period.
 *
 * Dead letters stay in the outbox (dead_at set), shown by `memfail alerts
 * list`; `memfail alerts retry` makes them owed again.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { toAlertPayload } from './event-record.js';
import type { AgentMetrics } from './metrics.js';
import { microsToIso, nowMicros } from './records.js';
import type { OutboxEntry, Store } from './store.js';

export type AlertSink =
  | { readonly kind: 'webhook'; readonly url: string }
  | { readonly kind: 'command'; readonly argv: readonly string[] };

/** The outbox's name for a sink: changing the URL or command makes a new sink. */
export function sinkId(sink: AlertSink): string {
  return sink.kind === 'webhook' ? `webhook:${sink.url}` : `command:${JSON.stringify(sink.argv)}`;
}

export class CommandLineError extends Error {
  override name = 'CommandLineError';
}

/** Splits a command line into argv, as described in the module comment. */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let i = 0;
  const add = (s: string) => {
    word = (word ?? '') + s;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineError(`unterminated ' in command: ${text}`);
      add(text.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw new CommandLineError(`unterminated " in command: ${text}`);
      add(s);
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new CommandLineError(`trailing \\ in command: ${text}`);
      add(text[i + 1]!);
      i += 2;
    } else {
      add(c);
      i++;
    }
  }
  if (word !== null) words.push(word);
  if (words.length === 0) throw new CommandLineError('the --on-event command is empty');
  return words;
}

export interface DispatcherOptions {
  readonly metrics?: AgentMetrics;
  /** First retry delay; doubles per consecutive failure of a sink (default 500 ms). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per delivery: a webhook request or a command run (default 10 s). */
  readonly timeoutMs?: number;
  /** A program still running this long after SIGTERM gets SIGKILL (default 2 s). */
  readonly killGraceMs?: number;
  /** Attempts before an alert becomes a dead letter (default 30: about half an hour of backoff). */
  readonly maxAttempts?: number;
  /** Hears each failed delivery (the agent logs it). */
  readonly onFailure?: (sink: AlertSink, error: string, retryInMs: number) => void;
  /** Hears each alert given up on (a dead letter). */
  readonly onDead?: (sink: AlertSink, entry: OutboxEntry, error: string) => void;
  /** With nothing owed, how often a queue looks for alerts owed anew by another process (ms). */
  readonly idleLookMs?: number;
}

/** The default of DispatcherOptions.idleLookMs: one small query per sink every 5 s when idle. */
export const IDLE_LOOK_MS = 5000;

/**
 * Delivers the outbox: one queue per sink, each its own loop, so a sink that
 * hangs or fails holds up only its own alerts. Every delivery first claims
 * its outbox row (Store.claimAlert) for longer than the delivery can take
 * (timeout, kill grace and a margin): two agents on one database never both
 * send an alert.
 */
export class AlertDispatcher {
  private readonly byId: Map<string, AlertSink>;
  private readonly queues: SinkQueue[];
  private running = false;
  private draining = false;
  /** Aborts deliveries in flight when the agent stops. */
  private readonly abort = new AbortController();
  /** This dispatcher's name in the outbox's claims. */
  private readonly owner = `${process.pid}:${randomUUID()}`;

  constructor(
    private readonly store: Store,
    readonly sinks: readonly AlertSink[],
    private readonly options: DispatcherOptions = {},
  ) {
    this.byId = new Map(sinks.map((s) => [sinkId(s), s]));
    this.queues = [...this.byId].map(([id, sink]) => new SinkQueue(id, sink, this));
  }

  get sinkIds(): string[] {
    return [...this.byId.keys()];
  }

  start(): void {
    if (this.running || this.sinks.length === 0) return;
    this.running = true;
    this.options.metrics?.countDeadAlertsWith(() => this.deadCounts());
    this.updateDead();
    for (const q of this.queues) q.start();
  }

  /** New outbox rows may be there (call after each commit). */
  wake(): void {
    for (const q of this.queues) q.wake();
  }

  /**
   * Stops the queues. With `drainMs`, first keeps delivering (retries
   * included) until nothing is owed or that long has passed. A delivery
   * still in flight then is cut short (its program killed) and stays owed.
   */
  async stop(drainMs = 0): Promise<void> {
    if (!this.running) return;
    if (drainMs > 0) {
      const deadline = Date.now() + drainMs;
      this.draining = true;
      this.wake();
      while (Date.now() < deadline && this.store.owedAlerts(this.sinkIds) > 0) {
        await new Promise((r) => setTimeout(r, Math.min(50, deadline - Date.now())));
      }
    }
    this.running = false;
    this.abort.abort();
    this.wake();
    await Promise.all(this.queues.map((q) => q.done));
  }

  /** @internal state the queues share. */
  get context() {
    return {
      store: this.store,
      options: this.options,
      running: () => this.running,
      draining: () => this.draining,
      signal: this.abort.signal,
      owner: this.owner,
      updateDead: () => this.updateDead(),
    };
  }

  private updateDead(): void {
    this.options.metrics?.setDeadAlerts(this.deadCounts());
  }

  /** Dead letters per configured sink (0 for none), and per sink no longer configured. */
  private deadCounts(): { sink: string; dead: number }[] {
    const dead = new Map(this.sinkIds.map((id) => [id, 0]));
    for (const d of this.store.deadBySink()) dead.set(d.sink, d.dead);
    return [...dead].map(([sink, n]) => ({ sink, dead: n }));
  }
}

/** One sink's queue: its oldest owed alert first, backing off after a failure. */
class SinkQueue {
  private failures = 0;
  private wakeUp: (() => void) | null = null;
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly id: string,
    private readonly sink: AlertSink,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  start(): void {
    this.done = this.run().catch(() => {
      // The store closed under us (the agent is exiting): nothing more to do.
    });
  }

  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const ctx = this.dispatcher.context;
    const { options } = ctx;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const graceMs = options.killGraceMs ?? 2000;
    // Longer than any delivery can take, so a claim never runs out mid-delivery.
    const leaseUs = (timeoutMs + graceMs + 30_000) * 1000;
    while (ctx.running()) {
      const now = nowMicros();
      // Draining for exit, a failed alert is retried at the base pace, not after its backoff.
      const eager = ctx.draining();
      const claimed = ctx.store.claimAlert(this.id, ctx.owner, now, leaseUs, eager);
      if (claimed === null) {
        // Woken by each commit; and looks again now and then, for alerts
        // owed anew by another process (`memfail alerts retry`, a second agent).
        await this.sleep(options.idleLookMs ?? IDLE_LOOK_MS);
        continue;
      }
      if ('waitUntilUs' in claimed) {
        await this.sleep(Math.max(1, (claimed.waitUntilUs - now) / 1000));
        continue;
      }
      if (eager && this.failures > 0) await this.sleep(options.baseDelayMs ?? 500);
      await this.deliver(claimed, timeoutMs, graceMs);
    }
  }

  private async deliver(entry: OutboxEntry, timeoutMs: number, graceMs: number): Promise<void> {
    const ctx = this.dispatcher.context;
    const { options, store } = ctx;
    const sink = this.sink;
    const body = `${JSON.stringify(toAlertPayload(entry.failure))}\n`;
    const outcome =
      sink.kind === 'webhook'
        ? await postWebhook(sink.url, body, timeoutMs, ctx.signal)
        : await runCommand(sink.argv, body, timeoutMs, {
            killGraceMs: graceMs,
            signal: ctx.signal,
            env: hookEnvironment(entry),
          });
    if (!ctx.running() && outcome !== null && ctx.signal.aborted) {
      // Cut short by the agent stopping: not the sink's fault, owed as before.
      store.releaseClaim(entry.id, ctx.owner);
      return;
    }
    if (outcome === null) {
      store.markDelivered(entry.id, nowMicros());
      this.failures = 0;
      options.metrics?.countAlert(sink.kind, 'delivered');
      return;
    }
    const error = typeof outcome === 'string' ? outcome : outcome.error;
    const refused = typeof outcome !== 'string' && outcome.refused;
    this.failures++;
    const attempts = entry.attempts + 1;
    const maxAttempts = options.maxAttempts ?? 30;
    if (refused || attempts >= maxAttempts) {
      const why = refused ? `refused: ${error}` : `${error} (after ${attempts} attempts)`;
      store.markFailed(entry.id, why, 0, microsToIso(nowMicros()));
      options.metrics?.countAlert(sink.kind, 'dead');
      ctx.updateDead();
      options.onDead?.(sink, entry, why);
      // The next alert is not to blame: no backoff for it.
      this.failures = 0;
      return;
    }
    const base = options.baseDelayMs ?? 500;
    const max = options.maxDelayMs ?? 60_000;
    const delayMs = Math.min(max, base * 2 ** (this.failures - 1));
    store.markFailed(entry.id, error, nowMicros() + delayMs * 1000);
    options.metrics?.countAlert(sink.kind, 'failed');
    options.onFailure?.(sink, error, delayMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer !== null) clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      this.wakeUp = done;
      if (Number.isFinite(ms)) timer = setTimeout(done, ms);
    });
  }
}

/**
 * The environment an --on-event program gets: not the agent's (which may hold
 * secrets: tokens, passwords in variables), only PATH, HOME, LANG, LC_ALL and
 * TZ when set, and MEMFAIL_ALERT_ID, MEMFAIL_EVENT_ID and MEMFAIL_VM.
 */
export function hookEnvironment(entry: OutboxEntry): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  env.MEMFAIL_ALERT_ID = String(entry.id);
  env.MEMFAIL_EVENT_ID = String(entry.failure.id);
  env.MEMFAIL_VM = entry.failure.vm;
  return env;
}

/**
 * Why a delivery failed; `refused`: the receiver said the request itself is
 * wrong (HTTP 4xx other than 408 and 429), so retrying cannot help.
 */
export type DeliveryError = string | { readonly error: string; readonly refused: boolean };

/** POSTs the payload; returns null when delivered, else why not. */
export async function postWebhook(
  url: string,
  body: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DeliveryError | null> {
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
    });
    // Drain the body so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return null;
    const error = `HTTP ${res.status} ${res.statusText}`.trim();
    const refused =
      res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
    return refused ? { error, refused } : error;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err instanceof Error ? err.message : String(err)}${detail}`;
  }
}

export interface RunOptions {
  /** After the timeout (or `signal`), SIGTERM; this long later, SIGKILL (default 2 s). */
  readonly killGraceMs?: number;
  readonly signal?: AbortSignal;
  /** The program's whole environment (default: hookEnvironment's fixed part, no event). */
  readonly env?: Record<string, string>;
}

/**
 * Runs argv with the payload on stdin; returns null on exit status 0, else
 * why not. The program runs in its own process group: at the timeout the
 * group gets SIGTERM, and SIGKILL `killGraceMs` later if anything is left,
 * so a program that ignores SIGTERM (or a child it left) cannot hold us.
 */
export function runCommand(
  argv: readonly string[],
  input: string,
  timeoutMs: number,
  options: RunOptions = {},
): Promise<string | null> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const env = options.env ?? { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file!, args, { stdio: ['pipe', 'inherit', 'inherit'], detached: true, env });
    } catch (err) {
      resolve(`cannot run ${file}: ${(err as Error).message}`);
      return;
    }
    let settled = false;
    let killed: string | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    const stopIt = (why: string) => {
      if (killed !== null || settled) return;
      killed = why;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), options.killGraceMs ?? 2000);
    };
    const timer = setTimeout(() => stopIt(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => stopIt('the agent is stopping');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const settle = (result: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    child.on('error', (err) => {
      if (killTimer !== null) clearTimeout(killTimer);
      settle(`cannot run ${file}: ${err.message}`);
    });
    // A program that does not read its stdin is not a failed delivery.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
    child.on('exit', (code, signal) => {
      // The group may hold children that outlive the program: end them too.
      if (killed !== null) signalGroup('SIGKILL');
      if (killTimer !== null) clearTimeout(killTimer);
      if (killed !== null) settle(`${file} ${killed}`);
      else if (code === 0) settle(null);
      else settle(signal ? `${file} killed by ${signal}` : `${file} exited with status ${code}`);
    });
  });
}
