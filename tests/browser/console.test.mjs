// The web console in a real headless Chromium (Debian's), driven by playwright-core,
// against a running `alerting up` (scripts/console-tests starts it, with a webhook
// sink, and passes their addresses): the journeys an operator and a tenant take, an
// alert whose context holds markup shown inert, and axe-core's check of each page.
//
// Environment: RULE_SERVICE, ALERT_PRODUCER (http://host:port), ADMIN_TOKEN, SINK (a
// webhook URL answering 2xx), CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a
// folder: where the screenshots go; none taken when unset).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const { RULE_SERVICE, ALERT_PRODUCER, ADMIN_TOKEN, SINK, SCREENSHOTS } = process.env;
// Far beyond a healthy wait: a new rule reaches the matcher within a second or two.
const PATIENCE_MS = 60_000;
const run = Math.random().toString(36).slice(2, 8);
const ACME = `acme-${run}`;
const BETA = `beta-${run}`;
const XSS = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 1\">";

let context;
let page;
let rulePage;
let closedPort;

async function api(method, path, body, token = ADMIN_TOKEN, base = RULE_SERVICE) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A catch-all rule of client `id` to the sink, and its keys: one to post, one to manage. */
async function tenant(id) {
  const rule = await api("POST", "/api/v1/rules", { client_id: id, severity: "*", source: "*", name: "*" });
  await api("POST", `/api/v1/rules/${rule.rule_id}/endpoints`, { type: "webhook", value: `${SINK}/hooks/${id}` });
  const key = async (scopes) => (await api("POST", `/api/v1/clients/${id}/keys`, { scopes })).key;
  return { ingest: await key(["ingest"]), manage: await key(["manage"]) };
}

/** Posts alerts with `key` until one of `client`'s notifications exists (a new rule
 * takes a moment to reach the matcher); its id. */
async function notified(client, key, alert) {
  const deadline = Date.now() + PATIENCE_MS;
  while (Date.now() < deadline) {
    const alertId = `${alert.name}-${Math.random().toString(36).slice(2)}`;
    await api("POST", "/api/v1/alerts", [{ ...alert, alert_id: alertId }], key, ALERT_PRODUCER);
    for (let i = 0; i < 20; i++) {
      const page = await api("GET", `/api/v1/notifications?client_id=${client}&alert_id=${alertId}`);
      if (page.items.length) return page.items[0].notification_id;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`no notification for ${client}`);
}

/** What `check` returns once it is truthy (checked every 100 ms). */
async function until(check) {
  const deadline = Date.now() + PATIENCE_MS;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not within ${PATIENCE_MS} ms: ${check}`);
}

async function signIn(token) {
  await page.goto(RULE_SERVICE);
  await page.getByLabel("Admin token or API key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** No serious or critical accessibility violation on the page as it is. */
async function accessible(name) {
  await page.evaluate(AXE); // Through the debugger protocol: the page's CSP allows no inline script.
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`),
    [],
    `accessibility of ${name}`,
  );
}

async function screenshot(name) {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `console-${name}.png`), fullPage: false });
}

before(async () => {
  // A port nobody listens on: an endpoint there fails at once.
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  closedPort = server.address().port;
  await new Promise((resolve) => server.close(resolve));

  // A fresh profile each run (playwright-core passes it as --user-data-dir).
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "console-chromium-")), {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on("dialog", (dialog) => dialog.dismiss());
});

after(async () => {
  await context?.close();
});

test("the console is served with a strict policy and the security headers", async () => {
  const response = await fetch(RULE_SERVICE);
  assert.equal(response.status, 200);
  const policy = response.headers.get("content-security-policy");
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  const html = await response.text();
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, "no inline script");
  assert.doesNotMatch(html, /\son[a-z]+=/i, "no inline event handler");
});

