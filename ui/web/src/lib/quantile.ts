// Prometheus' histogram_quantile for classic buckets (promql/quantile.go, bucketQuantile), on
// the client: the services table fetches each service's bucket rates once and derives p50,
// p90 and p99 from them, instead of three server queries that each recompute the same rates.

export interface Bucket {
  /** Upper bound; Infinity for `+Inf`. */
  le: number;
  /** Cumulative count (or rate) of observations ≤ le. */
  count: number;
}

/**
 * The q-quantile of cumulative buckets: NaN without a `+Inf` bucket, with fewer than two
 * buckets or with no observations; linear interpolation inside the bucket that holds the rank;
 * the highest finite bound when the rank falls in `+Inf`; 0-based for the first bucket when its
 * bound is positive.
 */
export function histogramQuantile(q: number, input: Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const buckets = [...input].filter((b) => !Number.isNaN(b.le)).sort((a, b) => a.le - b.le);
  if (buckets.length < 2 || buckets[buckets.length - 1].le !== Infinity) return NaN;
  // Cumulative counts computed from rates can dip by float noise: make them monotonic.
  for (let i = 1; i < buckets.length; i++) {
    if (buckets[i].count < buckets[i - 1].count) buckets[i] = { ...buckets[i], count: buckets[i - 1].count };
  }
  const total = buckets[buckets.length - 1].count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let b = buckets.findIndex((x) => x.count >= rank);
  if (b < 0) b = buckets.length - 1;
  if (b === buckets.length - 1) return buckets[buckets.length - 2].le;
  if (b === 0 && buckets[0].le <= 0) return buckets[0].le;
  let start = 0;
  let end = buckets[b].le;
  let count = buckets[b].count;
  let r = rank;
  if (b > 0) {
    start = buckets[b - 1].le;
    count -= buckets[b - 1].count;
    r -= buckets[b - 1].count;
  }
  if (count === 0) return end;
  return start + (end - start) * (r / count);
}
