// The backend's HTTP APIs, typed: Prometheus (query, labels), logs, Jaeger, alerting,
// dashboards. Every call takes an AbortSignal so a page that changes its query cancels the
// requests it no longer needs.

import type { Labels } from "./legend";
import type { JaegerTrace } from "./spantree";
import { gridStart } from "./series";

/** An API answered with an error: its message as the server wrote it. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType?: string,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string, signal?: AbortSignal, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { ...init, signal, headers: { accept: "application/json", ...(init?.headers ?? {}) } });
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`${response.status} ${response.statusText}: ${text.slice(0, 200)}`, response.status);
  }
  if (!response.ok || body?.status === "error") {
    const msg = body?.error ?? body?.errors?.[0]?.msg ?? `${response.status} ${response.statusText}`;
    throw new ApiError(msg, response.status, body?.errorType);
  }
  return body as T;
}

async function prom<T>(path: string, params: Record<string, string | string[]>, signal?: AbortSignal): Promise<T> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => form.append(k, x));
    else form.set(k, v);
  }
  // Form POST: long queries do not hit URL length limits.
  const body = await getJson<{ data: T; warnings?: string[] }>(path, signal, {
    method: "POST",
    body: form,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  return body.data;
}

export interface MatrixSeries {
  metric: Labels;
  values: [number, string][];
}

export interface VectorSample {
  metric: Labels;
  value: [number, string];
}

export type QueryData =
  | { resultType: "matrix"; result: MatrixSeries[] }
  | { resultType: "vector"; result: VectorSample[] }
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "string"; result: [number, string] };

export function queryRange(query: string, startMs: number, endMs: number, stepS: number, signal?: AbortSignal) {
  const start = gridStart(startMs / 1000, endMs / 1000, stepS);
  return prom<{ resultType: "matrix"; result: MatrixSeries[] }>(
    "/api/v1/query_range",
    { query, start: String(start), end: String(endMs / 1000), step: String(stepS) },
    signal,
  );
}

export function queryInstant(query: string, timeMs: number, signal?: AbortSignal) {
  return prom<QueryData>("/api/v1/query", { query, time: String(timeMs / 1000) }, signal);
}

export function labelValues(label: string, match: string[] = [], signal?: AbortSignal) {
  const q = new URLSearchParams();
  match.forEach((m) => q.append("match[]", m));
  const s = q.toString();
  return getJson<{ data: string[] }>(`/api/v1/label/${encodeURIComponent(label)}/values${s ? `?${s}` : ""}`, signal).then((b) => b.data);
}

export function labelNames(match: string[] = [], signal?: AbortSignal) {
  return prom<string[]>("/api/v1/labels", match.length ? { "match[]": match } : {}, signal);
}

// ---- logs

/**
 * The log APIs parse times as the Prometheus API does: a number is Unix seconds (fractions
 * for milliseconds), not milliseconds.
 */
const seconds = (ms: number) => (ms / 1000).toFixed(3);

export interface LogHit {
  time: string;
  timestamp_ms: number;
  seq: number;
  level?: string;
  service?: string;
  host?: string;
  message: string;
  trace_id?: string;
  span_id?: string;
  fingerprint?: string;
  event: unknown;
}

export interface LogSearch {
  total: number;
  hits: LogHit[];
  next_cursor?: string;
  histogram: { start_ms: number; count: number }[];
  facets: Record<string, { value: string; count: number }[]>;
}

export function searchLogs(
  params: { q: string; start: number; end: number; limit?: number; cursor?: string; buckets?: number },
  signal?: AbortSignal,
) {
  const p = new URLSearchParams({
    q: params.q,
    start: seconds(params.start),
    end: seconds(params.end),
    limit: String(params.limit ?? 100),
    buckets: String(params.buckets ?? 60),
  });
  if (params.cursor) p.set("cursor", params.cursor);
  return getJson<{ data: LogSearch }>(`/api/v1/logs/search?${p}`, signal).then((b) => b.data);
}

export interface ErrorGroup {
  fingerprint: string;
  count: number;
  first_seen_ms: number;
  last_seen_ms: number;
  services: string[];
  query: string;
  example: LogHit;
}

export function errorGroups(start: number, end: number, signal?: AbortSignal) {
  const p = new URLSearchParams({ start: seconds(start), end: seconds(end), limit: "100" });
  return getJson<{ data: ErrorGroup[] }>(`/api/v1/errors?${p}`, signal).then((b) => b.data);
}

// ---- traces (Jaeger API)

async function jaeger<T>(path: string, signal?: AbortSignal): Promise<T> {
  const body = await getJson<{ data: T; errors: { msg: string }[] | null }>(`/jaeger/api${path}`, signal);
  if (body.errors && body.errors.length > 0 && !body.data) throw new ApiError(body.errors[0].msg, 400);
  return body.data;
}

export const traceServices = (signal?: AbortSignal) => jaeger<string[]>("/services", signal);
export const traceOperations = (service: string, signal?: AbortSignal) =>
  jaeger<string[]>(`/services/${encodeURIComponent(service)}/operations`, signal);
