// Trace-search tags as typed in one box, into the Jaeger API's `tags` object.

/** `http.status_code=500 error=true` → {"http.status_code":"500","error":"true"}; null when malformed. */
export function parseTags(text: string): Record<string, string> | null {
  const tags: Record<string, string> = {};
  for (const part of text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []) {
    const eq = part.indexOf("=");
    if (eq <= 0) return null;
    tags[part.slice(0, eq)] = part.slice(eq + 1).replace(/^"(.*)"$/, "$1");
  }
  return tags;
}
