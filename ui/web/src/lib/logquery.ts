// Editing a Lucene log query from the UI: a facet click adds a clause.

/** The query with `field:"value"` added (or its negation), as a facet click does. */
export function addClause(query: string, field: string, value: string, negate = false): string {
  const clause = `${negate ? "NOT " : ""}${field}:"${value.replace(/(["\\])/g, "\\$1")}"`;
  const q = query.trim();
  if (!q || q === "*") return clause;
  return `${/\s(OR)\s/.test(q) ? `(${q})` : q} AND ${clause}`;
}
