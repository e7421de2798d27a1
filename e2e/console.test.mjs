// Browser tests of Vigil's web console.
//
// They build the vigil binary (or use VIGIL_E2E_BIN), start `vigil serve`
// on free ports with a temporary data directory, create an admin, an
// analyst and a viewer through the API, feed an SSH brute force over
// syslog TCP and web events over the HTTP API, and then drive Debian's
// chromium (playwright-core, never a downloaded browser) through the
// analyst's loop: search and filter from the sidebar, open an alert, open an
// incident from it, comment, change its status, run manual response actions
// and export the report. Screenshots of every main page go to
// e2e/screenshots/.
//
// Without node_modules or chromium the tests skip with a message, except
// under CI=true, where they fail: .ci/run installs both.
//
//   cd e2e && npm ci && npm test
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as h from "./harness.mjs";

const bootstrap = "e2e-bootstrap-token-0123456789";
const password = "e2e password 12345";
const attacker = "203.0.113.77";

const { playwright, skip, t } = await h.browserTests();

let dir, vigil, base, api, browser, blockLog;

const newPage = () => h.newPage(browser);
const closePage = h.closePage;
const login = (page, user) => h.login(browser, page, base, user, password);
const shot = h.shot;

async function logout(page) {
  await Promise.all([page.waitForURL(/\/login/), page.getByRole("button", { name: "Sign out" }).click()]);
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "vigil-e2e-console-"));
  // block_ip runs a script that records its arguments.
  blockLog = join(dir, "blocked.txt");
  const script = join(dir, "block.sh");
  writeFileSync(script, `#!/bin/sh\necho "$@" >> '${blockLog}'\n`);
  chmodSync(script, 0o755);
  const cfg = join(dir, "vigil.yml");
  writeFileSync(cfg, `respond:\n  commands:\n    block_ip: ["${script}", "block", "{{.Target}}", "{{.TTLSeconds}}"]\n`);
  vigil = await h.startVigil({ args: ["--config", cfg], bootstrap });
  ({ base, api } = vigil);

  for (const role of ["admin", "analyst", "viewer"]) {
    await api("POST", "/api/v1/users", { username: role, password, role });
  }
  // An SSH brute force that succeeds, over syslog TCP.
  const now = h.rfc3164(new Date());
  const lines = [];
  for (let i = 0; i < 12; i++) {
    lines.push(`<38>${now} web01 sshd[${3000 + i}]: Failed password for root from ${attacker} port ${40000 + i} ssh2`);
  }
  lines.push(`<38>${now} web01 sshd[3100]: Accepted password for root from ${attacker} port 41000 ssh2`);
  lines.push(`<38>${now} web01 sshd[3101]: Invalid user oracle from 198.51.100.23 port 41001`);
  await vigil.syslog(lines);
  // Web requests over the HTTP API.
  const web = [];
  for (const p of ["/index.html", "/.env", "/wp-login.php", "/admin"]) {
    web.push(JSON.stringify({ "@timestamp": new Date().toISOString(), "host.name": "web02", "source.ip": "198.51.100.40",
      "url.path": p, "http.response.status_code": 404, message: `GET ${p} 404` }));
  }
  await api("POST", "/api/v1/ingest", web.join("\n"));
  await h.waitFor("alerts", async () => (await api("GET", "/api/v1/alerts?limit=10")).alerts.length >= 2);

  browser = await h.launchBrowser(playwright, dir, { acceptDownloads: true });
});

