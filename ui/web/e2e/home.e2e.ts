// Home and the service dashboards: services and their golden signals appear from real
// traffic; a service dashboard redraws when the time range changes.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { eventually, launchBrowser, newPage, promQuery, screenshot, startArgus, type Argus } from "./harness";
import { sendShopTraffic } from "./traffic";

let argus: Argus;
let browser: Browser;

beforeAll(async () => {
  [argus, browser] = await Promise.all([startArgus(), launchBrowser()]);
  await sendShopTraffic(argus);
  // The span-derived series and StatsD aggregates are written every second.
  await eventually("span-derived series", async () => (await promQuery(argus, "argus_spans_total")).length > 0);
  await eventually("StatsD timer rate", async () => {
    const r = await promQuery(argus, "rate(billing_request_duration_count[1m])");
    return r.length > 0 && parseFloat(r[0].value[1]) > 0;
  });
});

afterAll(async () => {
  await browser?.close();
  await argus?.stop();
});

test("home lists every service with its golden signals", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/");
  const row = (s: string) => page.locator(`tr[data-service="${s}"]`);
  for (const s of ["frontend", "checkout", "payments", "legacy-billing"]) await row(s).waitFor();
  // Request rate and latency computed for traced services; errors as a ratio.
  await expect.poll(() => row("checkout").locator('[data-signal="rate"]').textContent()).toMatch(/\/s$/);
  await expect.poll(() => row("checkout").locator('[data-signal="errorRatio"]').textContent()).toMatch(/%$/);
  await expect.poll(() => row("payments").locator('[data-signal="p99"]').textContent()).toMatch(/ms$/);
  // A StatsD-only service gets rate and latency from its timers.
  await expect.poll(() => row("legacy-billing").locator('[data-signal="p50"]').textContent()).toMatch(/ms$/);
  await expect.poll(() => row("checkout").locator(".spark canvas").count()).toBe(5);
  await screenshot(page, "home");
  await page.close();
});

test("a service dashboard redraws when the time range changes", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/");
  await page.locator('tr[data-service="checkout"] th a').click();
  await page.waitForURL(/\/dashboards\/service\/checkout/);
  const panel = page.locator('[data-panel="Requests per second by operation"]');
  await panel.locator("canvas").first().waitFor();
  await expect.poll(() => panel.locator(".chart-plot").getAttribute("data-series")).not.toBe("0");
  await page.locator('[data-panel="Latency p50 / p90 / p99"] canvas').first().waitFor();
  await screenshot(page, "service-dashboard");

  // Pick "Last 5 minutes": the URL holds it and every panel queries the new range.
  const requested = page.waitForRequest((r) => r.url().includes("/api/v1/query_range") && (r.postData() ?? "").includes("step=2"));
  await page.getByTestId("range-button").click();
  await page.getByRole("button", { name: "Last 5 minutes" }).click();
  await page.waitForURL(/from=now-5m/);
  await requested;
  await expect.poll(() => panel.locator(".chart-plot").getAttribute("data-series")).not.toBe("0");
  expect(await page.getByTestId("range-button").textContent()).toContain("Last 5 minutes");
  // Reloading the shared URL restores the same range.
  await page.reload();
  expect(await page.getByTestId("range-button").textContent()).toContain("Last 5 minutes");

  // Dragging across a chart zooms every panel to the selection: an absolute range.
  const over = panel.locator(".u-over");
  await over.waitFor();
  const box = (await over.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForURL(/from=\d{13}/);
  const url = new URL(page.url());
  const span = Number(url.searchParams.get("to")) - Number(url.searchParams.get("from"));
  // About 45 % of five minutes.
  expect(span).toBeGreaterThan(100_000);
  expect(span).toBeLessThan(170_000);
  expect(await page.getByTestId("range-button").textContent()).toContain("→");
  await page.close();
});

test("a file-defined dashboard shows every panel kind", async () => {
  writeFileSync(
    join(argus.dataDir, "dashboards", "shop.yml"),
    `title: Shop
tags: [e2e]
rows:
  - title: Traffic
    panels:
      - title: Checkout requests
        type: stat
        expr: sum(argus_spans_total{service="checkout", span_kind="server"})
        thresholds: [{value: 1000000}]
        width: 3
      - title: Spans by service
        type: table
        expr: sum by (service) (argus_spans_total)
        legend: "{{service}}"
        width: 3
      - title: Rate by service
        type: stacked
        expr: sum by (service) (rate(argus_spans_total[1m]))
        legend: "{{service}}"
        unit: rate
        thresholds: [{value: 0.5, label: budget}]
        width: 6
  - panels:
      - title: Latency buckets
        type: heatmap
        expr: sum by (le) (rate(argus_span_duration_seconds_bucket[1m]))
        unit: seconds
      - title: Payment errors
        type: logs
        logs: "level:error AND payment"
`,
  );
  writeFileSync(join(argus.dataDir, "dashboards", "broken.json"), `{"title": "Broken", "rows": [{"panels": [{"title": "x"}]}]}`);
  const page = await newPage(browser);
  await page.goto(argus.url + "/dashboards");
  await expect.poll(() => page.locator("li.error").textContent()).toContain("needs exactly one of expr, logs or traces");
  await page.getByRole("link", { name: "Shop" }).click();
  await page.waitForURL(/\/dashboards\/file\/shop/);
  await expect.poll(() => page.locator('[data-panel="Checkout requests"] .stat').textContent()).toBe("20");
  await expect.poll(() => page.locator('[data-panel="Spans by service"] tbody tr').count()).toBe(3);
  await page.locator('[data-panel="Rate by service"] canvas').first().waitFor();
  await page.locator('[data-panel="Latency buckets"] canvas').first().waitFor();
  await expect.poll(() => page.locator('[data-panel="Payment errors"] .loglist li').count()).toBe(4);
  await screenshot(page, "file-dashboard");
  await page.close();
});

test("keyboard, both themes, and no layout break from 1280 to 1024 px", async () => {
  for (const width of [1280, 1024]) {
    const page = await newPage(browser, width, 800);
    for (const path of ["/", "/dashboards/service/checkout", "/logs?q=payment", "/traces?service=checkout", "/explore?q=argus_spans_total"]) {
      await page.goto(argus.url + path);
      await page.locator("main h1").waitFor();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} at ${width}px`).toBeLessThanOrEqual(0);
    }
    await page.close();
  }

  const page = await newPage(browser, 1024, 800);
  await page.goto(argus.url + "/");
  await page.locator('tr[data-service="checkout"]').waitFor();
  // Tab reaches the skip link, then the navigation, each with a visible focus outline.
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => {
    const el = document.activeElement as HTMLElement;
    return { text: el.textContent, outline: getComputedStyle(el).outlineStyle };
  });
  expect(focused).toEqual({ text: "Services", outline: "solid" });
  // Enter on a focused link navigates.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/dashboards$/);

  await page.getByRole("button", { name: "Switch to dark theme" }).click();
  await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
  await page.goto(argus.url + "/dashboards/service/checkout");
  await page.locator('[data-panel="Latency p50 / p90 / p99"] canvas').first().waitFor();
  // The choice survives a reload.
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
  await screenshot(page, "service-dashboard-dark-1024");
  await page.close();
});
