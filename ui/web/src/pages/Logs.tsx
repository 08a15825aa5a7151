// Logs: a Lucene query over the page's range, a histogram of matches (drag to zoom), facets
// that add a clause to the query, the lines with expandable JSON, paging, and live tail.

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { searchLogs, type LogHit, type LogSearch } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { setParams, useLocation } from "../lib/router";
import { absoluteRange } from "../lib/urlstate";
import { colorAt, cssVar } from "../lib/palette";
import { LogList } from "../components/LogList";
import { addClause } from "../lib/logquery";

const FACETS = ["level", "service", "host"];

export function Logs() {
  const { params } = useLocation();
  const { resolved } = useTimeRange();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  const [more, setMore] = useState<LogHit[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [live, setLive] = useState(false);
  const [tailed, setTailed] = useState<LogHit[]>([]);

  const result = useAsync(
    (signal) => searchLogs({ q, start: resolved.start, end: resolved.end, limit: 100, buckets: 60 }, signal),
    [q, resolved.start, resolved.end],
  );
  useEffect(() => {
    setMore([]);
    setCursor(result.data?.next_cursor);
  }, [result.data]);

  useEffect(() => {
    if (!live) return;
    setTailed([]);
    const source = new EventSource(`/api/v1/logs/tail?q=${encodeURIComponent(q)}`);
    source.addEventListener("log", (e) => {
      const hit = JSON.parse((e as MessageEvent).data) as LogHit;
      setTailed((t) => [hit, ...t].slice(0, 500));
    });
    source.onerror = () => source.readyState === EventSource.CLOSED && setLive(false);
    return () => source.close();
  }, [live, q]);

  const loadMore = async () => {
    if (!cursor) return;
    const page = await searchLogs({ q, start: resolved.start, end: resolved.end, limit: 100, cursor, buckets: 0 });
    setMore((m) => [...m, ...page.hits]);
    setCursor(page.next_cursor);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    setParams({ q: text.trim() || null });
  };

  return (
    <section>
      <h1 tabIndex={-1}>Logs</h1>
      <form class="toolbar" onSubmit={submit} role="search">
        <label class="grow">
          <span class="sr-only">Log query (Lucene syntax)</span>
          <input
            class="mono"
            style={{ width: "100%" }}
            value={text}
            placeholder='Lucene query, e.g. level:error AND service:checkout AND "payment failed"'
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
        </label>
        <button class="btn primary" type="submit">
          Search
        </button>
        <button type="button" class="btn" aria-pressed={live} onClick={() => setLive(!live)}>
          {live ? "■ Stop live tail" : "▶ Live tail"}
        </button>
      </form>
      {result.error && <p class="error" role="alert">{result.error.message}</p>}
      {result.data && (
        <div class="logs-layout">
          <aside class="facets card" aria-label="Facets">
            {FACETS.map((field) => (
              <div key={field}>
                <h3>{field}</h3>
                <ul>
                  {(result.data!.facets[field] ?? []).map((f) => (
                    <li key={f.value}>
                      <button class="link" onClick={() => setParams({ q: addClause(q, field, f.value) })} title={`Only ${field} ${f.value}`}>
                        <span>{f.value}</span>
                        <span class="muted">{f.count}</span>
                      </button>
                    </li>
                  ))}
                  {(result.data!.facets[field] ?? []).length === 0 && <li class="muted">–</li>}
                </ul>
              </div>
            ))}
          </aside>
          <div class="card" style={{ minWidth: 0 }}>
            <p>
              <strong data-testid="log-total">{result.data.total}</strong> lines match
              {result.loading && <span class="muted"> · updating…</span>}
            </p>
            <Histogram data={result.data} start={resolved.start} end={resolved.end} />
            {live && (
              <>
                <h2>Live ({tailed.length})</h2>
                <LogList hits={tailed} query={q} />
              </>
            )}
            <LogList hits={[...result.data.hits, ...more]} query={q} />
            {cursor && (
              <button class="btn" onClick={loadMore}>
                Load older lines
              </button>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function Histogram(props: { data: LogSearch; start: number; end: number }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const container = el.current;
    if (!container) return;
    const h = props.data.histogram;
    const xs = h.map((b) => b.start_ms / 1000);
    const ys = h.map((b) => b.count);
    const u = new uPlot(
      {
        width: Math.max(200, container.clientWidth),
        height: 90,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        // The searched range, not the data's: one busy minute must not fill the whole axis.
        scales: { x: { time: true, range: () => [props.start / 1000, props.end / 1000] }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1)] } },
        axes: [
          { size: 30, stroke: cssVar("--fg-muted"), grid: { stroke: cssVar("--grid") } },
          { size: 40, stroke: cssVar("--fg-muted"), grid: { stroke: cssVar("--grid") }, values: (_u, s) => s.map((v) => String(v)) },
        ],
        series: [{}, { stroke: colorAt(0), fill: colorAt(0) + "99", paths: uPlot.paths.bars!({ size: [0.9, 40] }), points: { show: false } }],
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width > 3) {
                const r = absoluteRange(u.posToVal(u.select.left, "x") * 1000, u.posToVal(u.select.left + u.select.width, "x") * 1000);
                setParams({ from: r.from, to: r.to });
              }
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            },
          ],
        },
      },
      [xs, ys],
      container,
    );
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, container.clientWidth), height: 90 }));
    resize.observe(container);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [props.data, props.start, props.end]);
  return <div ref={el} role="img" aria-label="Matching lines over time; drag to zoom" data-testid="log-histogram" />;
}
