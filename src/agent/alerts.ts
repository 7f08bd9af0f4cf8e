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
 *  - `--webhook URL`: POST the payload as JSON; any 2xx is delivered, anything
 *    else (including 4xx) is retried.
 *  - `--on-event CMD`: run CMD with the payload as JSON on stdin (one line);
 *    exit status 0 is delivered. CMD is split into words without a shell:
 *    whitespace separates, '...' is literal, "..." allows \" and \\, and a
 *    backslash outside quotes escapes the next character. No globbing,
 *    variables or pipes: wrap those in `sh -c '...'` yourself.
 */
import { spawn } from 'node:child_process';
import { toAlertPayload } from './event-record.js';
import type { AgentMetrics } from './metrics.js';
import { nowMicros } from './records.js';
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
  /** Hears each failed delivery (the agent logs it). */
  readonly onFailure?: (sink: AlertSink, error: string, retryInMs: number) => void;
}

export class AlertDispatcher {
  private readonly byId: Map<string, AlertSink>;
  private readonly failures = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly store: Store,
    readonly sinks: readonly AlertSink[],
    private readonly options: DispatcherOptions = {},
  ) {
    this.byId = new Map(sinks.map((s) => [sinkId(s), s]));
  }

  get sinkIds(): string[] {
    return [...this.byId.keys()];
  }

  start(): void {
    if (this.running || this.sinks.length === 0) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New outbox rows may be there (call after each commit). */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * Stops after the delivery in flight. With `drainMs`, first keeps delivering
   * (retries included) until nothing is owed or that long has passed.
   */
  async stop(drainMs = 0): Promise<void> {
    if (!this.running) return;
    if (drainMs > 0) {
      const deadline = Date.now() + drainMs;
      this.draining = true;
      this.wake();
      while (Date.now() < deadline && this.owed()) {
        await new Promise((r) => setTimeout(r, Math.min(50, deadline - Date.now())));
      }
    }
    this.running = false;
    this.wake();
    await this.loop;
  }

  private owed(): boolean {
    return this.store.owedAlerts(this.sinkIds) > 0;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const now = nowMicros();
      for (const [sink, at] of this.retryAt) if (at <= now) this.retryAt.delete(sink);
      const ready = this.sinkIds.filter((id) => !this.retryAt.has(id));
      const due = this.store.pendingAlerts(ready, 100);
      if (due.length === 0) {
        await this.sleep(this.nextWakeMs(now));
        continue;
      }
      for (const entry of due) {
        if (!this.running) break;
        // A sink whose alert just failed waits; its later alerts must not overtake it.
        if (this.retryAt.has(entry.sink)) continue;
        await this.deliverOne(entry);
      }
    }
  }

  /** Until the first sink leaves its backoff, or (nothing owed) until woken. */
  private nextWakeMs(now: number): number {
    const backoffs = [...this.retryAt.values()];
    if (backoffs.length === 0 || !this.owed()) return Number.POSITIVE_INFINITY;
    return Math.max(1, (Math.min(...backoffs) - now) / 1000);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
        this.wakeTimer = null;
        this.wakeUp = null;
        resolve();
      };
      this.wakeUp = done;
      if (Number.isFinite(ms)) this.wakeTimer = setTimeout(done, ms);
    });
  }

  private async deliverOne(entry: OutboxEntry): Promise<void> {
    const sink = this.byId.get(entry.sink);
    if (sink === undefined) return;
    const body = `${JSON.stringify(toAlertPayload(entry.failure))}\n`;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const error =
      sink.kind === 'webhook'
        ? await postWebhook(sink.url, body, timeoutMs)
        : await runCommand(sink.argv, body, timeoutMs);
    if (error === null) {
      this.store.markDelivered(entry.id, nowMicros());
      this.failures.delete(entry.sink);
      this.options.metrics?.countAlert(sink.kind, 'delivered');
      return;
    }
    const n = (this.failures.get(entry.sink) ?? 0) + 1;
    this.failures.set(entry.sink, n);
    const base = this.options.baseDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 60_000;
    // While draining for exit, retry at the base pace rather than backing off past the deadline.
    const delayMs = this.draining ? base : Math.min(max, base * 2 ** (n - 1));
    const at = nowMicros() + delayMs * 1000;
    this.retryAt.set(entry.sink, at);
    this.store.markFailed(entry.id, error, at);
    this.options.metrics?.countAlert(sink.kind, 'failed');
    this.options.onFailure?.(sink, error, delayMs);
  }
}

/** POSTs the payload; returns null when delivered, else why not. */
export async function postWebhook(
  url: string,
  body: string,
  timeoutMs: number,
): Promise<string | null> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Drain the body so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? null : `HTTP ${res.status} ${res.statusText}`.trim();
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err instanceof Error ? err.message : String(err)}${detail}`;
  }
}

/** Runs argv with the payload on stdin; returns null on exit status 0, else why not. */
export function runCommand(
  argv: readonly string[],
  input: string,
  timeoutMs: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: ['pipe', 'inherit', 'inherit'], timeout: timeoutMs });
    let settled = false;
    const settle = (result: string | null) => {
      if (!settled) resolve(result);
      settled = true;
    };
    child.on('error', (err) => settle(`cannot run ${file}: ${err.message}`));
    // A program that does not read its stdin is not a failed delivery.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('close', (code, signal) => {
      if (code === 0) settle(null);
      else settle(signal ? `${file} killed by ${signal}` : `${file} exited with status ${code}`);
    });
  });
}