after(async () => {
  if (browser) await browser.close();
  if (vigil) await vigil.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mainPages = ["/", "/search", "/alerts", "/incidents", "/rules", "/attack", "/sources", "/settings"];

t("without a session every page redirects to /login", async () => {
  const page = await newPage();
  for (const p of mainPages) {
    await page.goto(base + p);
    assert.match(page.url(), /\/login\?next=/, `GET ${p} ended at ${page.url()}`);
  }
  await shot(page, "login");
  await closePage(page);
});

t("an analyst works an alert into an incident", async () => {
  const page = await newPage();
  await login(page, "analyst");
  await page.getByRole("heading", { name: "Open incidents" }).first().waitFor();
  await shot(page, "overview");

  // Search, then filter from the sidebar.
  await page.goto(base + "/search");
  await page.getByLabel("Query").fill('"Failed password"');
  await page.getByLabel("Time", { exact: true }).selectOption("24h");
  await Promise.all([page.waitForURL(/\/search\?q=/), page.getByRole("button", { name: "Search" }).click()]);
  await page.getByRole("heading", { name: /12 events/ }).waitFor();
  const value = page.locator(".fields").getByRole("link", { name: attacker });
  await value.waitFor();
  await page.locator("svg.chart").waitFor();
  await shot(page, "search");
  await Promise.all([page.waitForURL(/source\.ip/), value.click()]);
  assert.match(decodeURIComponent(page.url()), new RegExp(`source\\.ip:${attacker.replaceAll(".", "\\.")}`));
  await page.getByRole("heading", { name: /12 events/ }).waitFor();
  assert.equal(await page.getByLabel("Query").inputValue(), `"Failed password" AND source.ip:${attacker}`);

  // Open an alert, then an incident from it.
  await page.goto(base + "/alerts?status=any");
  await shot(page, "alerts");
  await Promise.all([page.waitForURL(/\/alerts\/[0-9a-f]+$/), page.getByRole("link", { name: "SSH login attempt for a user that does not exist" }).first().click()]);
  await shot(page, "alert");
  await page.getByLabel("Incident title").fill("E2E: scanner guessing accounts");
  await Promise.all([page.waitForURL(/\/incidents\/[0-9a-f]+/), page.getByRole("button", { name: "Open incident" }).click()]);
  const incURL = page.url().replace(/[?#].*$/, "");
  await page.getByRole("heading", { name: /E2E: scanner guessing accounts/ }).waitFor();

  // Comment.
  await page.getByLabel("Comment", { exact: true }).fill("Looked at it: a scanner, no valid account.");
  await Promise.all([page.waitForURL(/msg=/), page.getByRole("button", { name: "Add comment" }).click()]);
  await page.locator("#comments").getByText("Looked at it: a scanner").waitFor();

  // Change status.
  await page.getByLabel("Status").selectOption("investigating");
  await Promise.all([page.waitForURL(/msg=/), page.getByRole("button", { name: "Save", exact: true }).click()]);
  assert.equal(await page.getByLabel("Status").inputValue(), "investigating");

  // Manual actions: a task, then block_ip through the configured command.
  await page.getByLabel("Action", { exact: true }).selectOption("create_task");
  await page.getByLabel("Text / title").fill("Check the scanner's other targets");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/msg=/), page.getByRole("button", { name: "Run action" }).click()]);
  await page.locator("#tasks").getByText("Check the scanner's other targets").waitFor();
  await page.getByLabel("Action", { exact: true }).selectOption("block_ip");
  await page.getByLabel("Target", { exact: true }).fill("198.51.100.23");
  await page.getByLabel("TTL", { exact: true }).fill("1h");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/msg=/), page.getByRole("button", { name: "Run action" }).click()]);
  await page.locator("#actions").getByRole("cell", { name: "198.51.100.23" }).first().waitFor();
  assert.match(readFileSync(blockLog, "utf8"), /block 198\.51\.100\.23 3600/);
  await shot(page, "incident");

  // Export the report.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Markdown" }).click()]);
  const report = readFileSync(await download.path(), "utf8");
  assert.match(report, /E2E: scanner guessing accounts/);
  assert.match(report, /Looked at it: a scanner/);

  await page.goto(base + "/incidents?status=any");
  await shot(page, "incidents");
  for (const [p, name] of [["/rules", "rules"], ["/attack", "attack"], ["/sources", "sources"], ["/settings", "settings"]]) {
    await page.goto(base + p);
    await shot(page, name);
  }
  await page.goto(base + "/rules?q=ssh");
  await Promise.all([page.waitForURL(/\/rules\/view/), page.getByRole("link", { name: "SSH authentication failure" }).click()]);
  await page.getByLabel(/Events: a JSON array/).fill(`<38>${h.rfc3164(new Date())} web01 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2`);
  await page.getByRole("button", { name: "Test", exact: true }).click();
  await page.getByText("1 of 1 events match.").waitFor();
  await shot(page, "rule");
  assert.ok(incURL);

  // Live tail: a new event shows up without reloading the page.
  await page.goto(base + "/search?q=" + encodeURIComponent("tail-marker") + "&range=1h&tail=1");
  await page.getByText("No events.").waitFor();
  await api("POST", "/api/v1/ingest", JSON.stringify({ "@timestamp": new Date().toISOString(), message: "tail-marker arrived", "host.name": "web03" }));
  await page.locator("#rows summary", { hasText: "tail-marker arrived" }).waitFor({ timeout: 20000 });
  await logout(page);
  await closePage(page);
});

