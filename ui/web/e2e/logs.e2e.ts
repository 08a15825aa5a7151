// Logs: search, histogram, facets into the query, a line opened to its JSON with the match
// highlighted, and the link from its trace id to the trace.

import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { eventually, launchBrowser, newPage, screenshot, sendLogs, startArgus, type Argus } from "./harness";
import { KNOWN_TRACE, sendShopTraffic } from "./traffic";

let argus: Argus;
let browser: Browser;

beforeAll(async () => {
  [argus, browser] = await Promise.all([startArgus(), launchBrowser()]);
  await sendShopTraffic(argus);
  await eventually("log lines searchable", async () => {
    const r = await fetch(`${argus.url}/api/v1/logs/search?q=payment`);
    return (await r.json()).data.total === 20;
  });
});

afterAll(async () => {
  await browser?.close();
  await argus?.stop();
});

test("search logs, narrow by a facet, open a line and follow its trace", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/logs");
  const box = page.getByRole("textbox", { name: "Log query (Lucene syntax)" });
  await box.fill("payment");
  await box.press("Enter");
  await expect.poll(() => page.getByTestId("log-total").textContent()).toBe("20");
  await page.getByTestId("log-histogram").locator("canvas").waitFor();

  // The level facet adds a clause: only the four failed payments are left.
  await page.getByRole("complementary", { name: "Facets" }).getByRole("button", { name: /^ERROR/ }).click();
  await page.waitForURL(/level%3A%22ERROR%22|level:%22ERROR%22/);
  await expect.poll(() => page.getByTestId("log-total").textContent()).toBe("4");
  expect(await box.inputValue()).toBe('payment AND level:"ERROR"');

  const first = page.locator(".loglist .logline").first();
  expect(await first.locator("mark").first().textContent()).toMatch(/payment/i);
  await first.click();
  const json = page.getByTestId("log-json");
  await json.waitFor();
  expect(await json.textContent()).toContain('"card declined"'.slice(1, -1));
  expect(await json.locator("mark").count()).toBeGreaterThan(0);
  await screenshot(page, "logs");

  // The known trace's line links to its waterfall.
  await box.fill(`trace_id:${KNOWN_TRACE}`);
  await box.press("Enter");
  await expect.poll(() => page.getByTestId("log-total").textContent()).toBe("1");
  await page.locator(".loglist .logline").first().click();
  await page.getByRole("link", { name: /Open trace/ }).click();
  await page.waitForURL(new RegExp(`/traces/${KNOWN_TRACE}`));
  await page.locator(".wf-row").first().waitFor();
  expect(await page.locator(".wf-row").count()).toBe(5);
  await page.close();
});

test("live tail shows new lines as they arrive", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/logs?q=" + encodeURIComponent("service:tailer"));
  await page.getByTestId("log-total").waitFor();
  await page.getByRole("button", { name: "▶ Live tail" }).click();
  await page.getByRole("heading", { name: /^Live/ }).waitFor();
  // A line a second until one shows: the stream may open after the first is committed.
  let sent = 0;
  await expect
    .poll(
      async () => {
        await sendLogs(argus, [{ "@timestamp": new Date().toISOString(), message: `tailed line ${++sent}`, levelname: "INFO", name: "tailer" }]);
        return page.locator(".loglist").first().textContent();
      },
      { timeout: 15_000, interval: 1000 },
    )
    .toMatch(/tailed line \d+/);
  await page.getByRole("button", { name: "■ Stop live tail" }).click();
  await page.close();
});

test("errors are grouped with counts, an example and links", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/errors");
  const table = page.getByRole("table", { name: "Error groups" });
  await table.waitFor();
  // Four failed payments that differ only by order number: one group.
  const row = table.locator("tbody tr", { hasText: "payment failed for order" });
  await expect.poll(() => row.count()).toBe(1);
  expect(await row.locator("td.num").textContent()).toBe("4");
  expect(await row.textContent()).toContain("checkout");
  await row.getByRole("button").click();
  await page.getByRole("link", { name: "All 4 lines" }).waitFor();
  await page.getByRole("link", { name: "Trace of the example" }).waitFor();
  await screenshot(page, "errors");
  await page.getByRole("link", { name: "All 4 lines" }).click();
  await page.waitForURL(/\/logs\?q=fingerprint/);
  await expect.poll(() => page.getByTestId("log-total").textContent()).toBe("4");
  await page.close();
});
