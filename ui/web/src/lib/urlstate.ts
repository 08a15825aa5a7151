// Page state in the URL's query string, so any view can be bookmarked and shared: the time
// range (`from`, `to`), auto-refresh (`refresh`) and each page's own keys. Defaults are left
// out so links stay short.

import { DEFAULT_RANGE, parseDuration, type TimeRange } from "./time";

export function readRange(params: URLSearchParams, fallback: TimeRange = DEFAULT_RANGE): TimeRange {
  return { from: params.get("from") || fallback.from, to: params.get("to") || fallback.to };
}

/** Auto-refresh in milliseconds, or null when off or malformed. */
export function readRefresh(params: URLSearchParams): number | null {
  const r = params.get("refresh");
  if (!r || r === "off") return null;
  const ms = parseDuration(r);
  return ms !== null && ms >= 1000 ? ms : null;
}

/**
 * The query string after applying `patch` to `current`: a null or empty value, or one equal
 * to its default in `defaults`, removes the key. Keys keep a stable (sorted) order.
 */
export function patchSearch(
  current: URLSearchParams | string,
  patch: Record<string, string | null | undefined>,
  defaults: Record<string, string> = { from: DEFAULT_RANGE.from, to: DEFAULT_RANGE.to },
): string {
  const next = new URLSearchParams(current);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || value === undefined || value === "" || defaults[key] === value) {
      next.delete(key);
    } else {
      next.set(key, value);
    }
  }
  next.sort();
  const s = next.toString();
  return s ? `?${s}` : "";
}

/** A zoomed range (absolute milliseconds) as URL values. */
export function absoluteRange(start: number, end: number): TimeRange {
  return { from: String(Math.floor(start)), to: String(Math.ceil(end)) };
}

/**
 * Zooms out by a factor around the middle, as Grafana's ctrl+z does; relative ranges become
 * absolute.
 */
export function zoomOut(start: number, end: number, factor = 2): TimeRange {
  const mid = (start + end) / 2;
  const half = ((end - start) * factor) / 2;
  return absoluteRange(mid - half, mid + half);
}

/** The time range and refresh of `params` alone: what a link to another page carries over. */
export function rangeSearch(params: URLSearchParams): string {
  const keep: Record<string, string | null> = {};
  for (const key of ["from", "to", "refresh"]) keep[key] = params.get(key);
  return patchSearch("", keep);
}
