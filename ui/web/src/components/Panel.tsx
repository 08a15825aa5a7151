// One dashboard panel: runs its query (PromQL, logs or traces) over the page's range and draws
// it as its kind says.

import { queryInstant, queryRange, searchLogs, searchTraces, type AlertTransition, type PanelDef, type VectorSample } from "../lib/api";
import { useAsync } from "../lib/hooks";
import { setParams, Link } from "../lib/router";
import { alignMatrix } from "../lib/series";
import { buildTree } from "../lib/spantree";
import { formatTimestamp, stepFor, type ResolvedRange } from "../lib/time";
import { absoluteRange } from "../lib/urlstate";
import { formatValue } from "../lib/units";
import { Heatmap } from "./Heatmap";
import { SeriesValueTable } from "./SeriesValueTable";
import { LogList } from "./LogList";
import { TimeChart, type Marker } from "./TimeChart";

const zoomTo = (s: number, e: number) => setParams({ ...absoluteRange(s, e) });

/** A transition's time in seconds: RFC 3339, or a number in seconds or milliseconds. */
export function transitionSeconds(t: string | number): number {
  if (typeof t === "number") return t > 1e11 ? t / 1000 : t;
  return Date.parse(t) / 1000;
}

/** Alert transitions whose labels agree with one of the panel's series. */
function markersFor(history: AlertTransition[], labels: Record<string, string>[]): Marker[] {
  const ignored = new Set(["alertname", "severity", "__name__"]);
  return history
    .filter((t) =>
      labels.some((l) => {
        const shared = Object.keys(t.labels).filter((k) => !ignored.has(k) && k in l);
        return shared.length > 0 && shared.every((k) => l[k] === t.labels[k]);
      }),
    )
    .map((t) => ({
      time: transitionSeconds(t.time),
      label: `${t.rule} ${t.to}`,
      kind: t.to === "firing" ? "firing" : t.to === "pending" ? "pending" : "resolved",
    }));
}

export function Panel(props: { panel: PanelDef; range: ResolvedRange; history?: AlertTransition[] }) {
  const { panel, range } = props;
  const kind = panel.type ?? "timeseries";
  return (
    <div class="card panel" style={{ gridColumn: `span ${panel.width ?? 12}` }} data-panel={panel.title}>
      <h3>{panel.title}</h3>
      {kind === "logs" ? (
        <LogsPanel query={panel.logs ?? ""} range={range} />
      ) : kind === "traces" ? (
        <TracesPanel panel={panel} range={range} />
      ) : kind === "stat" || kind === "table" ? (
        <InstantPanel panel={panel} range={range} />
      ) : (
        <RangePanel panel={panel} range={range} history={props.history ?? []} />
      )}
    </div>
  );
}

function RangePanel(props: { panel: PanelDef; range: ResolvedRange; history: AlertTransition[] }) {
  const { panel, range } = props;
  const step = stepFor(range);
  const state = useAsync(
    (signal) =>
      queryRange(panel.expr ?? "", range.start, range.end, step, signal).then((m) =>
        alignMatrix(m.result, range.start / 1000, range.end / 1000, step, panel.legend),
      ),
    [panel.expr, panel.legend, range.start, range.end, step],
  );
  if (state.error) return <p class="error" role="alert">{state.error.message}</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  if (panel.type === "heatmap") return <Heatmap data={state.data} unit={panel.unit} ariaLabel={panel.title} onZoom={zoomTo} />;
  return (
    <TimeChart
      data={state.data}
      unit={panel.unit}
      stacked={panel.type === "stacked"}
      thresholds={panel.thresholds}
      markers={markersFor(props.history, state.data.series.map((s) => s.labels))}
      onZoom={zoomTo}
      ariaLabel={`${panel.title}: ${state.data.series.length} series`}
    />
  );
}

function InstantPanel(props: { panel: PanelDef; range: ResolvedRange }) {
  const { panel, range } = props;
  const state = useAsync((signal) => queryInstant(panel.expr ?? "", range.end, signal), [panel.expr, range.end]);
  if (state.error) return <p class="error" role="alert">{state.error.message}</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  const d = state.data;
  const samples: VectorSample[] =
    d.resultType === "vector" ? d.result : d.resultType === "scalar" ? [{ metric: {}, value: d.result }] : [];
  if (panel.type === "stat") {
    const v = samples.length > 0 ? parseFloat(samples[0].value[1]) : null;
    const over = v !== null && (panel.thresholds ?? []).some((t) => v >= t.value);
    return (
      <div class={`stat ${over ? "over" : ""}`} aria-live="polite">
        {formatValue(v, panel.unit)}
      </div>
    );
  }
  return <SeriesValueTable samples={samples} unit={panel.unit} legend={panel.legend} />;
}

function LogsPanel(props: { query: string; range: ResolvedRange }) {
  const { query, range } = props;
  const state = useAsync(
    (signal) => searchLogs({ q: query, start: range.start, end: range.end, limit: 20, buckets: 0 }, signal),
    [query, range.start, range.end],
  );
  if (state.error) return <p class="error" role="alert">{state.error.message}</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  return (
    <>
      <LogList hits={state.data.hits} query={query} compact />
      <p>
        <Link href={`/logs?q=${encodeURIComponent(query)}&from=${Math.floor(range.start)}&to=${Math.ceil(range.end)}`}>
          All {state.data.total} lines in Logs →
        </Link>
      </p>
    </>
  );
}

function TracesPanel(props: { panel: PanelDef; range: ResolvedRange }) {
  const t = props.panel.traces;
  const { range } = props;
  const state = useAsync(
    (signal) =>
      t
        ? searchTraces({ service: t.service, operation: t.operation, tags: t.tags, minDuration: t.min_duration, start: range.start, end: range.end, limit: 10 }, signal)
        : Promise.resolve([]),
    [JSON.stringify(t), range.start, range.end],
  );
  if (state.error) return <p class="error" role="alert">{state.error.message}</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  if (state.data.length === 0) return <p class="muted">No traces in this range.</p>;
  return (
    <ul class="plain">
      {state.data.map((trace) => {
        const tree = buildTree(trace);
        const root = tree.roots[0];
        return (
          <li key={trace.traceID}>
            <Link href={`/traces/${trace.traceID}`}>
              {root ? `${root.service}: ${root.span.operationName}` : trace.traceID}
            </Link>{" "}
            <span class="muted">
              {formatValue((tree.end - tree.start) / 1e6, "seconds")} · {trace.spans.length} spans · {formatTimestamp(tree.start / 1000)}
            </span>
            {tree.errors > 0 && <span class="badge error"> {tree.errors} errors</span>}
          </li>
        );
      })}
    </ul>
  );
}
