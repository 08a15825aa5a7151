// Highlighting a log query's terms in text: the free words and field values of a Lucene query
// (operators, field names and wildcards left out), matched case-insensitively.

import type { ComponentChildren } from "preact";

export function queryTerms(query: string): string[] {
  const terms = new Set<string>();
  const re = /(?:([\w.@-]+):)?("([^"]*)"|[^\s()"]+)/g;
  for (let m = re.exec(query); m !== null; m = re.exec(query)) {
    const value = (m[3] ?? m[2]).replace(/[*?]/g, "");
    if (/^(AND|OR|NOT|TO)$/.test(m[2]) || value.length < 2 || value.startsWith("[")) continue;
    terms.add(value.toLowerCase());
  }
  return [...terms].sort((a, b) => b.length - a.length);
}

export function highlight(text: string, terms: string[]): ComponentChildren {
  if (terms.length === 0) return text;
  const re = new RegExp(terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi");
  const out: ComponentChildren[] = [];
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(<mark>{m[0]}</mark>);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
