// Benchmark helper: summary statistics over repeated trials.

export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending list. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { n: s.length, median: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

export const round =
  (x: number, digits = 1): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

/**
 * The middle value (of an even count, the upper of the two middle ones), as
 * the integration tests print it. Unlike summarize().median it keeps
 * non-finite values and does not take the nearest rank.
 */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
