import { describe, expect, it } from "vitest";
import { buildTree, criticalPath, visibleRows, type JaegerSpan, type JaegerTrace } from "./spantree";

function span(id: string, parent: string | null, start: number, duration: number, proc = "p1", error = false): JaegerSpan {
  return {
    traceID: "t",
    spanID: id,
    operationName: `op-${id}`,
    references: parent ? [{ refType: "CHILD_OF", traceID: "t", spanID: parent }] : [],
    startTime: start,
    duration,
    tags: error ? [{ key: "error", type: "bool", value: true }] : [],
    logs: [],
    processID: proc,
  };
}

const processes = { p1: { serviceName: "frontend", tags: [] }, p2: { serviceName: "checkout", tags: [] } };

describe("span tree", () => {
  it("links children to parents in start order and finds depth, services and errors", () => {
    const trace: JaegerTrace = {
      traceID: "t",
      processes,
      spans: [span("c2", "root", 60, 30, "p2"), span("root", null, 0, 100), span("c1", "root", 10, 40, "p2", true), span("g", "c1", 20, 10, "p2")],
    };
    const tree = buildTree(trace);
    expect(tree.roots.map((r) => r.span.spanID)).toEqual(["root"]);
    expect(tree.roots[0].children.map((c) => c.span.spanID)).toEqual(["c1", "c2"]);
    expect(tree.byId.get("g")!.depth).toBe(2);
    expect(tree.services).toEqual(["checkout", "frontend"]);
    expect(tree.errors).toBe(1);
    expect([tree.start, tree.end]).toEqual([0, 100]);
    expect(visibleRows(tree, new Set()).map((n) => n.span.spanID)).toEqual(["root", "c1", "g", "c2"]);
    expect(visibleRows(tree, new Set(["c1"])).map((n) => n.span.spanID)).toEqual(["root", "c1", "c2"]);
  });

  it("makes spans whose parent is missing, or that form a cycle, roots", () => {
    const trace: JaegerTrace = {
      traceID: "t",
      processes,
      spans: [span("a", "missing", 5, 10), span("b", null, 0, 50), span("x", "y", 1, 1), span("y", "x", 2, 1)],
    };
    const tree = buildTree(trace);
    // Every span of a parent cycle becomes a root: shown once each, never looped over.
    expect(tree.roots.map((r) => r.span.spanID)).toEqual(["b", "x", "y", "a"]);
    expect(visibleRows(tree, new Set()).length).toBe(4);
  });

  it("follows the last-finishing child for the critical path", () => {
    // root 0..100: c1 10..50, c2 40..90 (finishes last), root's own 90..100 and 0..40.
    const trace: JaegerTrace = {
      traceID: "t",
      processes,
      spans: [span("root", null, 0, 100), span("c1", "root", 10, 40), span("c2", "root", 40, 50)],
    };
    const path = criticalPath(buildTree(trace));
    expect(path).toEqual([
      { spanID: "root", start: 0, end: 10 },
      { spanID: "c1", start: 10, end: 40 },
      { spanID: "c2", start: 40, end: 90 },
      { spanID: "root", start: 90, end: 100 },
    ]);
  });

  it("handles an empty trace", () => {
    const tree = buildTree({ traceID: "t", processes: {}, spans: [] });
    expect(tree.roots).toEqual([]);
    expect(criticalPath(tree)).toEqual([]);
  });
});
