// Latency buckets over time: uPlot's scales, axes and cursor, with the cells painted in its
// draw hook (uPlot has no built-in heatmap series; Grafana's heatmap panel does the same).

import uPlot from "uplot";
import { useEffect, useRef } from "preact/hooks";
import type { Aligned } from "../lib/series";
import { bucketCounts } from "../lib/series";
import { formatValue, type Unit } from "../lib/units";
import { cssVar } from "../lib/palette";

export function Heatmap(props: { data: Aligned; unit?: Unit | null; height?: number; ariaLabel: string; onZoom?: (s: number, e: number) => void }) {
  const el = useRef<HTMLDivElement>(null);
  const { data, unit, height = 220 } = props;
  useEffect(() => {
    if (!el.current) return;
    const { bounds, counts } = bucketCounts(data.series);
    const max = Math.max(1e-9, ...counts.flat().map((v) => v ?? 0));
    const dark = document.documentElement.dataset.theme === "dark";
    const container = el.current;
    const u = new uPlot(
      {
        width: Math.max(200, container.clientWidth),
        height,
        legend: { show: false },
        cursor: { sync: { key: "argus" }, drag: { x: true, y: false, setScale: false }, points: { show: false } },
        scales: { x: { time: true }, y: { range: [0, Math.max(1, bounds.length)] } },
        axes: [
          { stroke: cssVar("--fg-muted"), grid: { stroke: cssVar("--grid") } },
          {
            stroke: cssVar("--fg-muted"),
            grid: { stroke: cssVar("--grid") },
            size: 64,
            // One label per ~18 px: 17 buckets do not fit in a short panel.
            splits: () => {
              const every = Math.max(1, Math.ceil(bounds.length / (height / 18)));
              return bounds.map((_, j) => j + 0.5).filter((_, j) => j % every === 0);
            },
            values: (_u, splits) => splits.map((s) => {
              const b = bounds[Math.floor(s)];
              return b === "+Inf" ? "+Inf" : formatValue(parseFloat(b), unit);
            }),
          },
        ],
        series: [{}, { paths: () => null, points: { show: false } }],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              const n = data.xs.length;
              const cellW = n > 1 ? Math.abs(u.valToPos(data.xs[1], "x", true) - u.valToPos(data.xs[0], "x", true)) : u.bbox.width;
              for (let j = 0; j < counts.length; j++) {
                const y0 = u.valToPos(j + 1, "y", true);
                const y1 = u.valToPos(j, "y", true);
                for (let i = 0; i < n; i++) {
                  const v = counts[j][i];
                  if (!v) continue;
                  // Light to dark blue (light theme) or dark to bright (dark theme): one hue,
                  // readable for every colour vision.
                  const a = 0.15 + 0.85 * Math.sqrt(v / max);
                  ctx.fillStyle = dark ? `rgba(86,180,233,${a})` : `rgba(0,114,178,${a})`;
                  const x = u.valToPos(data.xs[i], "x", true) - cellW / 2;
                  ctx.fillRect(x, y0, Math.max(1, cellW - 1), Math.max(1, y1 - y0 - 1));
                }
              }
            },
          ],
          setSelect: [
            (u) => {
              if (u.select.width > 3 && props.onZoom) {
                props.onZoom(u.posToVal(u.select.left, "x") * 1000, u.posToVal(u.select.left + u.select.width, "x") * 1000);
              }
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            },
          ],
        },
      },
      [data.xs, data.xs.map(() => null)] as unknown as uPlot.AlignedData,
      container,
    );
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, container.clientWidth), height }));
    resize.observe(container);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [data, unit, height]);
  return <div class="chart-plot" ref={el} role="img" aria-label={props.ariaLabel} />;
}
