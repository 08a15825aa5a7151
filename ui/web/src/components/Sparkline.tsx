// A tiny uPlot line without axes: the trend of one golden signal in the services table.

import uPlot from "uplot";
import { useEffect, useRef } from "preact/hooks";
import { colorAt } from "../lib/palette";

export function Sparkline(props: { xs: number[]; values: (number | null)[]; color?: number; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const u = new uPlot(
      {
        width: 96,
        height: 28,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: false }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), (max ?? 1) === 0 ? 1 : (max ?? 1) * 1.1] } },
        // A lone point (a series that just started) is drawn as a dot rather than nothing.
        series: [{}, { stroke: colorAt(props.color ?? 0), width: 1.25, points: { show: props.values.filter((v) => v !== null).length <= 2, size: 4 }, fill: colorAt(props.color ?? 0) + "22" }],
      },
      [props.xs, props.values] as uPlot.AlignedData,
      el.current,
    );
    return () => u.destroy();
  }, [props.xs, props.values, props.color]);
  return <div class="spark" ref={el} role="img" aria-label={props.label} />;
}
