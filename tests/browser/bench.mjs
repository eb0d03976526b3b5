// The console's notifications page with many notifications stored: from a load of the
// page to its first rows on screen, in Debian's Chromium, as the admin (every
// client's) and as a client key (its own); and the API call the page makes, alone.
// scripts/console-bench fills the database and starts the platform. Prints the numbers.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const { RULE_SERVICE, ADMIN_TOKEN, CLIENT_KEY } = process.env;
const LOADS = Number(process.env.LOADS || 30);

function summary(label, times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  console.log(`${label}: p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms (${times.length} loads)`);
}

async function api(token, path, ok = (page) => page.items && page.items.length > 0) {
  const times = [];
  for (let i = 0; i < LOADS; i++) {
    const started = performance.now();
    const response = await fetch(`${RULE_SERVICE}${path}`, { headers: { Authorization: `Bearer ${token}` } });
    const page = await response.json();
    times.push(performance.now() - started);
    if (!ok(page)) throw new Error(`unexpected: ${JSON.stringify(page).slice(0, 300)}`);
  }
  return times;
}

async function firstScreen(context, token) {
  const page = await context.newPage();
  await page.goto(RULE_SERVICE);
  await page.getByLabel("Admin token or API key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("main tbody tr").first().waitFor();
  const times = [];
  for (let i = 0; i < LOADS; i++) {
    const started = performance.now();
    await page.reload();
    await page.locator("main tbody tr").first().waitFor();
    times.push(performance.now() - started);
  }
  await page.close();
  return times;
}

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "console-bench-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1440, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const total = (await (await fetch(`${RULE_SERVICE}/api/v1/notifications?limit=1`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).json()).total;
  console.log(`${total} notifications stored`);
  summary("API, admin, first page of 50", await api(ADMIN_TOKEN, "/api/v1/notifications?limit=50&offset=0"));
  summary("API, client key, first page of 50", await api(CLIENT_KEY, "/api/v1/notifications?limit=50&offset=0"));
  summary("API, admin, FAILED only", await api(ADMIN_TOKEN, "/api/v1/notifications?limit=50&status=FAILED"));
  summary("API, admin, the overview", await api(ADMIN_TOKEN, "/api/v1/overview", (o) => o.buckets.length === 12));
  summary("page load to first rows, admin", await firstScreen(context, ADMIN_TOKEN));
  summary("page load to first rows, client key", await firstScreen(context, CLIENT_KEY));
} finally {
  await context.close();
}
