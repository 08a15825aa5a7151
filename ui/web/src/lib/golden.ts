// The golden signals of a service as PromQL, from the span-derived series
// (ingest/docs/otlp.md, "Span-derived series") and, for services that only send StatsD, from
// their timers (`NAME_bucket` / `NAME_count` histograms in seconds with a `service` label).

import { histogramQuantile, type Bucket } from "./quantile";
import type { Aligned } from "./series";

/** Requests are server (and consumer) spans: what callers wait for. */
const SPANS = `span_kind=~"server|consumer"`;
/** A service's StatsD timers: every non-Argus histogram with a `service` label. */
const STATSD = (suffix: string, service?: string) =>
  `{__name__=~".+_${suffix}", __name__!~"argus_.+", service${service ? `="${escapeLabel(service)}"` : '!=""'}}`;

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/** A rate window that spans several samples at this step, never under a minute. */
export function rateWindow(stepS: number): string {
  return `${Math.max(60, Math.ceil(stepS * 4))}s`;
}

function svc(service?: string): string {
  return service ? `, service="${escapeLabel(service)}"` : "";
}

export interface GoldenQueries {
  rate: string;
  errorRatio: string;
  p50: string;
  p90: string;
  p99: string;
}

/** One query per signal, `by (service)`; for one service when `service` is given. */
export function goldenQueries(window: string, service?: string): GoldenQueries {
  const spans = `argus_spans_total{${SPANS}${svc(service)}}`;
  const quantile = (q: number) =>
    `histogram_quantile(${q}, sum by (service, le) (rate(argus_span_duration_seconds_bucket{${SPANS}, status="ok"${svc(service)}}[${window}])))` +
    ` or histogram_quantile(${q}, sum by (service, le) (rate(${STATSD("bucket", service)}[${window}])))`;
  return {
    rate:
      `sum by (service) (rate(${spans}[${window}]))` +
      ` or sum by (service) (rate(${STATSD("count", service)}[${window}]))`,
    errorRatio:
      `(sum by (service) (rate(argus_spans_total{${SPANS}, status="error"${svc(service)}}[${window}]))` +
      ` or 0 * sum by (service) (rate(${spans}[${window}])))` +
      ` / sum by (service) (rate(${spans}[${window}]))`,
    p50: quantile(0.5),
    p90: quantile(0.9),
    p99: quantile(0.99),
  };
}

/** The automatic dashboard of one service: its panels as a dashboard file would define them. */
export function serviceDashboard(service: string, window: string) {
  const s = escapeLabel(service);
  const g = goldenQueries(window, service);
  return {
    id: `service:${service}`,
    title: `${service}: golden signals`,
    rows: [
      {
        title: "Traffic and errors",
        panels: [
          {
            title: "Requests per second by operation",
            type: "stacked" as const,
            expr: `sum by (operation) (rate(argus_spans_total{${SPANS}, service="${s}"}[${window}])) or sum by (__name__) (rate(${STATSD("count", service)}[${window}]))`,
            legend: "{{operation}}{{__name__}}",
            unit: "rate" as const,
            width: 6,
          },
          { title: "Error ratio", type: "timeseries" as const, expr: g.errorRatio, legend: "errors", unit: "ratio" as const, width: 6 },
        ],
      },
      {
        title: "Latency of successful requests",
        panels: [
          {
            title: "Latency p50 / p90 / p99",
            type: "timeseries" as const,
            expr: `label_replace(${g.p50}, "q", "p50", "", "") or label_replace(${g.p90}, "q", "p90", "", "") or label_replace(${g.p99}, "q", "p99", "", "")`,
            legend: "{{q}}",
            unit: "seconds" as const,
            width: 6,
          },
          {
            title: "Latency distribution",
            type: "heatmap" as const,
            expr: `sum by (le) (rate(argus_span_duration_seconds_bucket{${SPANS}, status="ok", service="${s}"}[${window}]))`,
            unit: "seconds" as const,
            width: 6,
          },
        ],
      },
      {
        title: "Logs and traces",
        panels: [
          { title: "Recent errors in logs", type: "logs" as const, logs: `service:"${s}" AND (level:error OR level:ERROR OR level:critical)`, width: 6 },
          { title: "Recent traces", type: "traces" as const, traces: { service }, width: 6 },
        ],
      },
    ],
  };
}

