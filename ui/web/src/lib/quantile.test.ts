import { describe, expect, it } from "vitest";
import { histogramQuantile } from "./quantile";

// Cases after Prometheus' promql/testdata/histograms.test: buckets 0.1, 0.2, +Inf holding
// 10, 20, 30 observations (cumulative).
const b = [
  { le: 0.1, count: 10 },
  { le: 0.2, count: 20 },
  { le: Infinity, count: 30 },
];

describe("histogramQuantile", () => {
  it("interpolates inside the bucket holding the rank", () => {
    expect(histogramQuantile(0, b)).toBe(0);
    expect(histogramQuantile(0.25, b)).toBeCloseTo(0.075);
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.15);
    expect(histogramQuantile(0.6, b)).toBeCloseTo(0.18);
  });

  it("answers the highest finite bound for ranks in +Inf", () => {
    expect(histogramQuantile(0.99, b)).toBe(0.2);
  });

  it("is NaN without +Inf, with one bucket or without observations", () => {
    expect(histogramQuantile(0.5, b.slice(0, 2))).toBeNaN();
    expect(histogramQuantile(0.5, [{ le: Infinity, count: 3 }])).toBeNaN();
    expect(histogramQuantile(0.5, b.map((x) => ({ ...x, count: 0 })))).toBeNaN();
  });

  it("sorts buckets, repairs non-monotonic counts and handles out-of-range q", () => {
    expect(histogramQuantile(0.5, [b[2], b[0], b[1]])).toBeCloseTo(0.15);
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 10 }, { le: 0.2, count: 9.999999 }, { le: Infinity, count: 20 }])).toBeCloseTo(0.1);
    expect(histogramQuantile(-1, b)).toBe(-Infinity);
    expect(histogramQuantile(2, b)).toBe(Infinity);
  });
});
