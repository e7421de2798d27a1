// Browser test: every action on an incident page shows its message.
//
// The console answers a form post with a redirect back to the page, the
// message in the query. It used to put the message after the page's
// #fragment, where the browser keeps it out of the request: every success
// and error message after an incident action disappeared (issue 11). This
// test performs each action in chromium and looks for its message.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { browserTests, startVigil, launchBrowser, newPage, closePage, login, shot } from "./harness.mjs";

const { playwright, skip, t } = await browserTests();
const password = "e2e password 12345";
let vigil, browser, incident;

before(async () => {
  if (skip) return;
  vigil = await startVigil();
  await vigil.api("POST", "/api/v1/users", { username: "analyst", password, role: "analyst" });
  incident = await vigil.api("POST", "/api/v1/incidents", { title: "Messages test", severity: "medium" });
  browser = await launchBrowser(playwright, vigil.tmp);
});

after(async () => {
  if (browser) await browser.close();
  if (vigil) await vigil.stop();
});

// flash returns the page's message as "ok: text" or "err: text".
async function flash(page) {
  const loc = page.locator("p.flash");
  await loc.first().waitFor({ timeout: 10000 });
  const cls = await loc.first().getAttribute("class");
  return (cls.includes("err") ? "err: " : "ok: ") + (await loc.first().textContent()).trim();
}

t("each incident action shows its message", async () => {
  const page = await newPage(browser);
  await login(browser, page, vigil.base, "analyst", password);
  const url = `${vigil.base}/incidents/${incident.id}`;
  await page.goto(url);
  // "Run action" asks for confirmation.
  page.on("dialog", (d) => d.accept());

  const submit = async (button) => {
    await Promise.all([page.waitForURL((u) => u.search.includes("msg=") || u.search.includes("err=")), button.click()]);
  };

  // State.
  await page.locator("#s-status").selectOption("investigating");
  await submit(page.locator("#s-status").locator("xpath=ancestor::form").getByRole("button", { name: "Save" }));
  assert.equal(await flash(page), "ok: Incident updated.");
  assert.ok(new URL(page.url()).search.includes("msg="), "the message is in the query, before any fragment");

  // Comment.
  await page.locator("#c-text").fill("looked at the source address");
  await submit(page.getByRole("button", { name: "Add comment" }));
  assert.equal(await flash(page), "ok: Comment added.");
  assert.equal(new URL(page.url()).hash, "#comments", "the page returns to its section");

  // Task, then its checkbox.
  await page.locator("#t-title").fill("reset the deploy key");
  await submit(page.getByRole("button", { name: "Add task" }));
  assert.equal(await flash(page), "ok: Task added.");
  await submit(page.getByRole("button", { name: "Mark reset the deploy key done" }));
  assert.equal(await flash(page), "ok: Task updated.");

  // Flagging a value the incident has not seen: its error is shown.
  await page.locator("#o-kind").fill("source.ip");
  await page.locator("#o-value").fill("203.0.113.9");
  await submit(page.getByRole("button", { name: "Flag" }));
  assert.match(await flash(page), /^err: observable source\.ip "203\.0\.113\.9" of incident "[0-9a-f]+": not found$/);

  // A manual action that succeeds, and one that is refused.
  await page.locator("#m-action").selectOption("comment");
  await page.locator("#m-text").fill("manual note");
  await submit(page.getByRole("button", { name: "Run action" }));
  assert.match(await flash(page), /^ok: Action comment: ok/);

  await page.locator("#m-action").selectOption("block_ip");
  await page.locator("#m-target").fill("203.0.113.9");
  await page.locator("#m-ttl").fill("not-a-duration");
  await submit(page.getByRole("button", { name: "Run action" }));
  assert.match(await flash(page), /^err: ttl: /);

  // A playbook.
  await submit(page.getByRole("button", { name: "Run playbook" }));
  assert.match(await flash(page), /^ok: Playbook .+ started\.$/);

  await shot(page, "incident-messages");
  await closePage(page);
});
