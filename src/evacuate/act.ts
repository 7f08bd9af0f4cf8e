/**
 * Acting on a verdict: re-judges the host whenever new failures are
 * committed, logs every change of state with its reasons, and — only when
 * allowed (`--act`) — evacuates the host once it is `failing`. Without `act`
 * it says what it would do. At most `drainLimit` hosts drain at once across
 * every memfail sharing the journal (and, with a drain gate, every memfail
 * sharing the gate's database); a host held back by the limit is tried
 * again every `retryMs` while it stays failing. An evacuation an earlier
 * process left running is resumed at start.
 */
import type { Store } from '../agent/store.js';
import type { HostHealth } from '../health/evaluate.js';
import { hostHealth } from '../health/host.js';
import type { Policy } from '../health/policy.js';
import type { DrainGate } from './drain.js';
import type { MigrationDriver } from './driver.js';
import { Journal } from './journal.js';
import { type EvacuationSummary, evacuate } from './run.js';

export interface ActorOptions {
  readonly host: string;
  readonly policy: Policy;
  /** The host's own store (its failures). */
  readonly store: Store;
  readonly act: boolean;
  /** Required with act. */
  readonly evacuation?: {
    readonly inventoryPath: string;
    readonly journalPath: string;
    readonly driver: MigrationDriver;
    readonly drainLimit: number;
    /** Counts the drain limit across agents too; the actor closes it when stopped. */
    readonly drainGate?: DrainGate;
    readonly parallel: number;
    readonly to?: readonly string[];
  };
  readonly retryMs?: number;
  readonly log: (line: string) => void;
  /** The clock (tests). */
  readonly now?: () => Date;
}

export class HealthActor {
  private verdict: HostHealth;
  private running: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  private deferred: NodeJS.Timeout | null = null;
  private lastJudgedAt = 0;
  private lastJudgeMs = 0;
  private judged = 0;
  private evacuated = false;
  /** Every evacuation this actor ran, in order (tests, the demo). */
  readonly results: EvacuationSummary[] = [];

  constructor(private readonly options: ActorOptions) {
    if (options.act && options.evacuation === undefined) {
      throw new Error('acting needs an inventory, a journal and a driver');
    }
    this.verdict = this.judge();
  }

  get current(): HostHealth {
    return this.verdict;
  }

  /** Logs the verdict at start; resumes an interrupted evacuation or starts one if failing. */
  start(): void {
    this.options.log(describe(this.verdict));
    const ev = this.options.evacuation;
    if (this.options.act && ev !== undefined) {
      const journal = Journal.open(ev.journalPath);
      const left = journal.running(this.options.host);
      journal.close();
      if (left !== null) {
        this.options.log(
          `resuming evacuation ${left.id} of ${this.options.host}; why: ${left.reason}`,
        );
        this.launch(left.reason);
        return;
      }
    }
    this.consider();
  }

  /**
   * Call after new failures are committed. Judging reads the policy's whole
   * window, so under a storm of events it waits 4× its own last duration
   * between two (at most a fifth of the time judging; a 10 ms pause is
   * fine): the last update is always judged, a little later at worst.
   */
  update(): void {
    if (this.deferred !== null || this.stopped) return;
    const wait = this.lastJudgedAt + Math.max(0, this.lastJudgeMs * 4 - 10) - performance.now();
    if (wait <= 0) this.rejudge();
    else {
      this.deferred = setTimeout(() => {
        this.deferred = null;
        this.rejudge();
      }, wait);
    }
  }

  /** How many times the host was judged (tests, the throttle). */
  get judgements(): number {
    return this.judged;
  }

  private rejudge(): void {
    const before = this.verdict.state;
    this.verdict = this.judge();
    if (this.verdict.state !== before) this.options.log(`${before} → ${describe(this.verdict)}`);
    this.consider();
  }

  /** Waits for an evacuation under way; no new one starts. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.deferred !== null) clearTimeout(this.deferred);
    await this.running;
    await this.options.evacuation?.drainGate?.close();
  }

  private judge(): HostHealth {
    const started = performance.now();
    const now = this.options.now?.() ?? new Date();
    const verdict = hostHealth(this.options.store, this.options.policy, this.options.host, now);
    this.lastJudgedAt = performance.now();
    this.lastJudgeMs = this.lastJudgedAt - started;
    this.judged++;
    return verdict;
  }

  private consider(): void {
    if (this.verdict.state !== 'failing' || this.running !== null || this.evacuated || this.stopped)
      return;
    const why = this.verdict.reasons[0]?.text ?? 'failing';
    if (!this.options.act) {
      this.options.log(
        `recommendation: evacuate ${this.options.host} (failing: ${why}); ` +
          `run memfail evacuate ${this.options.host} --inventory FILE, or watch with --act`,
      );
      this.evacuated = true; // said once
      return;
    }
    this.options.log(`decision: evacuate ${this.options.host}, failing: ${why}`);
    this.launch(`health failing: ${why}`);
  }

  private launch(reason: string): void {
    const ev = this.options.evacuation!;
    this.running = evacuate({
      host: this.options.host,
      inventoryPath: ev.inventoryPath,
      journalPath: ev.journalPath,
      driver: ev.driver,
      policy: this.options.policy,
      ...(ev.to === undefined ? {} : { to: ev.to }),
      parallel: ev.parallel,
      reason,
      drainLimit: ev.drainLimit,
      ...(ev.drainGate === undefined ? {} : { drainGate: ev.drainGate }),
      out: (line) => this.options.log(line.trimStart()),
    })
      .then((result) => {
        this.results.push(result);
        if (result.outcome === 'drain-limit') this.later();
        else this.evacuated = true;
      })
      .catch((err: unknown) => {
        this.options.log(`evacuation of ${this.options.host} failed: ${(err as Error).message}`);
        this.evacuated = true;
      })
      .finally(() => {
        this.running = null;
      });
  }

  private later(): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.consider();
    }, this.options.retryMs ?? 5_000);
  }
}

function describe(v: HostHealth): string {
  // Rules of different severity may match the same failures: say each reason once.
  const why = [...new Set(v.reasons.map((r) => r.text))].join('; ');
  return `${v.host} is ${v.state}${why ? `: ${why}` : ''}`;
}
