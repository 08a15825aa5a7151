import { describe, expect, it } from "vitest";
import { ruleThresholds, thresholdsFor } from "./rulethresholds";
import type { RuleGroupJson } from "./api";

const group = (queries: [string, "alerting" | "recording"][]): RuleGroupJson => ({
  name: "g",
  file: "f.yml",
  interval: 10,
  rules: queries.map(([query, type], i) => ({ name: `R${i}`, query, type, health: "ok" })),
});

describe("alert thresholds on panels", () => {
  it("reads `EXPR op N` alerting rules and matches panels by query, spaces aside", () => {
    const rules = ruleThresholds([
      group([
        ["histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5", "alerting"],
        ["up == 0", "alerting"],
        ["rate(x[5m]) < 1e-3", "alerting"],
        ["sum(x) > 3", "recording"],
      ]),
    ]);
    expect(rules.map((r) => r.value)).toEqual([0.5, 0.001]);
    expect(thresholdsFor("histogram_quantile(0.99, sum by(le)(rate(x_bucket[5m])))", rules)).toEqual([
      { value: 0.5, label: "R0 > 0.5" },
    ]);
    expect(thresholdsFor("rate(x[5m])", rules)).toEqual([{ value: 0.001, label: "R2 < 1e-3" }]);
    expect(thresholdsFor("sum(x)", rules)).toEqual([]);
    expect(thresholdsFor(undefined, rules)).toEqual([]);
    expect(ruleThresholds(null)).toEqual([]);
  });
});
