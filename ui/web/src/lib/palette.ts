// Okabe & Ito's colour-blind-safe palette (the one Nature Methods and Matplotlib's docs
// recommend), ordered so the first colours stay distinct for every kind of colour blindness
// and keep contrast on light and dark backgrounds; yellow last.

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#7f7f7f", "#F0E442"];

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** For thresholds and errors: vermillion, which reads as "bad" without relying on red. */
export const ALERT_COLOR = "#D55E00";

/** A theme colour (CSS custom property) for canvas drawing, which cannot use var(). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}
