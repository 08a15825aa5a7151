// Dashboards: the list (file-defined ones and one automatic golden-signals dashboard per
// service), and a dashboard's rows of panels over the page's time range.

import { alertHistory, alertRules, getDashboard, labelValues, listDashboards, traceServices, type DashboardDef } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { goldenQueries, rateWindow, serviceDashboard } from "../lib/golden";
import { Link, useLocation } from "../lib/router";
import { DEFAULT_RANGE, stepFor } from "../lib/time";
import { rangeSearch, readRefresh } from "../lib/urlstate";
import { Panel } from "../components/Panel";
import { ruleThresholds, thresholdsFor } from "../lib/rulethresholds";
import { setParams } from "../lib/router";
import { useEffect } from "preact/hooks";

export function DashboardList() {
  const { params } = useLocation();
  const state = useAsync(
    async (signal) => {
      const [files, metricServices, traced] = await Promise.all([
        listDashboards(signal),
        labelValues("service", [], signal).catch(() => [] as string[]),
        traceServices(signal).catch(() => [] as string[]),
      ]);
      return { files, services: [...new Set([...metricServices, ...traced])].sort() };
    },
    [],
  );
  const carry = rangeSearch(params);
  return (
    <section>
      <h1 tabIndex={-1}>Dashboards</h1>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      <div class="two-col">
        <div class="card">
          <h2>From files</h2>
          {state.data && state.data.files.dashboards.length === 0 && (
            <p class="muted">
              None. Put YAML or JSON dashboards in the directory of <code>--dashboards</code> (default <code>./dashboards</code>).
            </p>
          )}
          <ul>
            {state.data?.files.dashboards.map((d) => (
              <li key={d.id}>
                <Link href={`/dashboards/file/${encodeURIComponent(d.id)}${carry}`}>{d.title}</Link>{" "}
                <span class="muted">{d.file}</span> {d.tags.map((t) => <span class="badge" key={t}>{t}</span>)}
              </li>
            ))}
          </ul>
          {state.data && state.data.files.errors.length > 0 && (
            <>
              <h2>Files with errors</h2>
              <ul>
                {state.data.files.errors.map((e) => (
                  <li key={e.file} class="error">
                    <code>{e.file}</code>: {e.message}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
        <div class="card">
          <h2>Services (automatic)</h2>
          <ul>
            {state.data?.services.map((s) => (
              <li key={s}>
                <Link href={`/dashboards/service/${encodeURIComponent(s)}${carry}`}>{s}</Link>
              </li>
            ))}
          </ul>
        </div>
      </div>
    </section>
  );
}

function DashboardView(props: { dashboard: DashboardDef; headline?: preact.ComponentChildren }) {
  const { resolved } = useTimeRange(props.dashboard.range ? { from: `now-${props.dashboard.range}`, to: "now" } : DEFAULT_RANGE);
  const history = useAsync((signal) => alertHistory(resolved.start, resolved.end, signal).catch(() => null), [resolved.start, resolved.end]);
  const rules = useAsync((signal) => alertRules(signal).then(ruleThresholds).catch(() => []), [resolved.end]);
  return (
    <section>
      <h1 tabIndex={-1}>{props.dashboard.title}</h1>
      {props.headline}
      {props.dashboard.description && <p class="muted">{props.dashboard.description}</p>}
      {props.dashboard.rows.map((row, r) => (
        <div key={r}>
          {row.title && <h2>{row.title}</h2>}
          <div class="grid">
            {row.panels.map((p, i) => (
              <Panel
                key={`${r}.${i}`}
                panel={{
                  ...p,
                  width: p.width ?? Math.max(1, Math.floor(12 / row.panels.length)),
                  thresholds: [...(p.thresholds ?? []), ...thresholdsFor(p.expr, rules.data ?? [])],
                }}
                range={resolved}
                history={history.data ?? []}
              />
            ))}
          </div>
        </div>
      ))}
    </section>
  );
}

export function ServiceDashboard(props: { service: string }) {
  const { resolved } = useTimeRange();
  const window = rateWindow(stepFor(resolved));
  const dashboard = serviceDashboard(props.service, window);
  const g = goldenQueries(window, props.service);
  return (
    <DashboardView
      dashboard={dashboard}
      headline={
        <p class="muted">
          Automatic dashboard from span-derived series and StatsD timers. <Link href={`/explore?q=${encodeURIComponent(g.rate)}`}>Open the request rate in Explore</Link> ·{" "}
          <Link href={`/logs?q=${encodeURIComponent(`service:"${props.service}"`)}`}>Logs</Link> ·{" "}
          <Link href={`/traces?service=${encodeURIComponent(props.service)}`}>Traces</Link>
        </p>
      }
    />
  );
}

export function FileDashboard(props: { id: string }) {
  const { params } = useLocation();
  const state = useAsync((signal) => getDashboard(props.id, signal), [props.id]);
  // A file's default refresh applies until the URL says otherwise.
  useEffect(() => {
    if (state.data?.refresh && !params.get("refresh") && readRefresh(params) === null) setParams({ refresh: state.data.refresh }, true);
  }, [state.data]);
  if (state.error) return <p class="error" role="alert">{state.error.message}</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  return <DashboardView dashboard={state.data} />;
}