/**
 * What the services table asks: span rates by status and bucket rates (the quantiles and the
 * error ratio are derived on the client, see `signalsByService`), and the same from StatsD
 * timers for services without spans. Four light queries instead of five heavy ones.
 */
export function homeQueries(window: string) {
  return {
    spanRates: `sum by (service, status) (rate(argus_spans_total{${SPANS}}[${window}]))`,
    spanBuckets: `sum by (service, le) (rate(argus_span_duration_seconds_bucket{${SPANS}, status="ok"}[${window}]))`,
    statsdRates: `sum by (service) (rate(${STATSD("count")}[${window}]))`,
    statsdBuckets: `sum by (service, le) (rate(${STATSD("bucket")}[${window}]))`,
  };
}

export type SignalKey = "rate" | "errorRatio" | "p50" | "p90" | "p99";
export type ServiceSignals = Partial<Record<SignalKey, (number | null)[]>>;

type Series = Aligned["series"];

function byService(series: Series): Map<string, Series> {
  const m = new Map<string, Series>();
  for (const s of series) {
    const name = s.labels.service;
    if (name) m.set(name, [...(m.get(name) ?? []), s]);
  }
  return m;
}

function quantiles(buckets: Series, n: number): Pick<ServiceSignals, "p50" | "p90" | "p99"> {
  const out: Pick<ServiceSignals, "p50" | "p90" | "p99"> = { p50: [], p90: [], p99: [] };
  const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : parseFloat(b.labels.le)));
  for (let i = 0; i < n; i++) {
    const points: Bucket[] = [];
    buckets.forEach((b, j) => {
      const v = b.values[i];
      if (v !== null && Number.isFinite(v)) points.push({ le: bounds[j], count: v });
    });
    for (const [key, q] of [["p50", 0.5], ["p90", 0.9], ["p99", 0.99]] as const) {
      const v = points.length > 0 ? histogramQuantile(q, points) : NaN;
      out[key]!.push(Number.isFinite(v) ? v : null);
    }
  }
  return out;
}

/** Per service: request rate, error ratio and latency quantiles, on the results' time grid. */
export function signalsByService(r: { spanRates: Aligned; spanBuckets: Aligned; statsdRates: Aligned; statsdBuckets: Aligned }): Map<string, ServiceSignals> {
  const n = r.spanRates.xs.length;
  const out = new Map<string, ServiceSignals>();
  const get = (s: string) => out.get(s) ?? (out.set(s, {}), out.get(s)!);
  for (const [service, series] of byService(r.spanRates.series)) {
    const rate: (number | null)[] = [];
    const ratio: (number | null)[] = [];
    for (let i = 0; i < n; i++) {
      let total: number | null = null;
      let errors = 0;
      for (const s of series) {
        const v = s.values[i];
        if (v === null || !Number.isFinite(v)) continue;
        total = (total ?? 0) + v;
        if (s.labels.status === "error") errors += v;
      }
      rate.push(total);
      ratio.push(total === null ? null : total > 0 ? errors / total : 0);
    }
    Object.assign(get(service), { rate, errorRatio: ratio });
  }
  for (const [service, series] of byService(r.statsdRates.series)) {
    const signals = get(service);
    if (!signals.rate) signals.rate = series[0].values;
  }
  for (const [service, buckets] of byService(r.spanBuckets.series)) Object.assign(get(service), quantiles(buckets, n));
  for (const [service, buckets] of byService(r.statsdBuckets.series)) {
    const signals = get(service);
    if (!signals.p50) Object.assign(signals, quantiles(buckets, n));
  }
  return out;
}
