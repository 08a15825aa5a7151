// Prometheus matrices on one time grid, the shape uPlot draws: one x array (seconds) shared by
// every series, gaps as null.

import type { MatrixSeries } from "./api";
import { seriesName, type Labels } from "./legend";

export interface Aligned {
  xs: number[];
  series: { name: string; labels: Labels; values: (number | null)[] }[];
}

/**
 * The first evaluation time of a range query: the grid is anchored at `end` so the newest
 * point is "now" and fresh data shows at once (a grid anchored at `start` can end a whole step
 * before it).
 */
export function gridStart(startS: number, endS: number, stepS: number): number {
  return endS - Math.floor((endS - startS) / stepS) * stepS;
}

export function alignMatrix(result: MatrixSeries[], startS: number, endS: number, stepS: number, legend?: string | null): Aligned {
  // queryRange evaluates at gridStart, +step, … ≤ end: the same grid here.
  const first = gridStart(startS, endS, stepS);
  // `first` is on the grid by construction: round away floating-point dust.
  const n = Math.max(0, Math.round((endS - first) / stepS) + 1);
  const xs = Array.from({ length: n }, (_, i) => first + i * stepS);
  const series = result.map((s) => {
    const values: (number | null)[] = new Array(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t - first) / stepS);
      if (i >= 0 && i < n) values[i] = parseFloat(v);
    }
    return { name: seriesName(s.metric, legend), labels: s.metric, values };
  });
  series.sort((a, b) => a.name.localeCompare(b.name));
  return { xs, series };
}

/**
 * Running sums for stacked areas: series i holds the sum of series 0..i. A missing value adds
 * nothing; a point where every series so far is missing stays missing (no line drawn at 0).
 */
export function stack(values: (number | null)[][]): (number | null)[][] {
  const out: (number | null)[][] = [];
  let acc: (number | null)[] | null = null;
  for (const v of values) {
    const below: (number | null)[] | null = acc;
    const next: (number | null)[] = v.map((x, i): number | null => {
      const under: number | null = below ? below[i] : null;
      if (x === null || !Number.isFinite(x)) return under;
      return (under ?? 0) + x;
    });
    out.push(next);
    acc = next;
  }
  return out;
}

/**
 * Cumulative `le` buckets (one series per bound, as `sum by (le) (rate(x_bucket[…]))`
 * returns) into per-bucket counts, sorted by bound: what a heatmap colours.
 */
export function bucketCounts(series: Aligned["series"]): { bounds: string[]; counts: (number | null)[][] } {
  const withLe = series
    .filter((s) => s.labels.le !== undefined)
    .map((s) => ({ le: s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le), label: s.labels.le, values: s.values }))
    .filter((s) => !Number.isNaN(s.le))
    .sort((a, b) => a.le - b.le);
  const counts = withLe.map((s, j) =>
    s.values.map((v, i) => {
      if (v === null) return null;
      const below = j > 0 ? withLe[j - 1].values[i] ?? 0 : 0;
      return Math.max(0, v - below);
    }),
  );
  return { bounds: withLe.map((s) => s.label), counts };
}
