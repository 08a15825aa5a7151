// The service dependency graph from /jaeger/api/dependencies, laid out by dagre (the layered
// layout Jaeger's and Kiali's graphs use) and drawn as SVG, calls and errors on each edge.

import dagre from "@dagrejs/dagre";
import { dependencies, type DependencyLink } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { Link, navigate } from "../lib/router";
import { formatValue } from "../lib/units";

interface Layout {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number; w: number; h: number }[];
  edges: { link: DependencyLink; points: { x: number; y: number }[]; label: { x: number; y: number } }[];
}

export function layoutGraph(links: DependencyLink[]): Layout {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 120, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.parent);
    names.add(l.child);
  }
  for (const n of names) g.setNode(n, { label: n, width: Math.max(90, n.length * 8 + 24), height: 36 });
  for (const l of links) g.setEdge(l.parent, l.child, { width: 80, height: 20, labelpos: "c" });
  dagre.layout(g);
  const graph = g.graph();
  return {
    width: graph.width ?? 400,
    height: graph.height ?? 200,
    nodes: g.nodes().map((id) => {
      const n = g.node(id);
      return { id, x: n.x, y: n.y, w: n.width, h: n.height };
    }),
    edges: links.map((link) => {
      const e = g.edge(link.parent, link.child);
      return { link, points: e.points ?? [], label: { x: e.x ?? 0, y: e.y ?? 0 } };
    }),
  };
}

export function ServiceMap() {
  const { resolved } = useTimeRange();
  const state = useAsync(
    (signal) => dependencies(resolved.end, resolved.end - resolved.start, signal).then((links) => ({ links, layout: layoutGraph(links) })),
    [resolved.start, resolved.end],
  );
  return (
    <section class="graph">
      <h1 tabIndex={-1}>Service map</h1>
      <p class="muted">Calls between services in the selected range, from the span-derived service graph. Select a service to open its dashboard.</p>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {state.data && state.data.links.length === 0 && <p class="muted">No calls between services in this range.</p>}
      {state.data && state.data.links.length > 0 && (
        <>
          <svg viewBox={`0 0 ${state.data.layout.width} ${state.data.layout.height}`} style={{ maxHeight: "70vh" }} role="img" aria-label="Service dependency graph">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor" />
              </marker>
            </defs>
            {state.data.layout.edges.map((e) => (
              <g key={`${e.link.parent}>${e.link.child}`} class={`edge ${(e.link.errorCount ?? 0) > 0 ? "failing" : ""}`}>
                <path d={e.points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ")} marker-end="url(#arrow)" style={{ color: "var(--fg-muted)" }} />
                <text x={e.label.x} y={e.label.y} text-anchor="middle">
                  {formatValue(e.link.callCount)} calls{e.link.errorCount ? `, ${formatValue(e.link.errorCount)} errors` : ""}
                </text>
              </g>
            ))}
            {state.data.layout.nodes.map((n) => (
              <g
                key={n.id}
                class="node"
                tabIndex={0}
                role="link"
                aria-label={`Service ${n.id}`}
                style={{ cursor: "pointer" }}
                onClick={() => navigate(`/dashboards/service/${encodeURIComponent(n.id)}`)}
                onKeyDown={(e) => e.key === "Enter" && navigate(`/dashboards/service/${encodeURIComponent(n.id)}`)}
              >
                <rect x={n.x - n.w / 2} y={n.y - n.h / 2} width={n.w} height={n.h} rx={6} />
                <text x={n.x} y={n.y + 4} text-anchor="middle">
                  {n.id}
                </text>
              </g>
            ))}
          </svg>
          <h2>Edges</h2>
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">Caller</th>
                  <th scope="col">Callee</th>
                  <th scope="col" class="num">Calls</th>
                  <th scope="col" class="num">Errors</th>
                </tr>
              </thead>
              <tbody>
                {state.data.links.map((l) => (
                  <tr key={`${l.parent}>${l.child}`}>
                    <td><Link href={`/dashboards/service/${encodeURIComponent(l.parent)}`}>{l.parent}</Link></td>
                    <td><Link href={`/dashboards/service/${encodeURIComponent(l.child)}`}>{l.child}</Link></td>
                    <td class="num">{l.callCount}</td>
                    <td class="num">{l.errorCount ?? 0}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
