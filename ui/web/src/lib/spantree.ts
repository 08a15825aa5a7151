// A Jaeger trace as a tree of spans: parents from CHILD_OF references (a span whose parent is
// not in the trace becomes a root), children in start order, and the critical path: the
// chain of work that decided the trace's end-to-end duration.

export interface KeyValue {
  key: string;
  type?: string;
  value: unknown;
}

export interface JaegerReference {
  refType: string;
  traceID: string;
  spanID: string;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerReference[] | null;
  startTime: number; // µs
  duration: number; // µs
  tags: KeyValue[] | null;
  logs: { timestamp: number; fields: KeyValue[] }[] | null;
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: KeyValue[] | null }>;
}

export interface SpanNode {
  span: JaegerSpan;
  service: string;
  depth: number;
  children: SpanNode[];
  error: boolean;
}

export interface SpanTree {
  roots: SpanNode[];
  byId: Map<string, SpanNode>;
  /** µs */
  start: number;
  /** µs */
  end: number;
  services: string[];
  errors: number;
}

export function spanHasError(span: JaegerSpan): boolean {
  return (span.tags ?? []).some(
    (t) => (t.key === "error" && (t.value === true || t.value === "true")) || (t.key === "otel.status_code" && t.value === "ERROR"),
  );
}

function parentId(span: JaegerSpan): string | undefined {
  const refs = span.references ?? [];
  return (refs.find((r) => r.refType === "CHILD_OF") ?? refs[0])?.spanID;
}

export function buildTree(trace: JaegerTrace): SpanTree {
  const byId = new Map<string, SpanNode>();
  for (const span of trace.spans) {
    // A duplicated span id (a misbehaving client) keeps its first copy.
    if (byId.has(span.spanID)) continue;
    byId.set(span.spanID, {
      span,
      service: trace.processes[span.processID]?.serviceName ?? "unknown",
      depth: 0,
      children: [],
      error: spanHasError(span),
    });
  }
  const roots: SpanNode[] = [];
  for (const node of byId.values()) {
    const parent = parentId(node.span);
    const parentNode = parent !== undefined && parent !== node.span.spanID ? byId.get(parent) : undefined;
    if (parentNode && !isAncestor(node, parentNode, byId)) parentNode.children.push(node);
    else roots.push(node);
  }
  const byStart = (a: SpanNode, b: SpanNode) => a.span.startTime - b.span.startTime;
  roots.sort(byStart);
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  const services = new Set<string>();
  const stack: SpanNode[] = roots.map((r) => r);
  for (const r of roots) r.depth = 0;
  while (stack.length > 0) {
    const node = stack.pop()!;
    node.children.sort(byStart);
    for (const c of node.children) {
      c.depth = node.depth + 1;
      stack.push(c);
    }
    start = Math.min(start, node.span.startTime);
    end = Math.max(end, node.span.startTime + node.span.duration);
    services.add(node.service);
    if (node.error) errors++;
  }
  if (!Number.isFinite(start)) {
    start = 0;
    end = 0;
  }
  return { roots, byId, start, end, services: [...services].sort(), errors };
}

/** Whether `candidate` is `node` or below it: linking it as `node`'s parent would make a cycle. */
function isAncestor(node: SpanNode, candidate: SpanNode, byId: Map<string, SpanNode>): boolean {
  let current: SpanNode | undefined = candidate;
  const seen = new Set<string>();
  while (current && !seen.has(current.span.spanID)) {
    if (current === node) return true;
    seen.add(current.span.spanID);
    const p = parentId(current.span);
    current = p === undefined ? undefined : byId.get(p);
  }
  return false;
}

/** The rows a waterfall shows: depth-first, skipping the descendants of collapsed spans. */
export function visibleRows(tree: SpanTree, collapsed: ReadonlySet<string>): SpanNode[] {
  const rows: SpanNode[] = [];
  const stack = [...tree.roots].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    rows.push(node);
    if (!collapsed.has(node.span.spanID)) {
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
    }
  }
  return rows;
}

export interface CriticalSegment {
  spanID: string;
  /** µs */
  start: number;
  /** µs */
  end: number;
}

/**
 * Jaeger's critical-path walk: from a span's end backwards, the child that finished last
 * before the cursor is on the path (recursively), the parent's own time between children is
 * too, then the cursor moves to that child's start.
 */
export function criticalPath(tree: SpanTree): CriticalSegment[] {
  const segments: CriticalSegment[] = [];
  const root = tree.roots.reduce<SpanNode | undefined>(
    (best, r) => (!best || r.span.duration > best.span.duration ? r : best),
    undefined,
  );
  if (!root) return segments;
  const walk = (node: SpanNode, until: number, depth: number) => {
    const nodeStart = node.span.startTime;
    let cursor = Math.min(node.span.startTime + node.span.duration, until);
    const remaining = [...node.children];
    while (cursor > nodeStart && depth < 10_000) {
      let pick = -1;
      let pickEnd = -Infinity;
      remaining.forEach((c, i) => {
        const end = Math.min(c.span.startTime + c.span.duration, cursor);
        if (c.span.startTime < cursor && end > pickEnd) {
          pick = i;
          pickEnd = end;
        }
      });
      if (pick < 0) break;
      const child = remaining.splice(pick, 1)[0];
      if (pickEnd < cursor) segments.push({ spanID: node.span.spanID, start: pickEnd, end: cursor });
      walk(child, pickEnd, depth + 1);
      cursor = Math.max(child.span.startTime, nodeStart);
    }
    if (cursor > nodeStart) segments.push({ spanID: node.span.spanID, start: nodeStart, end: cursor });
  };
  walk(root, root.span.startTime + root.span.duration, 0);
  return segments.sort((a, b) => a.start - b.start);
}

export function tagValue(tags: KeyValue[] | null | undefined, key: string): string | undefined {
  const t = (tags ?? []).find((kv) => kv.key === key);
  return t === undefined ? undefined : String(t.value);
}