test("the admin signs in and sets up a client, a rule and its endpoints", async () => {
  await signIn("alerting_key_0000000000000000000000000000000000000000000000000000000000000000");
  await page.getByText("That token is not known").waitFor();
  await accessible("sign-in");
  await screenshot("sign-in");
  await signIn(ADMIN_TOKEN);
  await page.getByText("Signed in as admin").waitFor();
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in persistent storage");
  assert.doesNotMatch(page.url(), new RegExp(ADMIN_TOKEN), "the token is in no URL");

  await page.getByRole("link", { name: "Clients" }).click();
  for (const id of [ACME, BETA]) {
    await page.getByLabel("Client id").fill(id);
    await page.getByRole("button", { name: "Create client" }).click();
    await page.getByRole("link", { name: id, exact: true }).waitFor();
  }
  await accessible("clients");

  await page.getByRole("link", { name: "Rules" }).click();
  await page.getByRole("form", { name: "New rule" }).getByLabel("Client").fill(ACME);
  await page.getByRole("button", { name: "Create rule" }).click();
  await page.getByRole("heading", { name: `Rule of ${ACME}` }).waitFor();
  rulePage = page.url();
  for (const target of [`${SINK}/hooks/${ACME}`, `http://127.0.0.1:${closedPort}/down`]) {
    await page.getByLabel("URL or address").fill(target);
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("cell", { name: target, exact: true }).waitFor();
  }
  // A test delivery to each: what the receiver answered, shown.
  await page.getByRole("button", { name: `Send test to ${SINK}/hooks/${ACME}` }).click();
  await page.getByText(/: delivered \(HTTP 200\) in \d+ ms/).waitFor();
  await page.getByRole("button", { name: `Send test to http://127.0.0.1:${closedPort}/down` }).click();
  await page.getByText(/: not delivered: .*connection/).waitFor();
  // An endpoint's own page: its address changed.
  await page.getByRole("link", { name: `http://127.0.0.1:${closedPort}/down` }).click();
  // The rule page has a field of the same name: the endpoint's page first.
  await page.getByRole("heading", { name: "Endpoint", exact: true }).waitFor();
  await page.getByLabel("URL or address").fill(`http://127.0.0.1:${closedPort}/still-down`);
  await accessible("endpoint");
  await page.getByRole("button", { name: "Save endpoint" }).click();
  await page.getByRole("cell", { name: `http://127.0.0.1:${closedPort}/still-down`, exact: true }).waitFor();
  await accessible("rule");
  await screenshot("rule");

  // The list, filtered by client on the server.
  await page.goto(`${RULE_SERVICE}/#/rules?client_id=${BETA}`);
  await page.getByText("No rule here matches").waitFor();
  await page.getByLabel("Only client").fill(ACME);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("cell", { name: ACME, exact: true }).first().waitFor();
  await page.goto(rulePage);
  await page.getByRole("heading", { name: `Rule of ${ACME}` }).waitFor();

  // Changed elsewhere since this page was read: saving says so, and changes nothing.
  const ruleId = rulePage.split("/").pop();
  const current = await api("GET", `/api/v1/rules/${ruleId}`);
  await api("PATCH", `/api/v1/rules/${ruleId}`, { version: current.version, enabled: true });
  await page.getByLabel("Name").fill("payment-failed");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText(/Conflict: .* is at version 2, not 1/).waitFor();
  assert.equal((await api("GET", `/api/v1/rules/${ruleId}`)).name, "*");
});

