/**
 * The time range a page asks about: `range=1h|6h|24h|7d|30d` (ending now) or
 * `from`/`to` as ISO 8601, and the chart's bucket size for it. Everything the
 * browser sends is checked here; a bad value is a RequestError (HTTP 400).
 */
import { RequestError } from './errors.js';

export const PRESETS = {
  '1h': 3_600,
  '6h': 21_600,
  '24h': 86_400,
  '7d': 604_800,
  '30d': 2_592_000,
};
export type Preset = keyof typeof PRESETS;
export const DEFAULT_PRESET: Preset = '24h';

/** The longest range one request may cover: a year, so a chart stays a few hundred points. */
const MAX_SPAN_US = 366 * 86_400 * 1_000_000;

/** Bucket sizes a chart may use, in seconds; the smallest giving at most MAX_BUCKETS wins. */
const BUCKETS = [60, 300, 900, 3_600, 10_800, 21_600, 86_400, 604_800];
const MAX_BUCKETS = 200;

export interface TimeRange {
  /** Microseconds since the epoch, from inclusive, to exclusive (the store's receipt clock). */
  readonly fromUs: number;
  readonly toUs: number;
  readonly bucketSeconds: number;
}

export function parseRange(query: URLSearchParams, nowUs: number): TimeRange {
  const preset = query.get('range');
  const from = query.get('from');
  const to = query.get('to');
  let fromUs: number;
  let toUs: number;
  if (from !== null || to !== null) {
    if (preset !== null) throw new RequestError(400, 'give either range or from/to, not both');
    if (from === null || to === null) throw new RequestError(400, 'from and to go together');
    fromUs = isoToMicros(from, 'from');
    toUs = isoToMicros(to, 'to');
  } else {
    const name = preset ?? DEFAULT_PRESET;
    if (!Object.hasOwn(PRESETS, name)) {
      throw new RequestError(
        400,
        `unknown range '${clip(name)}': use one of ${Object.keys(PRESETS).join(', ')}, or from and to`,
      );
    }
    toUs = nowUs;
    fromUs = nowUs - PRESETS[name as Preset] * 1_000_000;
  }
  if (toUs <= fromUs) throw new RequestError(400, 'the range is empty: from must be before to');
  if (toUs - fromUs > MAX_SPAN_US) throw new RequestError(400, 'the range is longer than a year');
  const span = (toUs - fromUs) / 1_000_000;
  const bucketSeconds =
    BUCKETS.find((b) => span / b <= MAX_BUCKETS) ?? BUCKETS[BUCKETS.length - 1]!;
  return { fromUs, toUs, bucketSeconds };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

function isoToMicros(given: string, name: string): number {
  // An unencoded '+' in a query string arrives as a space: +01:00 → " 01:00".
  const text = given.replace(/ (\d{2}:\d{2})$/, '+$1');
  const ms = ISO.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new RequestError(400, `${name} must be an ISO 8601 time like 2026-12-04T10:00:00Z`);
  }
  return ms * 1000;
}

/** A bounded positive integer query parameter. */
export function parseCount(
  query: URLSearchParams,
  name: string,
  fallback: number,
  max: number,
): number {
  const text = query.get(name);
  if (text === null) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) > max) {
    throw new RequestError(400, `${name} must be a whole number from 0 to ${max}`);
  }
  return Number(text);
}

/** Untrusted text echoed in an error message, kept short. */
export function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
