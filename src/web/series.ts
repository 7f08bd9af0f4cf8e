/**
 * The failures-over-time chart's data, as both data sources build it: one
 * bucket per `range.bucketSeconds` from the range's start, counts by action
 * and by recipient. A source adds its grouped counts; buckets outside the
 * range are ignored.
 */
import { ACTIONS, type Action, RECIPIENTS, type Recipient } from '../event/model.js';
import type { TimeRange } from './range.js';
import type { Series } from './source.js';

export class SeriesBuilder {
  /** The bucket width in µs (what a source divides its times by). */
  readonly bucketUs: number;
  private readonly first: number;
  private readonly n: number;
  private readonly byAction: Record<Action, number[]>;
  private readonly byRecipient: Record<Recipient, number[]>;
  private total = 0;

  constructor(private readonly range: TimeRange) {
    this.bucketUs = range.bucketSeconds * 1_000_000;
    this.first = Math.floor(range.fromUs / this.bucketUs);
    this.n = Math.floor((range.toUs - 1) / this.bucketUs) - this.first + 1;
    this.byAction = Object.fromEntries(
      ACTIONS.map((a) => [a, new Array<number>(this.n).fill(0)]),
    ) as Record<Action, number[]>;
    this.byRecipient = Object.fromEntries(
      RECIPIENTS.map((r) => [r, new Array<number>(this.n).fill(0)]),
    ) as Record<Recipient, number[]>;
  }

  /** `count` failures of (recipient, action) in bucket number `bucket` (time / bucketUs). */
  add(bucket: number, recipient: Recipient, action: Action, count: number): void {
    const i = bucket - this.first;
    if (i < 0 || i >= this.n) return;
    this.byAction[action][i]! += count;
    this.byRecipient[recipient][i]! += count;
    this.total += count;
  }

  build(): Series {
    const { bucketSeconds } = this.range;
    return {
      bucketSeconds,
      t: Array.from({ length: this.n }, (_, i) => (this.first + i) * bucketSeconds),
      byAction: this.byAction,
      byRecipient: this.byRecipient,
      total: this.total,
    };
  }
}
