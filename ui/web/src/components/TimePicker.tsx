// The time-range picker: quick ranges, a custom range (relative `now-2h` or a date), auto-
// refresh, zoom out and refresh now. Everything it sets lands in the URL.

import { useEffect, useRef, useState } from "preact/hooks";
import { refreshNow, useTimeRange } from "../lib/hooks";
import { setParams, useLocation } from "../lib/router";
import { describeRange, QUICK_RANGES, resolveTime } from "../lib/time";
import { zoomOut } from "../lib/urlstate";

const REFRESH = ["off", "5s", "10s", "30s", "1m", "5m"];

export function TimePicker() {
  const { range, resolved, refreshMs } = useTimeRange();
  const refreshText = useLocation().params.get("refresh");
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [problem, setProblem] = useState<string | null>(null);
  const panel = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setFrom(range.from);
    setTo(range.to);
  }, [range.from, range.to]);
  useEffect(() => {
    if (!open) return;
    panel.current?.querySelector<HTMLElement>("button")?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [open]);

  const apply = (f: string, t: string) => {
    setParams({ from: f, to: t });
    setOpen(false);
  };
  const applyCustom = (e: Event) => {
    e.preventDefault();
    const now = Date.now();
    const s = resolveTime(from, now);
    const en = resolveTime(to, now);
    if (s === null || en === null) return setProblem("Use now, now-6h, a date like 2026-11-22 10:00, or epoch milliseconds.");
    if (en <= s) return setProblem("The end must be after the start.");
    setProblem(null);
    // Dates typed by hand become epoch milliseconds: unambiguous in a shared link.
    const norm = (text: string, ms: number) => (text === "now" || text.startsWith("now-") ? text : String(ms));
    apply(norm(from, s), norm(to, en));
  };

  return (
    <div class="timepicker">
      <button class="btn" aria-label="Zoom out" title="Zoom out (twice the range)" onClick={() => {
        const z = zoomOut(resolved.start, resolved.end);
        setParams({ from: z.from, to: z.to });
      }}>
        ⊖
      </button>
      <button class="btn" aria-haspopup="dialog" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="range-button">
        {describeRange(range)} ▾
      </button>
      <button class="btn" aria-label="Refresh now" title="Refresh now" onClick={() => refreshNow()}>
        ⟳
      </button>
      <label class="refresh">
        <span class="sr-only">Auto-refresh</span>
        <select
          aria-label="Auto-refresh"
          value={refreshMs ? refreshText ?? "off" : "off"}
          onChange={(e) => setParams({ refresh: (e.target as HTMLSelectElement).value === "off" ? null : (e.target as HTMLSelectElement).value })}
        >
          {REFRESH.map((r) => (
            <option value={r} key={r}>
              {r === "off" ? "Auto-refresh off" : `Every ${r}`}
            </option>
          ))}
        </select>
      </label>
      {open && (
        <div class="popover" role="dialog" aria-label="Time range" ref={panel}>
          <ul class="quick">
            {QUICK_RANGES.map((q) => (
              <li key={q.from}>
                <button class={`link ${range.from === q.from && range.to === "now" ? "active" : ""}`} onClick={() => apply(q.from, "now")}>
                  {q.label}
                </button>
              </li>
            ))}
          </ul>
          <form class="custom" onSubmit={applyCustom}>
            <label>
              From
              <input value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
            </label>
            <label>
              To
              <input value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
            </label>
            {problem && <p class="error" role="alert">{problem}</p>}
            <button class="btn primary" type="submit">
              Apply range
            </button>
          </form>
        </div>
      )}
    </div>
  );
}
