// Time ranges as the URL holds them: `now`, `now-6h` (relative, re-evaluated on each refresh)
// or milliseconds since the epoch (absolute, after a drag-zoom or a custom range).

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** A Prometheus duration (`5m`, `1h30m`, `250ms`) in milliseconds, or null when malformed. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === "") return null;
  let total = 0;
  let rest = s;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/.exec(rest);
    if (!m) return null;
    total += parseFloat(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** The shortest Prometheus duration for `ms` (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s", "ms"]) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** Resolves one end of a range to epoch milliseconds; null when it is not a time. */
export function resolveTime(text: string, now: number): number | null {
  const s = text.trim();
  if (s === "now") return now;
  if (s.startsWith("now-")) {
    const d = parseDuration(s.slice(4));
    return d === null ? null : now - d;
  }
  if (/^\d+$/.test(s)) return parseInt(s, 10);
  const parsed = Date.parse(s);
  return Number.isNaN(parsed) ? null : parsed;
}

export interface TimeRange {
  from: string;
  to: string;
}

export const DEFAULT_RANGE: TimeRange = { from: "now-1h", to: "now" };

export const QUICK_RANGES: { label: string; from: string }[] = [
  { label: "Last 5 minutes", from: "now-5m" },
  { label: "Last 15 minutes", from: "now-15m" },
  { label: "Last 1 hour", from: "now-1h" },
  { label: "Last 3 hours", from: "now-3h" },
  { label: "Last 6 hours", from: "now-6h" },
  { label: "Last 12 hours", from: "now-12h" },
  { label: "Last 24 hours", from: "now-24h" },
  { label: "Last 2 days", from: "now-2d" },
  { label: "Last 7 days", from: "now-7d" },
];

export interface ResolvedRange {
  start: number;
  end: number;
}

/** Both ends in milliseconds; a malformed or reversed range falls back to the last hour. */
export function resolveRange(range: TimeRange, now: number): ResolvedRange {
  const start = resolveTime(range.from, now);
  const end = resolveTime(range.to, now);
  if (start === null || end === null || end <= start) {
    return { start: now - 3_600_000, end: now };
  }
  return { start, end };
}

/** A query_range step giving about `points` points, rounded to a whole second (at least 1 s). */
export function stepFor(range: ResolvedRange, points = 250): number {
  const seconds = (range.end - range.start) / 1000 / points;
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  return nice.find((n) => n >= seconds) ?? Math.ceil(seconds);
}

/** What the picker's button says: the quick range's name, or both ends as dates. */
export function describeRange(range: TimeRange): string {
  const quick = QUICK_RANGES.find((q) => q.from === range.from && range.to === "now");
  if (quick) return quick.label;
  if (range.to === "now" && range.from.startsWith("now-")) return `Last ${range.from.slice(4)}`;
  const fmt = (t: string) => {
    const ms = resolveTime(t, Date.now());
    return ms === null ? t : formatTimestamp(ms);
  };
  return `${fmt(range.from)} → ${fmt(range.to)}`;
}

/** `2026-11-22 10:04:05` in local time: sortable and unambiguous. */
export function formatTimestamp(ms: number, withMillis = false): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withMillis ? `${base}.${p(d.getMilliseconds(), 3)}` : base;
}

/** `45s ago`, `3m ago`, `2h 5m ago`: for "since when" columns. */
export function formatAgo(ms: number, now: number): string {
  const s = Math.floor(Math.max(0, now - ms) / 1000);
  if (s < 1) return "just now";
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m ago` : `${h}h ago`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h ago` : `${d}d ago`;
}