export const getTrace = (id: string, signal?: AbortSignal) =>
  jaeger<JaegerTrace[]>(`/traces/${encodeURIComponent(id)}`, signal).then((t) => t[0]);

export interface TraceSearch {
  service: string;
  operation?: string;
  tags?: Record<string, string>;
  minDuration?: string;
  maxDuration?: string;
  limit?: number;
  start: number;
  end: number;
}

export function searchTraces(s: TraceSearch, signal?: AbortSignal) {
  const p = new URLSearchParams({
    service: s.service,
    start: String(Math.floor(s.start * 1000)),
    end: String(Math.ceil(s.end * 1000)),
    limit: String(s.limit ?? 20),
  });
  if (s.operation) p.set("operation", s.operation);
  if (s.tags && Object.keys(s.tags).length > 0) p.set("tags", JSON.stringify(s.tags));
  if (s.minDuration) p.set("minDuration", s.minDuration);
  if (s.maxDuration) p.set("maxDuration", s.maxDuration);
  return jaeger<JaegerTrace[]>(`/traces?${p}`, signal);
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount?: number;
}

export function dependencies(endMs: number, lookbackMs: number, signal?: AbortSignal) {
  return jaeger<DependencyLink[]>(`/dependencies?endTs=${Math.floor(endMs)}&lookback=${Math.floor(lookbackMs)}`, signal);
}

// ---- alerting (Prometheus' and Alertmanager's JSON)

export interface Alert {
  labels: Labels;
  annotations: Labels;
  state: "firing" | "pending" | "inactive";
  activeAt?: string;
  value: string;
}

export interface RuleJson {
  name: string;
  query: string;
  type: "alerting" | "recording";
  duration?: number;
  labels?: Labels;
  annotations?: Labels;
  alerts?: Alert[];
  health: string;
  lastError?: string;
  evaluationTime?: number;
  lastEvaluation?: string;
  state?: "firing" | "pending" | "inactive";
}

export interface RuleGroupJson {
  name: string;
  file: string;
  interval: number;
  rules: RuleJson[];
  evaluationTime?: number;
  lastEvaluation?: string;
}

/** Null when the server has no alerting (404). */
async function orNotEnabled<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export const alertRules = (signal?: AbortSignal) =>
  orNotEnabled(getJson<{ data: { groups: RuleGroupJson[] } }>("/api/v1/rules", signal).then((b) => b.data.groups));
export const activeAlerts = (signal?: AbortSignal) =>
  orNotEnabled(getJson<{ data: { alerts: Alert[] } }>("/api/v1/alerts", signal).then((b) => b.data.alerts));

export interface AlertTransition {
  time: string | number;
  group: string;
  file: string;
  rule: string;
  labels: Labels;
  from: string;
  to: string;
  value?: number | string | null;
}

export function alertHistory(start: number, end: number, signal?: AbortSignal) {
  const p = new URLSearchParams({ start: String(start / 1000), end: String(end / 1000), limit: "500" });
  return orNotEnabled(
    getJson<{ data: { entries: AlertTransition[] } }>(`/api/v1/alerts/history?${p}`, signal).then((b) => b.data.entries),
  );
}

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: { state: "active" | "pending" | "expired" };
}

// Alertmanager's API answers bare JSON; tolerate the Prometheus envelope as well.
const unwrap = <T,>(b: any): T => (b && typeof b === "object" && "status" in b && "data" in b ? b.data : b);

export const silences = (signal?: AbortSignal) =>
  orNotEnabled(getJson<unknown>("/api/v1/silences", signal).then((b) => unwrap<Silence[]>(b)));

export function createSilence(s: Omit<Silence, "id" | "status">) {
  return getJson<unknown>("/api/v1/silences", undefined, {
    method: "POST",
    body: JSON.stringify(s),
    headers: { "content-type": "application/json" },
  }).then((b) => unwrap<{ silenceID: string }>(b));
}

export const expireSilence = (id: string) =>
  getJson<unknown>(`/api/v1/silences/${encodeURIComponent(id)}`, undefined, { method: "DELETE" });

// ---- dashboards

export type PanelKind = "timeseries" | "stacked" | "stat" | "table" | "heatmap" | "logs" | "traces";

export interface PanelDef {
  title: string;
  type?: PanelKind;
  expr?: string;
  legend?: string;
  logs?: string;
  traces?: { service: string; operation?: string; tags?: Record<string, string>; min_duration?: string };
  unit?: import("./units").Unit;
  thresholds?: { value: number; label?: string }[];
  width?: number;
}

export interface DashboardDef {
  id: string;
  title: string;
  description?: string;
  tags?: string[];
  range?: string;
  refresh?: string;
  file?: string;
  rows: { title?: string; panels: PanelDef[] }[];
}

export const listDashboards = (signal?: AbortSignal) =>
  getJson<{ data: { dashboards: { id: string; title: string; tags: string[]; file: string }[]; errors: { file: string; message: string }[] } }>(
    "/api/v1/dashboards",
    signal,
  ).then((b) => b.data);

export const getDashboard = (id: string, signal?: AbortSignal) =>
  getJson<{ data: DashboardDef }>(`/api/v1/dashboards/${encodeURIComponent(id)}`, signal).then((b) => b.data);
