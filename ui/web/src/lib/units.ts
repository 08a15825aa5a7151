// Value formatting for axes, legends and tables. Units are those a dashboard file may name.

export type Unit = "seconds" | "milliseconds" | "bytes" | "percent" | "ratio" | "rate" | "short";

function trim(n: number, digits = 3): string {
  // Three significant digits, without trailing zeros: 1.23, 12.3, 123, 0.5.
  if (n === 0) return "0";
  const s = Math.abs(n) >= 1000 ? n.toFixed(0) : n.toPrecision(digits);
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

const SI: [number, string][] = [
  [1e12, "T"],
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];

function short(v: number): string {
  const a = Math.abs(v);
  for (const [size, suffix] of SI) if (a >= size) return trim(v / size) + suffix;
  return trim(v);
}

function duration(seconds: number): string {
  const a = Math.abs(seconds);
  if (a === 0) return "0 s";
  if (a < 1e-6) return `${trim(seconds * 1e9)} ns`;
  if (a < 1e-3) return `${trim(seconds * 1e6)} µs`;
  if (a < 1) return `${trim(seconds * 1e3)} ms`;
  if (a < 60) return `${trim(seconds)} s`;
  if (a < 3600) return `${trim(seconds / 60)} min`;
  if (a < 86400) return `${trim(seconds / 3600)} h`;
  return `${trim(seconds / 86400)} d`;
}

function bytes(v: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let n = v;
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${trim(n)} ${units[i]}`;
}

/** `v` in `unit` as people read it; NaN and infinities as text, null as a dash. */
export function formatValue(v: number | null | undefined, unit?: Unit | null): string {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  switch (unit) {
    case "seconds":
      return duration(v);
    case "milliseconds":
      return duration(v / 1000);
    case "bytes":
      return bytes(v);
    case "percent":
      return `${trim(v)}%`;
    case "ratio":
      return `${trim(v * 100)}%`;
    case "rate":
      return `${short(v)}/s`;
    default:
      return short(v);
  }
}

/** Guesses a unit from a metric name, following Prometheus' naming conventions. */
export function unitFromName(name: string): Unit | undefined {
  if (/_seconds(_bucket|_sum|_count)?$/.test(name)) return "seconds";
  if (/_bytes(_total)?$/.test(name)) return "bytes";
  if (/_ratio$/.test(name)) return "ratio";
  return undefined;
}
