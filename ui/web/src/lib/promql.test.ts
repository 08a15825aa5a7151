import { describe, expect, it } from "vitest";
import { completionContext, errorPosition, offsetOf, rankCompletions } from "./promql";
import { seriesName, seriesStats } from "./legend";
import { alignMatrix, bucketCounts, stack } from "./series";
import { parseMatchers, formatMatcher } from "./matchers";
import { queryTerms } from "./highlight";

describe("PromQL editor helpers", () => {
  it("reads the error position Prometheus puts in front of its message", () => {
    expect(errorPosition("1:12: parse error: unexpected character")).toEqual({ line: 1, column: 12, message: "parse error: unexpected character" });
    expect(errorPosition("invalid promql query")).toBeNull();
    expect(offsetOf("ab\ncdef", 2, 3)).toBe(5);
  });

  it("knows what to complete at the cursor", () => {
    expect(completionContext("rate(http_req", 13)).toEqual({ kind: "metric", prefix: "http_req", from: 5 });
    expect(completionContext('up{jo', 5)).toEqual({ kind: "label", prefix: "jo", from: 3, metric: "up" });
    expect(completionContext('up{job="ap', 10)).toEqual({ kind: "value", prefix: "ap", from: 8, metric: "up", label: "job" });
    expect(completionContext("sum by (serv", 12)).toEqual({ kind: "label", prefix: "serv", from: 8, metric: null });
    expect(completionContext('up{job="a b"} + ', 16)).toBeNull();
  });

  it("ranks prefix matches before substring matches", () => {
    expect(rankCompletions(["http_requests_total", "argus_http_x", "rate", "http"], "http")).toEqual(["http_requests_total", "argus_http_x"]);
  });
});

describe("series", () => {
  it("names series by legend format or Prometheus form", () => {
    expect(seriesName({ __name__: "up", job: "a", instance: "x" })).toBe('up{instance="x", job="a"}');
    expect(seriesName({ quantile: "0.99", service: "s" }, "{{service}} p{{ quantile }}")).toBe("s p0.99");
    expect(seriesName({})).toBe("{}");
  });

  it("computes legend statistics over finite values", () => {
    expect(seriesStats([1, null, 3, NaN, 2])).toEqual({ min: 1, max: 3, avg: 2, current: 2 });
    expect(seriesStats([null])).toEqual({ min: null, max: null, avg: null, current: null });
  });

  it("aligns matrices on the query grid with gaps", () => {
    const a = alignMatrix([{ metric: { a: "1" }, values: [[100, "1"], [120, "3"]] }], 100, 130, 10);
    expect(a.xs).toEqual([100, 110, 120, 130]);
    expect(a.series[0].values).toEqual([1, null, 3, null]);
    // Anchored at the end: the last point is the end itself.
    const b = alignMatrix([{ metric: {}, values: [[105.5, "2"]] }], 100, 135.5, 10);
    expect(b.xs).toEqual([105.5, 115.5, 125.5, 135.5]);
    expect(b.series[0].values).toEqual([2, null, null, null]);
  });

  it("stacks and de-cumulates histogram buckets", () => {
    expect(stack([[1, null, null], [2, 3, null]])).toEqual([[1, null, null], [3, 3, null]]);
    const b = bucketCounts([
      { name: "", labels: { le: "+Inf" }, values: [10] },
      { name: "", labels: { le: "0.1" }, values: [4] },
      { name: "", labels: { le: "1" }, values: [9] },
    ]);
    expect(b.bounds).toEqual(["0.1", "1", "+Inf"]);
    expect(b.counts).toEqual([[4], [5], [1]]);
  });
});

describe("silence matchers and log terms", () => {
  it("parses matchers and writes them back", () => {
    const m = parseMatchers('alertname="HighLatency", service=~"check.*" env!="dev"');
    expect(m).toEqual([
      { name: "alertname", value: "HighLatency", isRegex: false, isEqual: true },
      { name: "service", value: "check.*", isRegex: true, isEqual: true },
      { name: "env", value: "dev", isRegex: false, isEqual: false },
    ]);
    expect((m as any[]).map(formatMatcher).join(" ")).toBe('alertname="HighLatency" service=~"check.*" env!="dev"');
    expect(typeof parseMatchers("alertname")).toBe("string");
    expect(typeof parseMatchers("")).toBe("string");
  });

  it("highlights a query's values, not its operators or field names", () => {
    expect(queryTerms('level:error AND service:"check out" payment*')).toEqual(["check out", "payment", "error"]);
  });
});
