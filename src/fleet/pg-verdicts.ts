/**
 * The fleet's health verdicts kept between askings, each host re-judged only
 * when its verdict may have changed. A host's verdict is a function of its
 * failures and of the clock, so it changes only when (a) the host has a new
 * failure, seen as a change of its count in host_summary (kept in the same
 * transaction as the rows, never decreasing), (b) a failure a matching rule
 * counts leaves the rule's window (JudgedHost.untilUs), or (c) a failure
 * stamped after the judging instant comes into the windows. The first asking
 * judges every host (judgeInSql over the whole window, ~9% of a full-table
 * read at 1,000,000 failures); later ones read the counts and judge the few
 * hosts that changed through the per-host time index. Counts, verdicts and
 * the clock-ahead failures are read in one snapshot, so a failure committed
 * meanwhile is either in the verdict or makes its host stale next time.
 */
import type { HostHealth } from '../health/evaluate.js';
import type { Policy } from '../health/policy.js';
import type { Sql, TransactionSql } from './pg.js';
import { judgeInSql } from './pg-health.js';

interface Kept {
  /** null: healthy. */
  readonly health: HostHealth | null;
  /** The host's count of readable failures when judged (host_summary.failures). */
  readonly mark: string;
  readonly untilUs: number;
}

/** What the last asking did: for logs, tests and benchmarks. */
export interface JudgingStats {
  readonly hosts: number;
  readonly judged: number;
  readonly whole: boolean;
}

export class FleetVerdicts {
  private readonly kept = new Map<string, Kept>();
  last: JudgingStats = { hosts: 0, judged: 0, whole: false };

  /**
   * `wholeShare`: when more than this share of the hosts are stale, judge the
   * whole fleet in one pass (cheaper than a long host list).
   */
  constructor(
    private readonly sql: Sql,
    private readonly policy: Policy,
    private readonly wholeShare = 0.2,
  ) {}

  /** Every host's verdict at `now`; hosts absent from the map are healthy. One asking at a time. */
  judge(now = new Date()): Promise<Map<string, HostHealth>> {
    const run = this.running.then(() => this.judgeNow(now));
    this.running = run.catch(() => undefined);
    return run;
  }

  private running: Promise<unknown> = Promise.resolve();

  private async judgeNow(now: Date): Promise<Map<string, HostHealth>> {
    const nowUs = now.getTime() * 1000;
    await this.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      const marks = (await tx.unsafe(
        'SELECT host, failures::text AS mark FROM host_summary',
      )) as unknown as { host: string; mark: string }[];
      const stale: string[] = [];
      for (const { host, mark } of marks) {
        const k = this.kept.get(host);
        if (k === undefined || k.mark !== mark || k.untilUs < nowUs) stale.push(host);
      }
      const whole = this.kept.size === 0 || stale.length > this.wholeShare * marks.length;
      this.last = { hosts: marks.length, judged: whole ? marks.length : stale.length, whole };
      if (stale.length === 0) return;
      const subset = whole ? undefined : stale;
      const judged = await judgeInSql(tx, this.policy, now, subset);
      const ahead = await clockAhead(tx, nowUs, subset);
      const markOf = new Map(marks.map((m) => [m.host, m.mark]));
      if (whole) this.kept.clear();
      for (const host of whole ? markOf.keys() : stale) {
        const j = judged.get(host);
        // A failure stamped after now counts once the clock reaches it.
        const next = ahead.get(host);
        const untilUs = Math.min(j?.untilUs ?? Number.POSITIVE_INFINITY, (next ?? Infinity) - 1);
        this.kept.set(host, { health: j?.health ?? null, mark: markOf.get(host)!, untilUs });
      }
    });
    const out = new Map<string, HostHealth>();
    for (const [host, k] of this.kept) if (k.health !== null) out.set(host, k.health);
    return out;
  }
}

/** The earliest failure after `nowUs` of each host that has one (through the time index). */
async function clockAhead(
  tx: TransactionSql,
  nowUs: number,
  hosts?: readonly string[],
): Promise<Map<string, number>> {
  const params: (number | string)[] = [nowUs];
  let byHost = '';
  if (hosts !== undefined) {
    params.push(JSON.stringify(hosts));
    byHost = 'AND host IN (SELECT json_array_elements_text($2::text::json))';
  }
  const rows = (await tx.unsafe(
    `SELECT host, min(seen_us)::text AS at FROM memory_failure
      WHERE seen_us > $1 AND recipient IS NOT NULL ${byHost} GROUP BY host`,
    params,
  )) as unknown as { host: string; at: string }[];
  return new Map(rows.map((r) => [r.host, Number(r.at)]));
}