test("a notification appears without reloading, its markup inert; retry, acknowledge, resolve, silence", async () => {
  const ingest = (await api("POST", `/api/v1/clients/${ACME}/keys`, { scopes: ["ingest"] })).key;
  await page.getByRole("link", { name: "Notifications" }).click();
  await page.getByRole("heading", { name: "Notifications" }).waitFor();
  await page.evaluate(() => {
    window.__stayed = true;
  });
  const id = await notified(ACME, ingest, {
    severity: "CRITICAL",
    source: "checkout",
    name: "payment-failed",
    context: { order: "A-1001", note: XSS },
  });
  // Live: the row arrives by itself, the page never reloaded.
  await page.getByRole("link", { name: "payment-failed" }).first().waitFor({ timeout: PATIENCE_MS });
  assert.equal(await page.evaluate(() => window.__stayed), true, "the page was not reloaded");
  await accessible("notifications");
  await screenshot("notifications");
  await page.goto(`${RULE_SERVICE}/#/notifications?within=1h&status=SENT`);
  await page.getByLabel("Made").filter({ hasText: "in the last hour" }).waitFor();

  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("img", { name: /notifications in the last hour/ }).waitFor();
  await page.getByRole("link", { name: /open now/ }).waitFor();
  // The pipeline's own counters (embedded: this process is the platform).
  const alertsIn = Number(await page.locator(".card", { hasText: "alerts in" }).locator(".figure").textContent());
  assert.ok(alertsIn >= 1, `alerts in: ${alertsIn}`);
  await page.getByText(/Waiting for each consumer now: .*evaluator \d+/).waitFor();
  await accessible("overview");

  // One endpoint took it, the other is down: PARTIAL, once both have settled.
  const settled = await until(async () => {
    const n = await api("GET", `/api/v1/notifications/${id}`);
    return n.status === "PARTIAL" ? n : null;
  });
  const failed = settled.deliveries.find((d) => d.status === "FAILED");
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("link", { name: /^1\s*partly failed/ }).waitFor({ timeout: 15_000 });
  await screenshot("overview");
  await page.goto(`${RULE_SERVICE}/#/notifications/${id}`);
  await page.getByRole("heading", { name: "payment-failed" }).waitFor();
  await page.getByRole("cell", { name: "DELIVERED", exact: true }).waitFor();
  await page.getByRole("cell", { name: "FAILED", exact: true }).waitFor();
  // The markup is text on the page, and nothing of it ran.
  await page.getByText(XSS, { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "the alert's markup ran");
  assert.equal(await page.locator("main img").count(), 0, "no image element from the alert");
  await accessible("notification");
  await screenshot("notification");

  await page.getByRole("button", { name: "Retry failed deliveries" }).click();
  await until(async () => {
    const n = await api("GET", `/api/v1/notifications/${id}`);
    const again = n.deliveries.find((d) => d.delivery_id === failed.delivery_id);
    return again && again.attempts > failed.attempts;
  });
  await page.getByRole("button", { name: "Acknowledge" }).click();
  await page.getByRole("definition").filter({ hasText: "by admin" }).first().waitFor();
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.getByRole("definition").filter({ hasText: "resolved" }).first().waitFor();
  const stored = await api("GET", `/api/v1/notifications/${id}`);
  assert.equal(stored.state, "resolved");
  assert.equal(stored.acknowledged_by, "admin");

  await page.getByRole("link", { name: "Silence alerts like this" }).click();
  assert.equal(await page.getByLabel("Name (or *)").inputValue(), "payment-failed");
  assert.equal(await page.getByLabel("Client").inputValue(), ACME);
  await page.getByLabel(/^Why/).fill("deploying the fix");
  await accessible("new silence");
  await page.getByRole("button", { name: "Silence", exact: true }).click();
  await page.getByRole("cell", { name: "deploying the fix", exact: true }).waitFor();
  const silenced = await api("GET", `/api/v1/silences?client_id=${ACME}`);
  assert.equal(silenced.items[0].matchers.name, "payment-failed");
  await accessible("silences");
  await page.getByRole("button", { name: /^Expire the silence of/ }).click();
  await until(async () => (await api("GET", `/api/v1/silences/${silenced.items[0].silence_id}`)).state === "expired");

  // A weekly maintenance window, Sundays 02:00 for 2 h in Berlin.
  await page.getByRole("link", { name: "New silence" }).click();
  await page.getByLabel("Client").fill(ACME);
  await page.getByLabel("A weekly maintenance window").check();
  await page.getByLabel("sun").check();
  await page.getByLabel("Time zone (IANA)").fill("Europe/Berlin");
  await page.getByLabel(/^Why/).fill("weekly patching");
  await page.getByRole("button", { name: "Silence", exact: true }).click();
  await page.getByRole("cell", { name: "weekly, sun 02:00 for 2h" }).waitFor();
});

test("a key made in the console sees only its client; a key without manage is told what it cannot do; sign out", async () => {
  const beta = await tenant(BETA);
  await notified(BETA, beta.ingest, { severity: "LOW", source: "billing", name: "beta-only" });

  await page.goto(`${RULE_SERVICE}/#/clients/${ACME}`);
  await page.getByLabel("Key name").fill("on-call");
  await page.getByRole("button", { name: "Make key" }).click();
  const key = await page.locator("#new-key").textContent();
  assert.match(key, /^alerting_key_/);
  await accessible("client");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "the token is forgotten");

  await signIn(key);
  await page.getByText(`Signed in as client ${ACME}`).waitFor();
  await page.getByRole("link", { name: "payment-failed" }).first().waitFor();
  assert.equal(await page.getByRole("link", { name: "beta-only" }).count(), 0, "another client's notification");
  assert.equal(await page.getByRole("link", { name: "Clients" }).isVisible(), false);
  await page.setViewportSize({ width: 375, height: 800 });
  await screenshot("notifications-375");
  await accessible("notifications at 375 px");
  await page.getByRole("link", { name: "Rules" }).click();
  await page.getByRole("heading", { name: "Rules" }).waitFor();
  await accessible("rules at 375 px");
  await page.setViewportSize({ width: 1440, height: 900 });

  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(beta.ingest);
  await page.getByText("no `manage` scope").waitFor();
});
