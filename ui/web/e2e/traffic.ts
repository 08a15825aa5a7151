// The traffic the tests send: a small shop (frontend → checkout → payments) traced with OTLP,
// its logs over logstash TCP, and a StatsD-only service, all timestamped "now".

import { hex, sendLogs, sendSpans, sendStatsd, type Argus, type SpanSpec } from "./harness";

export const KNOWN_TRACE = hex(0xabc123, 32);

export async function sendShopTraffic(argus: Argus, traces = 20): Promise<void> {
  const now = Date.now();
  const spans: SpanSpec[] = [];
  const logs: object[] = [];
  for (let i = 0; i < traces; i++) {
    const traceId = i === 0 ? KNOWN_TRACE : hex(0x1000 + i, 32);
    const start = now - 5000 + i * 100;
    const failed = i % 5 === 0;
    const id = (n: number) => hex(i * 16 + n + 1, 16);
    spans.push(
      { service: "frontend", traceId, spanId: id(1), name: "GET /checkout", kind: 2, startMs: start, durationMs: 120 + i, error: failed, attributes: { "http.method": "GET" } },
      { service: "frontend", traceId, spanId: id(2), parentSpanId: id(1), name: "POST checkout/pay", kind: 3, startMs: start + 5, durationMs: 100 + i, error: failed },
      { service: "checkout", traceId, spanId: id(3), parentSpanId: id(2), name: "POST /pay", kind: 2, startMs: start + 8, durationMs: 90 + i, error: failed, attributes: { "http.status_code": failed ? "500" : "200" } },
      { service: "checkout", traceId, spanId: id(4), parentSpanId: id(3), name: "load cart", kind: 1, startMs: start + 10, durationMs: 20 },
      { service: "payments", traceId, spanId: id(5), parentSpanId: id(3), name: "charge", kind: 2, startMs: start + 35, durationMs: 55 + i },
    );
    logs.push({
      "@timestamp": new Date(start + 50).toISOString(),
      message: failed ? `payment failed for order ${1000 + i}: card declined` : `payment accepted for order ${1000 + i}`,
      levelname: failed ? "ERROR" : "INFO",
      name: "checkout",
      source_host: "e2e-host",
      trace_id: traceId,
      span_id: id(3),
      order: { id: 1000 + i, total: 12.5 + i },
    });
  }
  await sendSpans(argus, spans);
  await sendLogs(argus, logs);
  // A service known only from StatsD timers (DogStatsD tags become labels), over three flush
  // intervals so its counters grow between samples and rates exist.
  for (let round = 0; round < 3; round++) {
    if (round > 0) await new Promise((ok) => setTimeout(ok, 1100));
    await sendStatsd(
      argus,
      Array.from({ length: 20 }, (_, i) => `billing_request_duration:${40 + i}|ms|#service:legacy-billing`),
    );
  }
}
