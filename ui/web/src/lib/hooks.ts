// Data loading and the page-wide time range, as hooks.

import { useEffect, useLayoutEffect, useMemo, useState } from "preact/hooks";
import { useLocation } from "./router";
import { readRange, readRefresh } from "./urlstate";
import { DEFAULT_RANGE, resolveRange, type ResolvedRange, type TimeRange } from "./time";

export interface Async<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
}

/**
 * Runs `load` whenever `deps` change, aborting the previous run; keeps the last data while
 * reloading so charts do not flash empty on refresh. Started in a layout effect, right after
 * the render: a plain effect waits for the next frame, up to 100 ms in a background tab.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<Async<T>>({ data: undefined, error: undefined, loading: true });
  useLayoutEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, error: undefined, loading: false }),
      (error) => !controller.signal.aborted && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => controller.abort();
  }, deps);
  return state;
}

const refreshListeners = new Set<() => void>();

/** Re-resolves every relative range now (the picker's refresh button). */
export function refreshNow() {
  refreshListeners.forEach((l) => l());
}

export interface PageRange {
  range: TimeRange;
  resolved: ResolvedRange;
  refreshMs: number | null;
}

/**
 * The time range of the URL, resolved against "now"; relative ranges move forward on every
 * auto-refresh tick.
 */
export function useTimeRange(fallback: TimeRange = DEFAULT_RANGE): PageRange {
  const { params } = useLocation();
  const range = readRange(params, fallback);
  const refreshMs = readRefresh(params);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!refreshMs) return;
    const t = setInterval(() => setTick((n) => n + 1), refreshMs);
    return () => clearInterval(t);
  }, [refreshMs]);
  useEffect(() => {
    const l = () => setTick((n) => n + 1);
    refreshListeners.add(l);
    return () => refreshListeners.delete(l);
  }, []);
  const resolved = useMemo(() => resolveRange(range, Date.now()), [range.from, range.to, tick]);
  return { range, resolved, refreshMs };
}
