import { describe, expect, it } from "vitest";
import { formatValue, unitFromName } from "./units";

describe("units", () => {
  it("formats durations from seconds", () => {
    expect(formatValue(0.25, "seconds")).toBe("250 ms");
    expect(formatValue(0.0000123, "seconds")).toBe("12.3 µs");
    expect(formatValue(1.5, "seconds")).toBe("1.5 s");
    expect(formatValue(90, "seconds")).toBe("1.5 min");
    expect(formatValue(7200, "seconds")).toBe("2 h");
    expect(formatValue(0, "seconds")).toBe("0 s");
    expect(formatValue(1500, "milliseconds")).toBe("1.5 s");
  });

  it("formats bytes in binary units", () => {
    expect(formatValue(512, "bytes")).toBe("512 B");
    expect(formatValue(1536, "bytes")).toBe("1.5 KiB");
    expect(formatValue(5 * 1024 ** 3, "bytes")).toBe("5 GiB");
  });

  it("formats percentages, ratios, rates and plain numbers", () => {
    expect(formatValue(12.345, "percent")).toBe("12.3%");
    expect(formatValue(0.0123, "ratio")).toBe("1.23%");
    expect(formatValue(1234, "rate")).toBe("1.23k/s");
    expect(formatValue(2_500_000)).toBe("2.5M");
    expect(formatValue(0.5)).toBe("0.5");
    expect(formatValue(-1500)).toBe("-1.5k");
  });

  it("writes special values as text", () => {
    expect(formatValue(null)).toBe("–");
    expect(formatValue(NaN, "seconds")).toBe("NaN");
    expect(formatValue(Infinity)).toBe("+Inf");
    expect(formatValue(-Infinity)).toBe("-Inf");
  });

  it("guesses units from Prometheus metric names", () => {
    expect(unitFromName("http_request_duration_seconds_bucket")).toBe("seconds");
    expect(unitFromName("process_resident_memory_bytes")).toBe("bytes");
    expect(unitFromName("up")).toBeUndefined();
  });
});
