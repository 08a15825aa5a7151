// Helpers for the PromQL editor: where a server-reported error points, and what to complete
// at the cursor.

export interface ErrorPosition {
  line: number;
  column: number;
  message: string;
}

/**
 * Reads Prometheus' `1:12: parse error: …` (line:column, 1-based) from an error message; null
 * when the message carries no position.
 */
export function errorPosition(error: string): ErrorPosition | null {
  const m = /^(\d+):(\d+): (.*)$/s.exec(error.trim());
  if (!m) return null;
  return { line: parseInt(m[1], 10), column: parseInt(m[2], 10), message: m[3] };
}

/** The 0-based offset of a 1-based line:column in `text`, clamped to its length. */
export function offsetOf(text: string, line: number, column: number): number {
  const lines = text.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  return Math.min(text.length, offset + Math.max(0, column - 1));
}

export type CompletionContext =
  | { kind: "metric"; prefix: string; from: number }
  | { kind: "label"; prefix: string; from: number; metric: string | null }
  | { kind: "value"; prefix: string; from: number; metric: string | null; label: string };

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * What the word before `cursor` is: a metric (or function) name, a label name inside
 * `{…}` or `by (…)`, or a label value after `label="`. Null inside strings elsewhere or after
 * a number.
 */
export function completionContext(text: string, cursor: number): CompletionContext | null {
  const before = text.slice(0, cursor);
  const value = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(before);
  if (value && insideBraces(before)) {
    return {
      kind: "value",
      prefix: value[3],
      from: cursor - value[3].length,
      metric: metricBeforeBrace(before),
      label: value[1],
    };
  }
  if (quoteOpen(before)) return null;
  const word = IDENT.exec(before)?.[0] ?? "";
  const from = cursor - word.length;
  if (insideBraces(before) || /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$/.test(before)) {
    return { kind: "label", prefix: word, from, metric: insideBraces(before) ? metricBeforeBrace(before) : null };
  }
  if (word === "" || /[0-9.]$/.test(before.slice(0, from)) && /^\d/.test(word)) return null;
  return { kind: "metric", prefix: word, from };
}

function quoteOpen(s: string): boolean {
  let open = false;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') open = !open;
  }
  return open;
}

function insideBraces(s: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") depth++;
    else if (!quoted && c === "}") depth = Math.max(0, depth - 1);
  }
  return depth > 0;
}

function metricBeforeBrace(s: string): string | null {
  const brace = s.lastIndexOf("{");
  if (brace < 0) return null;
  return IDENT.exec(s.slice(0, brace).trimEnd())?.[0] ?? null;
}

/** PromQL's functions and aggregations, offered with metric names. */
export const FUNCTIONS = [
  "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp",
  "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "delta", "deriv", "exp", "floor",
  "group", "histogram_quantile", "holt_winters", "idelta", "increase", "irate", "label_join", "label_replace",
  "last_over_time", "ln", "log10", "log2", "max", "max_over_time", "min", "min_over_time", "predict_linear",
  "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt",
  "stddev", "stddev_over_time", "stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector",
];

/** Candidates that start with the prefix (case-insensitive), then those containing it. */
export function rankCompletions(candidates: string[], prefix: string, limit = 50): string[] {
  const p = prefix.toLowerCase();
  const starts: string[] = [];
  const contains: string[] = [];
  for (const c of candidates) {
    const l = c.toLowerCase();
    if (l === p) continue;
    if (l.startsWith(p)) starts.push(c);
    else if (p && l.includes(p)) contains.push(c);
  }
  return [...starts.sort(), ...contains.sort()].slice(0, limit);
}
