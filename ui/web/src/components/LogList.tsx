// Log lines: one row each (time, level, service, message with the query's terms highlighted),
// expanding to the original event as indented JSON, with a link from its trace id.

import { useState } from "preact/hooks";
import type { LogHit } from "../lib/api";
import { Link } from "../lib/router";
import { formatTimestamp } from "../lib/time";
import { highlight, queryTerms } from "../lib/highlight";

export function LogList(props: { hits: LogHit[]; query: string; compact?: boolean }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const terms = queryTerms(props.query);
  const toggle = (key: string) => {
    const next = new Set(open);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setOpen(next);
  };
  if (props.hits.length === 0) return <p class="muted">No log lines match.</p>;
  return (
    <ul class={`loglist ${props.compact ? "compact" : ""}`} aria-label="Log lines">
      {props.hits.map((h) => {
        const key = `${h.timestamp_ms}.${h.seq}`;
        const expanded = open.has(key);
        return (
          <li key={key}>
            <button class="logline" aria-expanded={expanded} onClick={() => toggle(key)}>
              <span class="mono muted">{props.compact ? formatTimestamp(h.timestamp_ms).slice(11) : formatTimestamp(h.timestamp_ms, true)}</span>
              <span class={`lvl-${(h.level ?? "").toLowerCase()}`}>{h.level ?? ""}</span>
              {!props.compact && <span class="muted" title={h.service}>{h.service ?? ""}</span>}
              <span class="msg">{highlight(h.message, terms)}</span>
            </button>
            {expanded && (
              <div class="logdetail">
                <p>
                  {h.trace_id && (
                    <>
                      <Link href={`/traces/${h.trace_id}`}>Open trace {h.trace_id.slice(0, 12)}…</Link>{" · "}
                    </>
                  )}
                  {h.fingerprint && (
                    <>
                      <Link href={`/logs?q=${encodeURIComponent(`fingerprint:${h.fingerprint}`)}`}>Lines of this error group</Link>
                      {" · "}
                    </>
                  )}
                  {h.host && <span class="muted">host {h.host}</span>}
                </p>
                <pre class="mono" data-testid="log-json">{highlight(JSON.stringify(h.event, null, 2), terms)}</pre>
              </div>
            )}
          </li>
        );
      })}
    </ul>
  );
}
