// Traces: search (service, operation, tags, duration, the page's range), results with duration
// and span count, and one trace as a waterfall with a collapsible span tree, span details, the
// critical path and a link to the trace's logs.

import { Fragment } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { getTrace, searchTraces, traceOperations, traceServices } from "../lib/api";
import type { JaegerTrace } from "../lib/spantree";
import { useAsync, useTimeRange } from "../lib/hooks";
import { Link, setParams, useLocation } from "../lib/router";
import { buildTree, criticalPath, visibleRows, type KeyValue, type SpanNode, type SpanTree } from "../lib/spantree";
import { formatTimestamp } from "../lib/time";
import { formatValue } from "../lib/units";
import { colorAt } from "../lib/palette";
import { parseTags } from "../lib/tags";

const us = (v: number) => formatValue(v / 1e6, "seconds");

export function TraceSearchPage() {
  const { params } = useLocation();
  const { resolved } = useTimeRange();
  const service = params.get("service") ?? "";
  const operation = params.get("operation") ?? "";
  const tags = params.get("tags") ?? "";
  const minDuration = params.get("minDuration") ?? "";
  const maxDuration = params.get("maxDuration") ?? "";
  const [form, setForm] = useState({ service, operation, tags, minDuration, maxDuration });
  useEffect(() => setForm({ service, operation, tags, minDuration, maxDuration }), [service, operation, tags, minDuration, maxDuration]);
  const services = useAsync((signal) => traceServices(signal), []);
  const operations = useAsync((signal) => (form.service ? traceOperations(form.service, signal) : Promise.resolve([])), [form.service]);
  const parsedTags = parseTags(tags);
  const results = useAsync(
    (signal) =>
      service && parsedTags
        ? searchTraces({ service, operation: operation || undefined, tags: parsedTags, minDuration: minDuration || undefined, maxDuration: maxDuration || undefined, start: resolved.start, end: resolved.end, limit: 50 }, signal)
        : Promise.resolve(null),
    [service, operation, tags, minDuration, maxDuration, resolved.start, resolved.end],
  );
  const submit = (e: Event) => {
    e.preventDefault();
    setParams({ ...form });
  };
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  });
  return (
    <section>
      <h1 tabIndex={-1}>Traces</h1>
      <form class="toolbar card" onSubmit={submit} role="search" aria-label="Find traces">
        <label>
          Service{" "}
          <select {...field("service")} onChange={(e) => setForm({ ...form, service: (e.target as HTMLSelectElement).value, operation: "" })} required>
            <option value="">choose…</option>
            {services.data?.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Operation{" "}
          <select {...field("operation")} onChange={(e) => setForm({ ...form, operation: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {operations.data?.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Tags <input {...field("tags")} placeholder="http.status_code=500 error=true" class="mono" />
        </label>
        <label>
          Min <input {...field("minDuration")} placeholder="100ms" size={6} />
        </label>
        <label>
          Max <input {...field("maxDuration")} placeholder="5s" size={6} />
        </label>
        <button class="btn primary" type="submit">
          Find traces
        </button>
      </form>
      {!parsedTags && <p class="error">Tags are key=value pairs separated by spaces.</p>}
      {results.error && <p class="error" role="alert">{results.error.message}</p>}
      {!service && <p class="muted">Choose a service to find its traces. <Link href="/traces/map">See the service map</Link>.</p>}
      {results.data && <TraceList traces={results.data} />}
    </section>
  );
}

function TraceList(props: { traces: JaegerTrace[] }) {
  const rows = props.traces.map((t) => ({ trace: t, tree: buildTree(t) }));
  if (rows.length === 0) return <p class="muted">No traces match in this range.</p>;
  return (
    <div class="table-wrap">
      <table class="data" aria-label="Traces found">
        <thead>
          <tr>
            <th scope="col">Trace</th>
            <th scope="col">Services</th>
            <th scope="col" class="num">
              Spans
            </th>
            <th scope="col" class="num">
              Duration
            </th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ trace, tree }) => (
            <tr key={trace.traceID}>
              <td>
                <Link href={`/traces/${trace.traceID}`}>{tree.roots[0] ? `${tree.roots[0].service}: ${tree.roots[0].span.operationName}` : trace.traceID}</Link>{" "}
                <span class="muted mono">{trace.traceID.slice(0, 8)}</span>
                {tree.errors > 0 && <span class="badge error">{tree.errors} errors</span>}
              </td>
              <td>{tree.services.join(", ")}</td>
              <td class="num">{trace.spans.length}</td>
              <td class="num">{us(tree.end - tree.start)}</td>
              <td>{formatTimestamp(tree.start / 1000)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TraceView(props: { id: string }) {
  const state = useAsync((signal) => getTrace(props.id, signal), [props.id]);
  if (state.error) return <section><h1 tabIndex={-1}>Trace {props.id}</h1><p class="error" role="alert">{state.error.message}</p></section>;
  if (!state.data) return <p class="muted">Loading…</p>;
  return <Waterfall trace={state.data} />;
}

function Waterfall(props: { trace: JaegerTrace }) {
  const tree = useMemo(() => buildTree(props.trace), [props.trace]);
  const critical = useMemo(() => criticalPath(tree), [tree]);
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<string | null>(tree.roots[0]?.span.spanID ?? null);
  const [showCritical, setShowCritical] = useState(true);
  const rows = visibleRows(tree, collapsed);
  const total = Math.max(1, tree.end - tree.start);
  const serviceColor = (s: string) => colorAt(tree.services.indexOf(s));
  const pct = (t: number) => `${((t - tree.start) / total) * 100}%`;
  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setCollapsed(next);
  };
  const root = tree.roots[0];
  const node = selected ? tree.byId.get(selected) : undefined;
  const logsFrom = Math.floor(tree.start / 1000) - 60_000;
  const logsTo = Math.ceil(tree.end / 1000) + 60_000;
  return (
    <section>
      <h1 tabIndex={-1}>
        {root ? `${root.service}: ${root.span.operationName}` : "Trace"} <span class="muted mono">{props.trace.traceID}</span>
      </h1>
      <p class="toolbar">
        <span>{us(tree.end - tree.start)}</span>
        <span>{props.trace.spans.length} spans</span>
        <span>{tree.services.length} services</span>
        {tree.errors > 0 && <span class="badge error">{tree.errors} errors</span>}
        <span class="muted">{formatTimestamp(tree.start / 1000, true)}</span>
        <Link href={`/logs?q=${encodeURIComponent(`trace_id:${props.trace.traceID}`)}&from=${logsFrom}&to=${logsTo}`}>Logs of this trace</Link>
        <label>
          <input type="checkbox" checked={showCritical} onChange={() => setShowCritical(!showCritical)} /> Critical path
        </label>
        <button class="btn" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <button class="btn" onClick={() => setCollapsed(new Set([...tree.byId.values()].filter((n) => n.children.length > 0 && n.depth > 0).map((n) => n.span.spanID)))}>
          Collapse all
        </button>
      </p>
      <p class="muted">
        {tree.services.map((s) => (
          <span key={s} style={{ marginRight: "12px" }}>
            <span class="swatch" style={{ background: serviceColor(s) }} />
            {s}
          </span>
        ))}
      </p>
      <div class="two-col">
        <div class="card waterfall" role="tree" aria-label="Spans">
          {rows.map((n) => {
            const s = n.span;
            const crit = showCritical ? critical.filter((c) => c.spanID === s.spanID) : [];
            const left = ((s.startTime - tree.start) / total) * 100;
            return (
              <div key={s.spanID} class={`wf-row ${selected === s.spanID ? "selected" : ""}`} role="treeitem" aria-level={n.depth + 1} aria-expanded={n.children.length ? !collapsed.has(s.spanID) : undefined} aria-selected={selected === s.spanID} data-span={s.operationName}>
                <div class="wf-name" style={{ paddingLeft: `${n.depth * 14}px` }}>
                  {n.children.length > 0 ? (
                    <button class="toggle" aria-label={`${collapsed.has(s.spanID) ? "Expand" : "Collapse"} ${s.operationName}`} onClick={() => toggle(s.spanID)}>
                      {collapsed.has(s.spanID) ? "▸" : "▾"}
                    </button>
                  ) : (
                    <span style={{ width: "20px", display: "inline-block" }} />
                  )}
                  <button class="span" onClick={() => setSelected(s.spanID)} title={`${n.service}: ${s.operationName}`}>
                    <span class="swatch" style={{ background: serviceColor(n.service) }} />
                    {n.error && <span class="error" aria-label="error">⚠ </span>}
                    <span class="muted">{n.service}</span> {s.operationName}
                  </button>
                </div>
                <div class="wf-track" aria-hidden="true">
                  <div class={`wf-bar ${n.error ? "err" : ""}`} style={{ left: `${left}%`, width: `${(s.duration / total) * 100}%`, background: serviceColor(n.service) }} />
                  {crit.map((c) => (
                    <div key={c.start} class="wf-crit" style={{ left: pct(c.start), width: `${((c.end - c.start) / total) * 100}%` }} title="critical path" />
                  ))}
                  <span class="wf-label" style={left > 70 ? { right: `${100 - left + 1}%` } : { left: `calc(${left + (s.duration / total) * 100}% + 4px)` }}>
                    {us(s.duration)}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
        <div class="card" aria-live="polite">{node ? <SpanDetails node={node} tree={tree} trace={props.trace} /> : <p class="muted">Select a span.</p>}</div>
      </div>
    </section>
  );
}

function KV(props: { items: KeyValue[] | null | undefined }) {
  const items = props.items ?? [];
  if (items.length === 0) return <p class="muted">none</p>;
  return (
    <dl class="kv">
      {items.map((kv, i) => (
        <Fragment key={i}>
          <dt>{kv.key}</dt>
          <dd class="mono">{String(kv.value)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

function SpanDetails(props: { node: SpanNode; tree: SpanTree; trace: JaegerTrace }) {
  const s = props.node.span;
  const process = props.trace.processes[s.processID];
  return (
    <div data-testid="span-details">
      <h2>
        {props.node.service}: {s.operationName}
      </h2>
      <dl class="kv">
        <dt>Span id</dt>
        <dd class="mono">{s.spanID}</dd>
        <dt>Start</dt>
        <dd>+{us(s.startTime - props.tree.start)}</dd>
        <dt>Duration</dt>
        <dd>{us(s.duration)}</dd>
      </dl>
      <p>
        <Link href={`/logs?q=${encodeURIComponent(`span_id:${s.spanID}`)}&from=${Math.floor(s.startTime / 1000) - 60000}&to=${Math.ceil((s.startTime + s.duration) / 1000) + 60000}`}>Logs of this span</Link>
      </p>
      <h3>Tags</h3>
      <KV items={s.tags} />
      <h3>Events</h3>
      {(s.logs ?? []).length === 0 && <p class="muted">none</p>}
      {(s.logs ?? []).map((l, i) => (
        <div key={i}>
          <p class="muted">+{us(l.timestamp - props.tree.start)}</p>
          <KV items={l.fields} />
        </div>
      ))}
      <h3>Process</h3>
      <KV items={[{ key: "service.name", value: process?.serviceName ?? "?" }, ...(process?.tags ?? [])]} />
    </div>
  );
}
