// Explore: completion from the label APIs, a typo's error shown at its position, then a chart
// and a table of the corrected query.

import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { eventually, launchBrowser, newPage, promQuery, screenshot, startArgus, type Argus } from "./harness";
import { sendShopTraffic } from "./traffic";

let argus: Argus;
let browser: Browser;

beforeAll(async () => {
  [argus, browser] = await Promise.all([startArgus(), launchBrowser()]);
  await sendShopTraffic(argus, 5);
  await eventually("span-derived series", async () => (await promQuery(argus, "argus_spans_total")).length > 0);
});

afterAll(async () => {
  await browser?.close();
  await argus?.stop();
});

test("completes metric names and label values", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/explore");
  const editor = page.getByRole("combobox", { name: "PromQL query" });
  await editor.click();
  await editor.pressSequentially("argus_spans_t");
  await page.getByRole("option", { name: "argus_spans_total" }).waitFor();
  await editor.press("Tab");
  await expect.poll(() => editor.inputValue()).toBe("argus_spans_total");
  await editor.pressSequentially('{service="pay');
  await page.getByRole("option", { name: "payments" }).waitFor();
  await editor.press("Enter");
  await expect.poll(() => editor.inputValue()).toBe('argus_spans_total{service="payments');
  await page.close();
});

test("a typo shows the server's error at its position, the fix shows a chart and a table", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/explore");
  const editor = page.getByRole("combobox", { name: "PromQL query" });
  await editor.fill("sum by (service) (rate(argus_spans_total[5m])");
  await page.getByRole("button", { name: "Run query" }).click();
  const error = page.getByTestId("query-error");
  await error.waitFor();
  expect(await error.textContent()).toContain("parse error");
  // The position Prometheus put in front of the message is drawn under the query.
  await expect.poll(() => page.getByTestId("error-excerpt").textContent()).toMatch(/\^ line 1, column \d+/);
  await screenshot(page, "explore-error");

  await editor.fill("sum by (service) (rate(argus_spans_total[5m]))");
  await page.getByRole("button", { name: "Run query" }).click();
  await page.waitForURL(/q=sum/);
  await expect.poll(() => page.locator(".chart-plot").getAttribute("data-series")).toBe("3");
  await page.getByRole("tab", { name: "Table" }).click();
  await expect.poll(() => page.getByRole("table", { name: "Query result" }).locator("tbody tr").count()).toBe(3);
  await page.getByRole("tab", { name: "Chart" }).click();
  await page.locator(".chart-plot canvas").waitFor();
  await screenshot(page, "explore");
  await page.close();
});
