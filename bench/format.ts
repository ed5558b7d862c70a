// Benchmark report (pieces). Contract: one row of the results table, and how
// a figure is written in it; shared by report.ts and report-underlay.ts.

import { round, summarize } from './stats.js';

/** ok: target met, missed, or undefined (no target) */
export interface Row { metric: string; measured: string; target: string; ok: boolean | undefined }

export const ms = (x: number): string => `${round(x)} ms`;

export const pctl = (xs: number[]): string => {
  const s = summarize(xs);
  return `median ${ms(s.median)}, p90 ${ms(s.p90)}, p99 ${ms(s.p99)} (n=${s.n})`;
};
