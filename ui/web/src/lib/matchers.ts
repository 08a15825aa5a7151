// Silence matchers as people type them (`alertname="HighLatency" service=~"check.*"`), in
// Alertmanager's JSON form, and back.

import type { Matcher } from "./api";

export function parseMatchers(text: string): Matcher[] | string {
  const out: Matcher[] = [];
  const re = /\s*,?\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/gy;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ name: m[1], value: m[3].replace(/\\(.)/g, "$1"), isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
    last = re.lastIndex;
  }
  if (text.slice(last).trim() !== "") return `cannot read matchers from: ${text.slice(last).trim()}`;
  if (out.length === 0) return 'at least one matcher, like alertname="HighLatency"';
  return out;
}

export function formatMatcher(m: Matcher): string {
  const op = m.isRegex ? (m.isEqual === false ? "!~" : "=~") : m.isEqual === false ? "!=" : "=";
  return `${m.name}${op}"${m.value.replace(/(["\\])/g, "\\$1")}"`;
}
