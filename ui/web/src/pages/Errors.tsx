// Errors: the error groups (fingerprints) of the range with their counts over time, first and
// last seen, services, an example with its stack trace, and links to their lines and trace.

import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { errorGroups, searchLogs } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { Link } from "../lib/router";
import { formatAgo, formatTimestamp } from "../lib/time";
import { Sparkline } from "../components/Sparkline";

export function Errors() {
  const { resolved } = useTimeRange();
  const state = useAsync(
    async (signal) => {
      const groups = await errorGroups(resolved.start, resolved.end, signal);
      // Counts over time: the histogram of each group's own query, for the top groups.
      const histograms = await Promise.all(
        groups.slice(0, 30).map((g) =>
          searchLogs({ q: g.query, start: resolved.start, end: resolved.end, limit: 0, buckets: 30 }, signal)
            .then((r) => r.histogram)
            .catch(() => []),
        ),
      );
      return groups.map((g, i) => ({ group: g, histogram: histograms[i] ?? [] }));
    },
    [resolved.start, resolved.end],
  );
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section>
      <h1 tabIndex={-1}>Errors</h1>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {state.data && state.data.length === 0 && <p class="muted">No error lines in this range.</p>}
      {state.data && state.data.length > 0 && (
        <div class="table-wrap">
          <table class="data" aria-label="Error groups">
            <thead>
              <tr>
                <th scope="col">Error</th>
                <th scope="col" class="num">Count</th>
                <th scope="col">Over time</th>
                <th scope="col">Services</th>
                <th scope="col">First seen</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {state.data.map(({ group: g, histogram }) => (
                <Fragment key={g.fingerprint}>
                  <tr>
                    <td style={{ maxWidth: "420px" }}>
                      <button class="link" aria-expanded={open === g.fingerprint} onClick={() => setOpen(open === g.fingerprint ? null : g.fingerprint)}>
                        {g.example.message.split("\n")[0].slice(0, 160)}
                      </button>
                    </td>
                    <td class="num">{g.count}</td>
                    <td>
                      {histogram.length > 0 && (
                        <Sparkline xs={histogram.map((b) => b.start_ms / 1000)} values={histogram.map((b) => b.count)} color={3} label={`Occurrences of ${g.fingerprint}`} />
                      )}
                    </td>
                    <td>{g.services.join(", ")}</td>
                    <td>{formatTimestamp(g.first_seen_ms)}</td>
                    <td>{formatAgo(g.last_seen_ms, Date.now())}</td>
                  </tr>
                  {open === g.fingerprint && (
                    <tr>
                      <td colSpan={6} class="logdetail">
                        <p>
                          <Link href={`/logs?q=${encodeURIComponent(g.query)}&from=${g.first_seen_ms - 1000}&to=${g.last_seen_ms + 1000}`}>All {g.count} lines</Link>
                          {g.example.trace_id && (
                            <>
                              {" · "}
                              <Link href={`/traces/${g.example.trace_id}`}>Trace of the example</Link>
                            </>
                          )}
                          <span class="muted mono"> · fingerprint {g.fingerprint}</span>
                        </p>
                        <pre class="mono">{JSON.stringify(g.example.event, null, 2)}</pre>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
