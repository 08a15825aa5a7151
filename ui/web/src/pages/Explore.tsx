// Explore: a PromQL editor with metric, label and value completion from the label APIs, the
// server's error shown at its position in the query, and the result as a chart or a table.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { labelNames, labelValues, queryInstant, queryRange, type VectorSample } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { completionContext, errorPosition, FUNCTIONS, offsetOf, rankCompletions, type CompletionContext } from "../lib/promql";
import { setParams, useLocation } from "../lib/router";
import { alignMatrix } from "../lib/series";
import { stepFor } from "../lib/time";
import { absoluteRange } from "../lib/urlstate";
import { unitFromName } from "../lib/units";
import { SeriesValueTable } from "../components/SeriesValueTable";
import { TimeChart } from "../components/TimeChart";

export function Explore() {
  const { params } = useLocation();
  const { resolved } = useTimeRange();
  const query = params.get("q") ?? "";
  const tab = params.get("tab") === "table" ? "table" : "chart";
  const [text, setText] = useState(query);
  useEffect(() => setText(query), [query]);

  const step = stepFor(resolved);
  const result = useAsync(
    async (signal) => {
      if (!query.trim()) return null;
      if (tab === "table") return { table: await queryInstant(query, resolved.end, signal) };
      const m = await queryRange(query, resolved.start, resolved.end, step, signal);
      return { chart: alignMatrix(m.result, resolved.start / 1000, resolved.end / 1000, step) };
    },
    [query, tab, resolved.start, resolved.end, step],
  );
  const run = () => setParams({ q: text.trim() || null });
  const metric = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(query.replace(/^.*?\(/, ""))?.[0] ?? "";

  return (
    <section>
      <h1 tabIndex={-1}>Explore</h1>
      <Editor value={text} onInput={setText} onRun={run} />
      <div class="toolbar">
        <button class="btn primary" onClick={run}>
          Run query
        </button>
        <span class="muted">Ctrl+Enter runs · Tab or Enter completes · Esc closes suggestions</span>
        <div role="tablist" class="tabs" aria-label="Result view">
          {(["chart", "table"] as const).map((t) => (
            <button key={t} role="tab" class="btn" aria-selected={tab === t} onClick={() => setParams({ tab: t === "chart" ? null : t })}>
              {t === "chart" ? "Chart" : "Table"}
            </button>
          ))}
        </div>
      </div>
      {result.error && <QueryErrorBox query={query} message={result.error.message} />}
      {!result.error && result.loading && query && <p class="muted">Running…</p>}
      {!result.error && result.data?.chart && (
        <div class="card">
          <TimeChart
            data={result.data.chart}
            unit={unitFromName(metric)}
            height={320}
            onZoom={(s, e) => setParams({ ...absoluteRange(s, e) })}
            ariaLabel={`Result of ${query}: ${result.data.chart.series.length} series`}
          />
        </div>
      )}
      {!result.error && result.data?.table && <ResultTable data={result.data.table} />}
      {!query && <p class="muted">Type a PromQL query, e.g. <code>sum by (service) (rate(argus_spans_total[5m]))</code>.</p>}
    </section>
  );
}

function ResultTable(props: { data: Awaited<ReturnType<typeof queryInstant>> }) {
  const d = props.data;
  const rows: VectorSample[] = d.resultType === "vector" ? d.result : d.resultType === "scalar" || d.resultType === "string" ? [{ metric: {}, value: d.result }] : [];
  return <SeriesValueTable samples={rows} label="Query result" empty="Empty result." />;
}

/** The error, and when it has a position, the query with the offending character marked. */
export function QueryErrorBox(props: { query: string; message: string }) {
  const pos = errorPosition(props.message);
  let excerpt = null;
  if (pos) {
    const at = offsetOf(props.query, pos.line, pos.column);
    const line = props.query.split("\n")[pos.line - 1] ?? props.query;
    const col = Math.min(line.length, pos.column - 1);
    excerpt = (
      <pre class="mono" data-testid="error-excerpt">
        {line.slice(0, col)}
        <mark>{line.slice(col, col + 1) || " "}</mark>
        {line.slice(col + 1)}
        {"\n"}
        {" ".repeat(col)}^ line {pos.line}, column {pos.column} (offset {at})
      </pre>
    );
  }
  return (
    <div class="query-error" role="alert" data-testid="query-error">
      <strong>Query error:</strong> {pos ? pos.message : props.message}
      {excerpt}
    </div>
  );
}

function Editor(props: { value: string; onInput: (v: string) => void; onRun: () => void }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [ctx, setCtx] = useState<CompletionContext | null>(null);
  const [selected, setSelected] = useState(0);
  const [open, setOpen] = useState(false);
  const key = ctx ? `${ctx.kind}|${"metric" in ctx ? ctx.metric : ""}|${ctx.kind === "value" ? ctx.label : ""}` : "";
  const candidates = useAsync(
    async (signal): Promise<string[]> => {
      if (!ctx) return [];
      const match = "metric" in ctx && ctx.metric ? [ctx.metric] : [];
      if (ctx.kind === "metric") return [...(await labelValues("__name__", [], signal)), ...FUNCTIONS];
      if (ctx.kind === "label") return labelNames(match, signal);
      return labelValues(ctx.label, match, signal);
    },
    [key],
  );
  const items = useMemo(() => (ctx && candidates.data ? rankCompletions(candidates.data, ctx.prefix) : []), [candidates.data, ctx?.prefix, key]);
  useEffect(() => setSelected(0), [items.length, ctx?.prefix]);

  const update = () => {
    const el = area.current;
    if (!el) return;
    setCtx(completionContext(el.value, el.selectionStart));
  };
  const accept = (item: string) => {
    const el = area.current;
    if (!el || !ctx) return;
    const before = props.value.slice(0, ctx.from);
    const after = props.value.slice(el.selectionStart);
    const next = before + item + after;
    props.onInput(next);
    setOpen(false);
    requestAnimationFrame(() => {
      el.focus();
      el.selectionStart = el.selectionEnd = before.length + item.length;
    });
  };
  const showing = open && items.length > 0;
  return (
    <div class="editor">
      <label for="promql" class="sr-only">
        PromQL query
      </label>
      <textarea
        id="promql"
        ref={area}
        spellcheck={false}
        autocomplete="off"
        value={props.value}
        role="combobox"
        aria-expanded={showing}
        aria-controls="promql-suggestions"
        aria-autocomplete="list"
        aria-activedescendant={showing ? `sugg-${selected}` : undefined}
        placeholder="PromQL, e.g. rate(http_requests_total[5m])"
        onInput={(e) => {
          props.onInput((e.target as HTMLTextAreaElement).value);
          setOpen(true);
          update();
        }}
        onClick={update}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            setOpen(false);
            props.onRun();
          } else if (showing && e.key === "ArrowDown") {
            e.preventDefault();
            setSelected((selected + 1) % items.length);
          } else if (showing && e.key === "ArrowUp") {
            e.preventDefault();
            setSelected((selected - 1 + items.length) % items.length);
          } else if (showing && (e.key === "Enter" || e.key === "Tab")) {
            e.preventDefault();
            accept(items[selected]);
          } else if (e.key === "Escape") {
            setOpen(false);
          } else if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            props.onRun();
          }
        }}
      />
      {showing && (
        <ul id="promql-suggestions" class="suggest" role="listbox" aria-label="Suggestions">
          {items.map((item, i) => (
            <li
              key={item}
              id={`sugg-${i}`}
              role="option"
              aria-selected={i === selected}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
            >
              {item}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
