// End-to-end harness: the real `argus` binary on ephemeral ports with its own data directory,
// real traffic over its sockets (StatsD over UDP, OTLP/JSON over HTTP, logstash json_lines
// over TCP, Prometheus text import), and Debian's chromium driven by playwright-core.

import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");

/** The binary `cargo test` / `cargo build` made; ARGUS_BIN overrides. */
export function argusBinary(): string {
  if (process.env.ARGUS_BIN) return process.env.ARGUS_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");
  return join(target, "debug", "argus");
}

export interface Addresses {
  http: string;
  statsd: string;
  logstash: string;
  otlp_grpc: string;
  otlp_http: string;
}

export interface Argus {
  addr: Addresses;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startArgus(extraArgs: string[] = []): Promise<Argus> {
  const dataDir = mkdtempSync(join(tmpdir(), "argus-e2e-"));
  const args = [
    "serve",
    "--data-dir", join(dataDir, "data"),
    "--http", "127.0.0.1:0",
    "--statsd", "127.0.0.1:0",
    "--logstash", "127.0.0.1:0",
    "--otlp-grpc", "127.0.0.1:0",
    "--otlp-http", "127.0.0.1:0",
    "--statsd-flush-interval", "1s",
    "--span-metrics-interval", "1s",
    "--dashboards", join(dataDir, "dashboards"),
    ...extraArgs,
  ];
  mkdirSync(join(dataDir, "dashboards"), { recursive: true });
  const child: ChildProcess = spawn(argusBinary(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const started = new Promise<Addresses>((ok, fail) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => fail(new Error(`argus did not start in 60s: ${stderr}`)), 60_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      ok(JSON.parse(line) as Addresses);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`argus exited with ${code}: ${stderr}`));
    });
  });
  const addr = await started.catch((e) => {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  });
  return {
    addr,
    url: `http://${addr.http}`,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once("exit", ok));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((ok) => setTimeout(ok, 20_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function hostPort(a: string): [string, number] {
  const i = a.lastIndexOf(":");
  return [a.slice(0, i), parseInt(a.slice(i + 1), 10)];
}

/** StatsD lines over UDP, one datagram each. */
export async function sendStatsd(argus: Argus, lines: string[]): Promise<void> {
  const [host, port] = hostPort(argus.addr.statsd);
  const socket = createSocket("udp4");
  for (const line of lines) {
    await new Promise<void>((ok, fail) => socket.send(line, port, host, (e) => (e ? fail(e) : ok())));
  }
  socket.close();
}

/** logstash json_lines over TCP. */
export async function sendLogs(argus: Argus, events: object[]): Promise<void> {
  const [host, port] = hostPort(argus.addr.logstash);
  await new Promise<void>((ok, fail) => {
    const socket = connect(port, host, () => {
      socket.end(events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    });
    socket.on("close", () => ok());
    socket.on("error", fail);
  });
}

export interface SpanSpec {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client, 1 internal. */
  kind: number;
  startMs: number;
  durationMs: number;
  error?: boolean;
  attributes?: Record<string, string>;
}

/** Spans as OTLP/JSON over HTTP, grouped by service into resource spans. */
export async function sendSpans(argus: Argus, spans: SpanSpec[]): Promise<void> {
  const byService = new Map<string, SpanSpec[]>();
  for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
  const body = {
    resourceSpans: [...byService.entries()].map(([service, list]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }, { key: "host.name", value: { stringValue: "e2e-host" } }] },
      scopeSpans: [
        {
          scope: { name: "argus-e2e" },
          spans: list.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? "",
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: ns(s.startMs),
            endTimeUnixNano: ns(s.startMs + s.durationMs),
            attributes: Object.entries(s.attributes ?? {}).map(([key, v]) => ({ key, value: { stringValue: v } })),
            status: s.error ? { code: 2, message: "failed" } : { code: 1 },
          })),
        },
      ],
    })),
  };
  const r = await fetch(`http://${argus.addr.otlp_http}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`OTLP export answered ${r.status}: ${await r.text()}`);
}

/** Prometheus text lines with millisecond timestamps. */
export async function importPrometheus(argus: Argus, text: string): Promise<void> {
  const r = await fetch(`${argus.url}/api/v1/import/prometheus`, { method: "POST", body: text });
  if (!r.ok) throw new Error(`import answered ${r.status}: ${await r.text()}`);
}

export function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Polls `check` until it returns a truthy value, or fails with `what` after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

export async function promQuery(argus: Argus, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${argus.url}/api/v1/query?${new URLSearchParams({ query })}`);
  const body = await r.json();
  return body.data?.result ?? [];
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // Root in a container has no user namespace for chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

export async function newPage(browser: Browser, width = 1280, height = 860): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: "light" });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  return page;
}

export const screenshotDir = join(here, "screenshots");

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}
