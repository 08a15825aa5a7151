// One row per series with its current value: an instant query's result, in a dashboard's
// table panel and in Explore's table view.
import type { VectorSample } from "../lib/api";
import { seriesName } from "../lib/legend";
import { formatValue, type Unit } from "../lib/units";

export function SeriesValueTable(props: {
  samples: VectorSample[];
  unit?: Unit | null;
  /** Legend format for the series names (`{{job}}`), as the panel's. */
  legend?: string | null;
  label?: string;
  /** Shown as a row when there are no samples; no row when absent. */
  empty?: string;
}) {
  const { samples, unit, legend, label, empty } = props;
  return (
    <div class="table-wrap">
      <table class="data" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Series</th>
            <th scope="col" class="num">
              Value
            </th>
          </tr>
        </thead>
        <tbody>
          {samples.map((s) => (
            <tr key={seriesName(s.metric)}>
              <td class="mono">{seriesName(s.metric, legend)}</td>
              <td class="num">{formatValue(parseFloat(s.value[1]), unit)}</td>
            </tr>
          ))}
          {samples.length === 0 && empty && (
            <tr>
              <td colSpan={2} class="muted">
                {empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
