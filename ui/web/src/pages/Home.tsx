// Home: every service Argus has seen (span-derived series, StatsD series with a `service`
// label, traces, logs) with its golden signals now, a sparkline of each, and its firing alerts.

import { activeAlerts, labelValues, queryRange, searchLogs, traceServices, type Alert } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { homeQueries, rateWindow, signalsByService } from "../lib/golden";
import { Link, setParams, useLocation } from "../lib/router";
import { rangeSearch } from "../lib/urlstate";
import { stepFor } from "../lib/time";
import { formatValue, type Unit } from "../lib/units";
import { Sparkline } from "../components/Sparkline";
import { alignMatrix } from "../lib/series";

const SIGNALS: { key: "rate" | "errorRatio" | "p50" | "p90" | "p99"; label: string; unit: Unit; color: number }[] = [
  { key: "rate", label: "Requests", unit: "rate", color: 0 },
  { key: "errorRatio", label: "Errors", unit: "ratio", color: 3 },
  { key: "p50", label: "p50", unit: "seconds", color: 2 },
  { key: "p90", label: "p90", unit: "seconds", color: 1 },
  { key: "p99", label: "p99", unit: "seconds", color: 5 },
];

interface ServiceRow {
  name: string;
  signals: Record<string, { xs: number[]; values: (number | null)[]; current: number | null } | undefined>;
  alerts: Alert[];
  sources: Set<string>;
}

/** Values that never fail the page: a source that errors just contributes nothing. */
const soft = <T,>(p: Promise<T>, fallback: T) => p.catch(() => fallback);

export function Home() {
  const { resolved } = useTimeRange();
  const { params } = useLocation();
  const filter = params.get("filter") ?? "";
  // 30 points: enough for a sparkline, and half the evaluation work of 60.
  const step = stepFor(resolved, 30);
  const window = rateWindow(step);
  const state = useAsync(
    async (signal) => {
      const queries = homeQueries(window);
      const range = (q: string) =>
        queryRange(q, resolved.start, resolved.end, step, signal).then((m) => alignMatrix(m.result, resolved.start / 1000, resolved.end / 1000, step));
      // The slowest requests first: a browser opens six connections per host, and the
      // quick look-ups can wait for a free one.
      const [spanBuckets, spanRates, statsdBuckets, statsdRates, metricServices, traced, logs, alerts] = await Promise.all([
        range(queries.spanBuckets),
        range(queries.spanRates),
        range(queries.statsdBuckets),
        range(queries.statsdRates),
        soft(labelValues("service", [], signal), [] as string[]),
        soft(traceServices(signal), [] as string[]),
        soft(searchLogs({ q: "", start: resolved.start, end: resolved.end, limit: 0, buckets: 0 }, signal).then((r) => (r.facets.service ?? []).map((f) => f.value)), [] as string[]),
        soft(activeAlerts(signal), null),
      ]);
      const rows = new Map<string, ServiceRow>();
      const row = (name: string, source: string) => {
        let r = rows.get(name);
        if (!r) rows.set(name, (r = { name, signals: {}, alerts: [], sources: new Set() }));
        r.sources.add(source);
        return r;
      };
      metricServices.forEach((s) => row(s, "metrics"));
      traced.forEach((s) => row(s, "traces"));
      logs.forEach((s) => row(s, "logs"));
      const xs = spanRates.xs;
      for (const [name, signals] of signalsByService({ spanRates, spanBuckets, statsdRates, statsdBuckets })) {
        const r = row(name, "metrics");
        for (const s of SIGNALS) {
          const values = signals[s.key];
          if (!values) continue;
          const last = [...values].reverse().find((v) => v !== null && Number.isFinite(v)) ?? null;
          r.signals[s.key] = { xs, values, current: last };
        }
      }
      for (const a of alerts ?? []) {
        const r = a.labels.service ? rows.get(a.labels.service) : undefined;
        if (r && a.state === "firing") r.alerts.push(a);
      }
      return { rows: [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)), alerting: alerts !== null };
    },
    [resolved.start, resolved.end, step],
  );

  const rows = (state.data?.rows ?? []).filter((r) => r.name.toLowerCase().includes(filter.toLowerCase()));
  return (
    <section>
      <h1 tabIndex={-1}>Services</h1>
      <div class="toolbar">
        <label>
          <span class="sr-only">Filter services</span>
          <input
            type="search"
            placeholder="Filter services"
            value={filter}
            onInput={(e) => setParams({ filter: (e.target as HTMLInputElement).value }, true)}
          />
        </label>
        <span class="muted">
          {state.loading ? "Loading…" : `${rows.length} services`} · signals over the selected range, rates over {window}
        </span>
      </div>
      {state.error && <p class="error" role="alert">Could not load the services: {state.error.message}</p>}
      {state.data && state.data.rows.length === 0 && (
        <div class="card">
          <p>No services yet. Point StatsD clients at port 8125, OpenTelemetry SDKs at 4317/4318, or logstash at 5000; services appear here as their data arrives.</p>
        </div>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="data services" aria-label="Services and their golden signals">
            <thead>
              <tr>
                <th scope="col">Service</th>
                {SIGNALS.map((s) => (
                  <th scope="col" key={s.key}>
                    {s.label}
                  </th>
                ))}
                <th scope="col">Alerts</th>
                <th scope="col">Explore</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name} data-service={r.name}>
                  <th scope="row">
                    <Link href={`/dashboards/service/${encodeURIComponent(r.name)}${rangeSearch(params)}`}>{r.name}</Link>
                  </th>
                  {SIGNALS.map((s) => {
                    const v = r.signals[s.key];
                    return (
                      <td key={s.key}>
                        {v ? (
                          <span class="signal">
                            <Sparkline xs={v.xs} values={v.values} color={s.color} label={`${s.label} of ${r.name}`} />
                            <span class="num" data-signal={s.key}>{formatValue(v.current, s.unit)}</span>
                          </span>
                        ) : (
                          <span class="muted">–</span>
                        )}
                      </td>
                    );
                  })}
                  <td>
                    {r.alerts.length > 0 ? (
                      <Link href="/alerts" class="badge firing">
                        {r.alerts.length} firing: {[...new Set(r.alerts.map((a) => a.labels.alertname))].join(", ")}
                      </Link>
                    ) : (
                      <span class="muted">{state.data?.alerting ? "none" : "–"}</span>
                    )}
                  </td>
                  <td>
                    <Link href={`/logs?q=${encodeURIComponent(`service:"${r.name}"`)}`}>logs</Link>{" "}
                    {r.sources.has("traces") && <Link href={`/traces?service=${encodeURIComponent(r.name)}`}>traces</Link>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
