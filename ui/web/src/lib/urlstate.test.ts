import { describe, expect, it } from "vitest";
import { absoluteRange, patchSearch, rangeSearch, readRange, readRefresh, zoomOut } from "./urlstate";
import { describeRange, parseDuration, resolveRange, resolveTime, stepFor, formatDuration } from "./time";

describe("URL state", () => {
  it("reads the range with defaults and a page's own fallback", () => {
    expect(readRange(new URLSearchParams(""))).toEqual({ from: "now-1h", to: "now" });
    expect(readRange(new URLSearchParams("from=now-6h"))).toEqual({ from: "now-6h", to: "now" });
    expect(readRange(new URLSearchParams(""), { from: "now-7d", to: "now" }).from).toBe("now-7d");
  });

  it("patches keys, drops defaults and empties, and sorts for stable links", () => {
    expect(patchSearch("?q=up&from=now-6h", { from: "now-1h" })).toBe("?q=up");
    expect(patchSearch("?q=up", { tab: "table", from: "now-6h" })).toBe("?from=now-6h&q=up&tab=table");
    expect(patchSearch("?q=up", { q: null })).toBe("");
    expect(patchSearch("", { q: 'sum(rate(x{a="b"}[5m]))' })).toBe("?q=sum%28rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29%29");
    // Round trip: what was written reads back unchanged.
    const s = patchSearch("", { q: 'a{b="c d"} / 2', from: "1700000000000", to: "1700003600000" });
    const p = new URLSearchParams(s);
    expect(p.get("q")).toBe('a{b="c d"} / 2');
    expect(readRange(p)).toEqual({ from: "1700000000000", to: "1700003600000" });
  });

  it("carries only the range to other pages", () => {
    expect(rangeSearch(new URLSearchParams("q=x&from=now-6h&refresh=30s&filter=a"))).toBe("?from=now-6h&refresh=30s");
    expect(rangeSearch(new URLSearchParams("q=x"))).toBe("");
  });

  it("reads auto-refresh and refuses nonsense", () => {
    expect(readRefresh(new URLSearchParams("refresh=30s"))).toBe(30_000);
    expect(readRefresh(new URLSearchParams("refresh=off"))).toBeNull();
    expect(readRefresh(new URLSearchParams("refresh=10ms"))).toBeNull();
    expect(readRefresh(new URLSearchParams("refresh=soon"))).toBeNull();
  });

  it("zooms to absolute ranges", () => {
    expect(absoluteRange(1000.4, 2000.2)).toEqual({ from: "1000", to: "2001" });
    expect(zoomOut(1000, 2000)).toEqual({ from: "500", to: "2500" });
  });
});

describe("time", () => {
  it("parses and formats Prometheus durations", () => {
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("5x")).toBeNull();
    expect(parseDuration("")).toBeNull();
    expect(formatDuration(90_000)).toBe("1m30s");
  });

  it("resolves relative, epoch and date ends", () => {
    const now = 1_700_000_000_000;
    expect(resolveTime("now", now)).toBe(now);
    expect(resolveTime("now-5m", now)).toBe(now - 300_000);
    expect(resolveTime("1699999999999", now)).toBe(1_699_999_999_999);
    expect(resolveTime("2023-11-14T22:13:20Z", now)).toBe(now);
    expect(resolveTime("yesterday", now)).toBeNull();
  });

  it("falls back to the last hour for reversed or broken ranges", () => {
    const now = 1_700_000_000_000;
    expect(resolveRange({ from: "now", to: "now-1h" }, now)).toEqual({ start: now - 3_600_000, end: now });
    expect(resolveRange({ from: "x", to: "now" }, now)).toEqual({ start: now - 3_600_000, end: now });
  });

  it("picks round steps of about 250 points", () => {
    expect(stepFor({ start: 0, end: 3_600_000 })).toBe(15);
    expect(stepFor({ start: 0, end: 86_400_000 })).toBe(600);
    expect(stepFor({ start: 0, end: 60_000 })).toBe(1);
  });

  it("names ranges", () => {
    expect(describeRange({ from: "now-24h", to: "now" })).toBe("Last 24 hours");
    expect(describeRange({ from: "now-90m", to: "now" })).toBe("Last 90m");
  });
});
