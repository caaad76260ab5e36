// The API reference in a real browser: Debian's headless Chromium, driven by
// playwright-core, opens /docs on the app that tests/browser/run started
// (TROUPE_URL), waits for Swagger UI to render the OpenAPI document, and
// checks that every operation is listed, that the page logged no error and
// that it loaded nothing from another host. Saves tests/output/docs.png.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const baseUrl = process.env.TROUPE_URL;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const screenshot = join(repoRoot, "tests", "output", "docs.png");

// The machine has no network but the loopback: without these flags Chromium
// keeps trying to reach Google's services and misbehaves.
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Every `METHOD /path` of the document's `paths`, sorted. */
function operationsOf(spec) {
  return Object.entries(spec.paths ?? {})
    .flatMap(([path, item]) =>
      METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
    )
    .sort();
}

test("the API reference lists every operation, offline and without errors", { timeout: 120_000 }, async () => {
  assert.ok(baseUrl, "TROUPE_URL names the running app (tests/browser/run sets it)");
  const origin = new URL(baseUrl).origin;
  const spec = await (await fetch(`${baseUrl}/docs/openapi.json`)).json();
  const expected = operationsOf(spec);
  assert.ok(expected.length > 0, "the document has operations");

  const profile = mkdtempSync(join(tmpdir(), "troupe-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
  });
  try {
    const problems = [];
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
    page.on("requestfailed", (request) =>
      problems.push(`failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`),
    );
    page.on("response", (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    // Refuse, and report, anything that would leave this origin.
    await context.route(
      (url) => /^(https?|wss?):$/.test(url.protocol) && url.origin !== origin,
      (route) => {
        problems.push(`external: ${route.request().method()} ${route.request().url()}`);
        return route.abort("blockedbyclient");
      },
    );

    const response = await page.goto(`${baseUrl}/docs`, { waitUntil: "load" });
    assert.equal(response?.status(), 200);
    await page.locator(".opblock").first().waitFor({ timeout: 60_000 });
    await page.waitForFunction(
      (count) => document.querySelectorAll(".opblock").length >= count,
      expected.length,
      { timeout: 30_000 },
    );
    await page.waitForLoadState("networkidle");

    const listed = await page.$$eval(".opblock", (blocks) =>
      blocks.map((block) => {
        const method = block.querySelector(".opblock-summary-method")?.textContent?.trim();
        const path = block.querySelector(".opblock-summary-path")?.getAttribute("data-path");
        return `${method} ${path}`;
      }),
    );
    const missing = expected.filter((operation) => !listed.includes(operation));
    assert.deepEqual(missing, [], `operations missing from the page (listed: ${listed.join(", ")})`);

    const title = await page.locator(".info .title").innerText();
    assert.ok(title.includes(spec.info.title), `the page shows the title: ${title}`);

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`${listed.length} operations listed (${expected.length} in the document); screenshot: ${screenshot}`);

    assert.deepEqual(problems, [], "no console error, failed request or other host");
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
