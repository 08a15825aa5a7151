// Series names: a legend format such as `{{service}} p99` filled from the series' labels, or
// the Prometheus form `name{a="b"}` without one.

export type Labels = Record<string, string>;

export function seriesName(labels: Labels, format?: string | null): string {
  if (format) {
    return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, key: string) => labels[key] ?? "");
  }
  const { __name__: name, ...rest } = labels;
  const pairs = Object.keys(rest)
    .sort()
    .map((k) => `${k}="${rest[k]}"`)
    .join(", ");
  if (!name) return pairs ? `{${pairs}}` : "{}";
  return pairs ? `${name}{${pairs}}` : name;
}

export interface SeriesStats {
  min: number | null;
  max: number | null;
  avg: number | null;
  current: number | null;
}

/** Min, max, mean and last of the finite values. */
export function seriesStats(values: (number | null)[]): SeriesStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  let current: number | null = null;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    n++;
    current = v;
  }
  if (n === 0) return { min: null, max: null, avg: null, current: null };
  return { min, max, avg: sum / n, current };
}
