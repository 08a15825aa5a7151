// Alert thresholds for panels: an alerting rule `EXPR > N` (or >=, <, <=) draws N on the
// panels whose query is that EXPR, so a chart shows how close its series are to paging.

import type { RuleGroupJson } from "./api";

export interface RuleThreshold {
  expr: string;
  value: number;
  label: string;
}

/** Spaces removed: `rate(x[5m]) ` and `rate( x[5m] )` are the same query. */
export function normalizeExpr(expr: string): string {
  return expr.replace(/\s+/g, "");
}

export function ruleThresholds(groups: RuleGroupJson[] | null | undefined): RuleThreshold[] {
  const out: RuleThreshold[] = [];
  for (const g of groups ?? []) {
    for (const r of g.rules) {
      if (r.type !== "alerting") continue;
      const m = /^\s*(.+?)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/s.exec(r.query);
      if (!m) continue;
      out.push({ expr: normalizeExpr(m[1]), value: parseFloat(m[3]), label: `${r.name} ${m[2]} ${m[3]}` });
    }
  }
  return out;
}

export function thresholdsFor(expr: string | undefined, rules: RuleThreshold[]): { value: number; label: string }[] {
  if (!expr) return [];
  const e = normalizeExpr(expr);
  return rules.filter((r) => r.expr === e).map(({ value, label }) => ({ value, label }));
}
