// Benchmark report (pieces). Contract: one row of the results table, and how
// a figure is written in it; shared by the report-*.ts files.

import { round, summarize } from './stats.js';

/** ok: target met, missed, or undefined (no target) */
export interface Row { metric: string; measured: string; target: string; ok: boolean | undefined }

export const ms = (x: number): string => `${round(x)} ms`;
export const pct = (x: number): string => `${round(x)} %`;

/** The median of per-trial figures (NaN: none). */
export const med = (xs: number[] | undefined): number => summarize(xs ?? []).median;

/** "median M (max X)" of per-trial figures */
export const medMax = (xs: number[] | undefined, unit: (x: number) => string): string => {
  if (!xs?.length) return 'n/a';
  const s = summarize(xs);
  return `median ${unit(s.median)} (max ${unit(s.max)})`;
};

export const pctl = (xs: number[]): string => {
  const s = summarize(xs);
  return `median ${ms(s.median)}, p90 ${ms(s.p90)}, p99 ${ms(s.p99)} (n=${s.n})`;
};
