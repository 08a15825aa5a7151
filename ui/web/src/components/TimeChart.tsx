// Time-series panels drawn by uPlot: lines or stacked areas, a shared crosshair across the
// page's charts, drag to zoom, thresholds and alert markers, a hover tooltip and a legend
// table with min/max/avg/current whose rows toggle their series.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatValue, type Unit } from "../lib/units";
import { seriesStats } from "../lib/legend";
import { ALERT_COLOR, colorAt, cssVar } from "../lib/palette";
import { stack, type Aligned } from "../lib/series";
import { formatTimestamp } from "../lib/time";

export interface Marker {
  /** seconds */
  time: number;
  label: string;
  kind: "firing" | "resolved" | "pending";
}

export interface TimeChartProps {
  data: Aligned;
  unit?: Unit | null;
  stacked?: boolean;
  thresholds?: { value: number; label?: string }[];
  markers?: Marker[];
  height?: number;
  onZoom?: (startMs: number, endMs: number) => void;
  /** Charts with the same key share the crosshair. */
  syncKey?: string;
  legend?: boolean;
  ariaLabel: string;
}

export function TimeChart(props: TimeChartProps) {
  const { data, unit, stacked, thresholds = [], markers = [], height = 220, onZoom, syncKey = "argus", legend = true } = props;
  const box = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const zoom = useRef(onZoom);
  zoom.current = onZoom;

  const stats = useMemo(() => data.series.map((s) => seriesStats(s.values)), [data]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const began = performance.now();
    const ys = stacked ? stack(data.series.map((s) => s.values)) : data.series.map((s) => s.values);
    const axisColor = cssVar("--fg-muted");
    const gridColor = cssVar("--grid");
    const series: uPlot.Series[] = [
      {},
      ...data.series.map((s, i) => ({
        label: s.name,
        stroke: colorAt(i),
        width: 1.5,
        fill: stacked ? colorAt(i) + "55" : undefined,
        show: !hidden.has(i),
        spanGaps: false,
        // Dots for a series of a few points (one that just started), where a line shows nothing.
        points: { size: 6, show: s.values.filter((v) => v !== null).length <= 3 },
      })),
    ];
    const bands: uPlot.Band[] = stacked ? data.series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] })) : [];
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series,
      bands,
      legend: { show: false },
      cursor: {
        sync: { key: syncKey, setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      scales: { x: { time: true }, y: { range: (_u, min, max) => yRange(min, max, thresholds) } },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          size: 64,
          values: (_u, splits) => splits.map((v) => formatValue(v, unit)),
        },
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 3 && zoom.current) {
              const from = u.posToVal(u.select.left, "x");
              const to = u.posToVal(u.select.left + u.select.width, "x");
              zoom.current(from * 1000, to * 1000);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [(u) => showTooltip(u, tip.current, data, unit)],
        draw: [(u) => drawOverlays(u, thresholds, markers)],
      },
    };
    const u = new uPlot(opts, [data.xs, ...ys] as uPlot.AlignedData, el);
    plot.current = u;
    // uPlot draws synchronously: this is the full render time of the chart.
    const took = performance.now() - began;
    el.dataset.renderMs = took.toFixed(1);
    performance.measure?.("argus:chart-render", { start: began, duration: took });
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // `hidden` is applied through setSeries below; rebuilding on it would reset the zoom.
  }, [data, unit, stacked, height, syncKey, JSON.stringify(thresholds), JSON.stringify(markers)]);

  const toggle = (i: number) => {
    const next = new Set(hidden);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setHidden(next);
    plot.current?.setSeries(i + 1, { show: !next.has(i) });
  };

  return (
    <div class="chart">
      <div class="chart-plot" ref={box} role="img" aria-label={props.ariaLabel} data-series={data.series.length}>
        <div class="chart-tip" ref={tip} hidden />
      </div>
      {data.series.length === 0 && <p class="muted chart-empty">No data in this range.</p>}
      {legend && data.series.length > 0 && (
        <div class="legend-wrap">
          <table class="legend">
            <thead>
              <tr>
                <th scope="col">Series</th>
                <th scope="col">Min</th>
                <th scope="col">Max</th>
                <th scope="col">Avg</th>
                <th scope="col">Current</th>
              </tr>
            </thead>
            <tbody>
              {data.series.map((s, i) => (
                <tr key={s.name} class={hidden.has(i) ? "off" : ""}>
                  <td>
                    <button class="legend-key" aria-pressed={!hidden.has(i)} onClick={() => toggle(i)} title="Show or hide">
                      <span class="swatch" style={{ background: colorAt(i) }} />
                      {s.name}
                    </button>
                  </td>
                  <td>{formatValue(stats[i].min, unit)}</td>
                  <td>{formatValue(stats[i].max, unit)}</td>
                  <td>{formatValue(stats[i].avg, unit)}</td>
                  <td>{formatValue(stats[i].current, unit)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function yRange(min: number | null, max: number | null, thresholds: { value: number }[]): uPlot.Range.MinMax {
  let lo = min ?? 0;
  let hi = max ?? 1;
  for (const t of thresholds) {
    lo = Math.min(lo, t.value);
    hi = Math.max(hi, t.value);
  }
  if (lo > 0) lo = 0;
  if (hi === lo) hi = lo + 1;
  return [lo, hi + (hi - lo) * 0.05];
}

function drawOverlays(u: uPlot, thresholds: { value: number; label?: string }[], markers: Marker[]) {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.strokeStyle = ALERT_COLOR;
  ctx.fillStyle = ALERT_COLOR;
  for (const t of thresholds) {
    const y = u.valToPos(t.value, "y", true);
    if (y < top || y > top + height) continue;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    if (t.label) {
      ctx.textAlign = "right";
      ctx.fillText(t.label, left + width - 4, y - 4);
    }
  }
  for (const m of markers) {
    const x = u.valToPos(m.time, "x", true);
    if (x < left || x > left + width) continue;
    ctx.setLineDash(m.kind === "resolved" ? [2 * devicePixelRatio, 3 * devicePixelRatio] : []);
    ctx.strokeStyle = m.kind === "resolved" ? "#009E73" : ALERT_COLOR;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
  }
  ctx.restore();
}

function showTooltip(u: uPlot, tip: HTMLDivElement | null, data: Aligned, unit?: Unit | null) {
  if (!tip) return;
  const idx = u.cursor.idx;
  if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
    tip.hidden = true;
    return;
  }
  const rows = data.series
    .map((s, i) => ({ name: s.name, v: s.values[idx], i }))
    .filter((r) => r.v !== null && u.series[r.i + 1]?.show !== false)
    .sort((a, b) => (b.v ?? 0) - (a.v ?? 0))
    .slice(0, 8);
  if (rows.length === 0) {
    tip.hidden = true;
    return;
  }
  tip.hidden = false;
  tip.replaceChildren();
  const head = document.createElement("div");
  head.className = "tip-time";
  head.textContent = formatTimestamp(data.xs[idx] * 1000);
  tip.append(head);
  for (const r of rows) {
    const line = document.createElement("div");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colorAt(r.i);
    line.append(sw, `${r.name}: ${formatValue(r.v, unit)}`);
    tip.append(line);
  }
  const x = u.cursor.left + u.bbox.left / devicePixelRatio;
  const plotWidth = u.over.clientWidth;
  tip.style.left = `${x > plotWidth / 2 ? x - tip.offsetWidth - 12 : x + 12}px`;
  tip.style.top = "8px";
}
