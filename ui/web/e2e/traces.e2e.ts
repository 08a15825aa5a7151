// Traces: search a service's traces, open one as a waterfall with its span tree, details and
// critical path, and see the services' dependency graph.

import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { eventually, launchBrowser, newPage, screenshot, startArgus, type Argus } from "./harness";
import { sendShopTraffic } from "./traffic";

let argus: Argus;
let browser: Browser;

beforeAll(async () => {
  [argus, browser] = await Promise.all([startArgus(), launchBrowser()]);
  await sendShopTraffic(argus, 10);
  await eventually("service graph edges", async () => {
    const r = await fetch(`${argus.url}/jaeger/api/dependencies?endTs=${Date.now()}&lookback=3600000`);
    return ((await r.json()).data ?? []).length === 2;
  });
});

afterAll(async () => {
  await browser?.close();
  await argus?.stop();
});

test("find a trace and open its waterfall", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/traces");
  await page.getByLabel("Service").selectOption("checkout");
  await page.getByLabel("Tags").fill("http.status_code=500");
  await page.getByRole("button", { name: "Find traces" }).click();
  const results = page.getByRole("table", { name: "Traces found" });
  // Every fifth trace failed: 2 of 10.
  await expect.poll(() => results.locator("tbody tr").count()).toBe(2);
  expect(await results.locator("tbody tr").first().textContent()).toContain("frontend: GET /checkout");
  await results.getByRole("link", { name: "frontend: GET /checkout" }).first().click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}/);

  const rows = page.locator(".wf-row");
  await expect.poll(() => rows.count()).toBe(5);
  expect(await page.locator(".wf-crit").count()).toBeGreaterThan(0);
  // Collapsing checkout's server span hides its two children.
  await page.getByRole("button", { name: "Collapse POST /pay" }).click();
  await expect.poll(() => rows.count()).toBe(3);
  await page.getByRole("button", { name: "Expand POST /pay" }).click();
  await expect.poll(() => rows.count()).toBe(5);
  await page.locator('.wf-row[data-span="charge"] button.span').click();
  const details = page.getByTestId("span-details");
  await expect.poll(() => details.locator("h2").textContent()).toBe("payments: charge");
  expect(await details.textContent()).toContain("e2e-host");
  await screenshot(page, "trace");
  expect(await page.getByRole("link", { name: "Logs of this trace" }).getAttribute("href")).toMatch(/trace_id/);
  await page.close();
});

test("the service map draws the calls between services", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/traces/map");
  const graph = page.getByRole("img", { name: "Service dependency graph" });
  await graph.waitFor();
  for (const s of ["frontend", "checkout", "payments"]) await graph.getByRole("link", { name: `Service ${s}` }).waitFor();
  const labels = await graph.locator(".edge text").allTextContents();
  expect(labels.sort()).toEqual(["10 calls", "10 calls, 2 errors"]);
  await screenshot(page, "service-map");
  await page.close();
});
