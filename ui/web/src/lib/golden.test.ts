import { describe, expect, it } from "vitest";
import { goldenQueries, signalsByService } from "./golden";

const grid = (series: { labels: Record<string, string>; values: (number | null)[] }[]) => ({
  xs: [1, 2],
  series: series.map((s) => ({ name: "", ...s })),
});

describe("golden signals", () => {
  it("derives rate, error ratio and quantiles per service, StatsD only where spans are missing", () => {
    const m = signalsByService({
      spanRates: grid([
        { labels: { service: "a", status: "ok" }, values: [3, null] },
        { labels: { service: "a", status: "error" }, values: [1, null] },
        { labels: { service: "b", status: "ok" }, values: [0, 2] },
      ]),
      spanBuckets: grid([
        { labels: { service: "a", le: "0.1" }, values: [1, null] },
        { labels: { service: "a", le: "0.2" }, values: [2, null] },
        { labels: { service: "a", le: "+Inf" }, values: [2, null] },
      ]),
      statsdRates: grid([
        { labels: { service: "a" }, values: [100, 100] },
        { labels: { service: "c" }, values: [5, 6] },
      ]),
      statsdBuckets: grid([
        { labels: { service: "c", le: "1" }, values: [4, 4] },
        { labels: { service: "c", le: "+Inf" }, values: [4, 4] },
      ]),
    });
    expect(m.get("a")).toEqual({ rate: [4, null], errorRatio: [0.25, null], p50: [0.1, null], p90: [expect.closeTo(0.18), null], p99: [expect.closeTo(0.198), null] });
    expect(m.get("b")!.errorRatio).toEqual([0, 0]);
    expect(m.get("b")!.p50).toBeUndefined();
    expect(m.get("c")!.rate).toEqual([5, 6]);
    expect(m.get("c")!.p99).toEqual([0.99, 0.99]);
    expect(m.get("c")!.errorRatio).toBeUndefined();
  });

  it("escapes service names in the queries", () => {
    expect(goldenQueries("1m", 'we"ird').rate).toContain('service="we\\"ird"');
  });
});
