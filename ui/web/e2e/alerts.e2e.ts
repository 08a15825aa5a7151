// Alerts: with a rule file loaded, pushing a metric over the threshold shows the alert firing.
// Needs the alerting branch (`argus serve --rules DIR`).

import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, newPage, screenshot, sendStatsd, startArgus, type Argus } from "./harness";

let argus: Argus;
let browser: Browser;
let rules: string;

beforeAll(async () => {
  rules = mkdtempSync(join(tmpdir(), "argus-e2e-rules-"));
  mkdirSync(rules, { recursive: true });
  writeFileSync(
    join(rules, "latency.yml"),
    `groups:
  - name: t
    interval: 1s
    rules:
      - alert: HighLatency
        expr: x > 1
        for: 0s
        labels: {severity: page, service: checkout}
        annotations: {summary: "x is {{ $value }}"}
`,
  );
  [argus, browser] = await Promise.all([startArgus(["--rules", rules]), launchBrowser()]);
  // A service named like the rule's `service` label, so the services page lists it.
  await sendStatsd(argus, ["checkout_request_duration:12|ms|#service:checkout"]);
});

afterAll(async () => {
  await browser?.close();
  await argus?.stop();
  rmSync(rules, { recursive: true, force: true });
});

test("a metric over its threshold shows a firing alert", async () => {
  await sendStatsd(argus, ["x:5|g"]);
  const page = await newPage(browser);
  await page.goto(argus.url + "/alerts");
  const row = page.locator('tr[data-alert="HighLatency"]');
  // The page is reloaded until the rule has evaluated (every second) after the next flush.
  await expect
    .poll(
      async () => {
        await page.reload();
        return (await row.count()) > 0 ? row.locator(".badge").first().textContent() : null;
      },
      { timeout: 20_000, interval: 1000 },
    )
    .toBe("firing");
  expect(await row.textContent()).toContain("severity=page");
  await screenshot(page, "alerts");
  await page.getByRole("tab", { name: "Rules" }).click();
  await expect.poll(() => page.locator("h2.mono").textContent()).toContain("latency.yml");

  // The services page shows it on the service its labels name.
  await page.goto(argus.url + "/");
  await expect.poll(() => page.locator('tr[data-service="checkout"] .badge.firing').textContent(), { timeout: 10_000 }).toContain("HighLatency");
  await page.close();
});

test("a silence is created and expired", async () => {
  const page = await newPage(browser);
  await page.goto(argus.url + "/alerts?tab=silences");
  await page.getByLabel("Matchers").fill('alertname="HighLatency" service="checkout"');
  await page.getByLabel("For").fill("1h");
  await page.getByLabel("Comment").fill("e2e maintenance");
  await page.getByRole("button", { name: "Create silence" }).click();
  const row = page.getByRole("table", { name: "Silences" }).locator("tbody tr", { hasText: "e2e maintenance" });
  await expect.poll(() => row.locator(".badge").textContent(), { timeout: 10_000 }).toBe("active");
  expect(await row.textContent()).toContain('alertname="HighLatency", service="checkout"');
  await row.getByRole("button", { name: "Expire" }).click();
  await expect.poll(() => row.locator(".badge").textContent(), { timeout: 10_000 }).toBe("expired");
  await page.close();
});
