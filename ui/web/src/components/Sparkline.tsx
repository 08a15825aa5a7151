// A tiny uPlot line without axes: the trend of one golden signal in the services table. Drawn
// only once scrolled into view: a page of 50 services holds 250 of them, and creating them all
// up front would delay the first paint of the numbers.

import uPlot from "uplot";
import { useEffect, useRef, useState } from "preact/hooks";
import { colorAt } from "../lib/palette";

export function Sparkline(props: { xs: number[]; values: (number | null)[]; color?: number; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    if (!el.current || visible) return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setVisible(true), { rootMargin: "200px" });
    io.observe(el.current);
    return () => io.disconnect();
  }, [visible]);
  useEffect(() => {
    if (!el.current || !visible) return;
    const color = colorAt(props.color ?? 0);
    const u = new uPlot(
      {
        width: 96,
        height: 28,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        // From zero (a rate's trend reads against nothing), with a margin so a flat line at
        // zero or at the top stays visible.
        scales: {
          x: { time: false },
          y: {
            range: (_u, min, max) => {
              const lo = Math.min(0, min ?? 0);
              const hi = Math.max(lo + 1e-9, max ?? 1);
              const pad = (hi - lo) * 0.12;
              return [lo - pad, hi + pad];
            },
          },
        },
        // A lone point (a series that just started) is drawn as a dot rather than nothing.
        series: [{}, { stroke: color, width: 1.25, points: { show: props.values.filter((v) => v !== null).length <= 2, size: 4 }, fill: color + "22" }],
      },
      [props.xs, props.values] as uPlot.AlignedData,
      el.current,
    );
    return () => u.destroy();
  }, [visible, props.xs, props.values, props.color]);
  return <div class="spark" ref={el} role="img" aria-label={props.label} />;
}