t("a POST without a valid CSRF token is refused", async () => {
  const page = await newPage();
  await login(page, "analyst");
  const alerts = (await api("GET", "/api/v1/alerts?limit=1")).alerts;
  for (const form of [{ op: "close", id: alerts[0].id }, { op: "close", id: alerts[0].id, csrf_token: "forged" }]) {
    const res = await page.request.post(base + "/alerts/bulk", { form, maxRedirects: 0 });
    assert.equal(res.status(), 403, `POST with ${JSON.stringify(form)}`);
  }
  const after = await api("GET", `/api/v1/alerts/${alerts[0].id}`);
  assert.equal(after.status, alerts[0].status, "a refused POST changed the alert");
  await logout(page);
  await closePage(page);
});

t("a viewer sees no state-changing control and a forced POST is refused", async () => {
  const page = await newPage();
  await login(page, "viewer");
  const inc = (await api("GET", "/api/v1/incidents?status=&limit=1")).incidents[0];
  const pagesToCheck = [...mainPages, `/incidents/${inc.id}`];
  for (const p of pagesToCheck) {
    await page.goto(base + p);
    const actions = await page.locator("form[method=post]").evaluateAll((fs) => fs.map((f) => f.getAttribute("action")));
    // Everyone signs out, tests rules, changes their own password and
    // signs out their own sessions.
    const changing = actions.filter((a) => a !== "/logout" && a !== "/rules/test" && a !== "/settings/password" &&
      !a.startsWith("/settings/sessions/"));
    assert.deepEqual(changing, [], `viewer sees state-changing forms on ${p}`);
  }
  await page.goto(base + `/incidents/${inc.id}`);
  await shot(page, "incident-viewer");
  const token = await page.locator("form[action='/logout'] input[name=csrf_token]").inputValue();
  const res = await page.request.post(base + `/incidents/${inc.id}/update`, { form: { status: "resolved", csrf_token: token }, maxRedirects: 0 });
  assert.equal(res.status(), 403);
  assert.equal((await api("GET", `/api/v1/incidents/${inc.id}`)).status, inc.status);
  await logout(page);
  await closePage(page);
});

t("an admin's settings, and the dark theme", async () => {
  const page = await newPage();
  await login(page, "admin");
  await page.goto(base + "/settings");
  await page.getByRole("heading", { name: "Users" }).waitFor();
  const tokens = page.getByRole("region", { name: "API tokens" });
  await tokens.getByLabel("Name").fill("e2e-shipper");
  await tokens.getByLabel("Role").selectOption("ingest");
  await tokens.getByRole("button", { name: "Create token" }).click();
  assert.match(await page.locator("#new-token").innerText(), /^vgl_/);
  await shot(page, "settings-admin");
  // The toggle switches the theme and the browser remembers it.
  await page.goto(base + "/");
  const before = await page.evaluate(() => document.documentElement.getAttribute("data-theme"));
  assert.equal(before, null);
  await page.getByRole("button", { name: "Toggle dark theme" }).click();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute("data-theme")), "dark");
  await page.reload();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute("data-theme")), "dark");
  await shot(page, "overview-dark");
  await page.goto(base + "/search?q=&range=24h");
  await page.locator("svg.chart").waitFor();
  await shot(page, "search-dark");
  await page.evaluate(() => localStorage.removeItem("vigil-theme"));
  await logout(page);
  await closePage(page);
});
