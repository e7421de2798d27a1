// Browser test of the first run (issue 11): `vigil serve` on a fresh data
// directory without a bootstrap token prints a one-time setup code in its
// startup log; chromium follows the login page's link to /setup, is
// refused with a wrong code, completes the setup with the printed code and
// lands signed in as the admin; /setup is then gone.
//
//   cd e2e && node --test firstrun.test.mjs
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { browserTests, freePort, waitFor, launchBrowser, newPage, closePage, shot, repo, shots } from "./harness.mjs";

const { playwright, skip, t } = await browserTests();

const password = "the first admin's passphrase";
// The startup log's first-run line (text format: msg="...").
const firstRun = /first run: no admin account yet; open (\S+) and enter the code ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7}) \(or run: vigil user add NAME --role admin --data /;

let tmp, proc, base, browser;
let log = "";

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), "vigil-e2e-firstrun-"));
  mkdirSync(shots, { recursive: true });
  let bin = process.env.VIGIL_E2E_BIN;
  if (!bin) {
    bin = join(tmp, "vigil");
    execFileSync("go", ["build", "-o", bin, "./cmd/vigil"], { cwd: repo, stdio: "inherit" });
  }
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // No --bootstrap-token: nothing but the setup code gets in.
  proc = spawn(bin, ["serve", "--data", join(tmp, "data"), "--http", `127.0.0.1:${port}`, "--syslog-udp", "", "--syslog-tcp", ""],
    { stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr.on("data", (d) => { if (log.length < 1 << 20) log += d; });
  proc.on("exit", (code) => { if (code) console.error(`vigil serve exited ${code}:\n${log.slice(-8000)}`); });
  await waitFor("vigil to be ready", async () => (await fetch(base + "/readyz")).ok, 60000);
  browser = await launchBrowser(playwright, tmp);
});

after(async () => {
  if (browser) await browser.close();
  if (proc) {
    // A real process shutting down: wait for its exit (or give up after
    // 20 s), without the timer holding the test runner up once it exits.
    if (proc.exitCode === null && proc.signalCode === null) {
      await new Promise((r) => {
        const timer = setTimeout(r, 20000);
        proc.once("exit", () => { clearTimeout(timer); r(); });
        proc.kill("SIGTERM");
      });
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function fillSetup(page, code, user) {
  await page.getByLabel("Setup code").fill(code);
  await page.getByLabel("Admin user name").fill(user);
  await page.getByLabel("Password (12+ characters)").fill(password);
  await page.getByLabel("Password again").fill(password);
}

t("the printed code sets up the first admin, once", async () => {
  // The line is logged before the server is ready; the pipe may lag.
  const m = await waitFor("the first-run line in the startup log", async () => log.match(firstRun), 10000);
  const [, setupURL, code] = m;
  assert.equal(setupURL, base + "/setup");
  assert.match(log, /no admin account and no bootstrap token/);
  assert.equal((await fetch(base + "/api/v1/status")).status, 401, "the API has no token");

  const page = await newPage(browser);
  await page.goto(base + "/");
  await page.waitForURL(/\/login/);
  await Promise.all([page.waitForURL(base + "/setup"), page.getByRole("link", { name: "Set up Vigil" }).click()]);
  await shot(page, "setup");

  // A wrong code is refused, and the form is shown again with the reason.
  await fillSetup(page, "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567", "root");
  await page.getByRole("button", { name: "Create admin and sign in" }).click();
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").innerText(), /Wrong setup code/);
  assert.equal(new URL(page.url()).pathname, "/setup");

  // The printed code: the admin is created and signed in.
  await fillSetup(page, code, "root");
  await Promise.all([page.waitForURL(base + "/"), page.getByRole("button", { name: "Create admin and sign in" }).click()]);
  const who = await page.locator(".who .user").textContent();
  assert.match(who, /root/);
  assert.match(who, /admin/);
  await page.goto(base + "/settings");
  assert.match(await page.locator("#account").innerText(), /Signed in as root \(admin\)/);
  assert.match(await page.locator("#sessions").innerText(), /this session/);
  await shot(page, "setup-done-settings");

  // Then /setup is gone, the code with it, and the login page says nothing of it.
  assert.equal((await page.request.get(base + "/setup")).status(), 404);
  const form = new URLSearchParams({ code, username: "mallory", password, password2: password });
  assert.equal((await page.request.post(base + "/setup", { data: form.toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" } })).status(), 404);
  await browser.clearCookies();
  await page.goto(base + "/login");
  assert.equal(await page.getByRole("link", { name: "Set up Vigil" }).count(), 0);
  await closePage(page);
});
