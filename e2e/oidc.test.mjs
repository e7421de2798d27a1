// Browser test of single sign-on: a real OpenID provider (the example
// provider of github.com/zitadel/oidc/v3, test/oidcprovider, built from the
// Go module cache) and `vigil serve` configured to sign in through it, with
// the provider's groups claim mapped to Vigil's roles. Chromium clicks
// "Sign in with Zitadel example", logs in on the provider's own page and
// lands on the console as an analyst; a user whose group maps to no role
// is refused with a page that says so.
//
//   cd e2e && node --test oidc.test.mjs
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { browserTests, freePort, waitFor, launchBrowser, newPage, closePage, shot, repo } from "./harness.mjs";

const { playwright, skip, t } = await browserTests();
const bootstrap = "e2e-bootstrap-token-0123456789";
const clientSecret = "e2e-oidc-browser-secret-0123";
const userPassword = "verysecure"; // the zitadel example's test users

let tmp, vigil, provider, base, browser, vigilLog = "";

// startProvider runs test/oidcprovider and resolves with its issuer, which
// it prints once it serves (a wait for a real process, bounded).
function startProvider(bin, redirect) {
  provider = spawn(bin, ["-addr", "127.0.0.1:0", "-redirect", redirect, "-client", "vigil", "-secret", clientSecret,
    "-groups", "id1=vigil-analysts;id2=contractors"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  provider.stderr.on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("oidcprovider did not start within 30s: " + stderr)), 30000);
    createInterface({ input: provider.stdout }).once("line", (line) => {
      clearTimeout(timer);
      if (!line.startsWith("issuer ")) reject(new Error(`oidcprovider said ${line}`));
      resolve(line.slice("issuer ".length));
    });
    provider.once("exit", (code) => reject(new Error(`oidcprovider exited ${code}: ${stderr}`)));
  });
}

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), "vigil-e2e-oidc-"));
  let bin = process.env.VIGIL_E2E_BIN;
  if (!bin) {
    bin = join(tmp, "vigil");
    execFileSync("go", ["build", "-o", bin, "./cmd/vigil"], { cwd: repo, stdio: "inherit" });
  }
  const providerBin = join(tmp, "oidcprovider");
  execFileSync("go", ["build", "-o", providerBin, "./test/oidcprovider"], { cwd: repo, stdio: "inherit" });

  // Vigil's address comes first: the provider must know its callback, and
  // Vigil the provider's issuer.
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  const issuer = await startProvider(providerBin, base + "/auth/oidc/callback");
  const cfg = join(tmp, "vigil.yml");
  writeFileSync(cfg, `egress:
  allow: [127.0.0.1/32]
oidc:
  issuer: ${issuer}
  client_id: vigil
  client_secret: ${clientSecret}
  redirect_url: ${base}/auth/oidc/callback
  name: Zitadel example
  role_claim: groups
  role_map:
    vigil-analysts: analyst
    vigil-admins: admin
`);
  vigil = spawn(bin, ["serve", "--data", join(tmp, "data"), "--http", `127.0.0.1:${httpPort}`, "--syslog-udp", "",
    "--syslog-tcp", "", "--bootstrap-token", bootstrap, "--config", cfg], { stdio: ["ignore", "ignore", "pipe"] });
  vigil.stderr.on("data", (d) => { vigilLog += d; });
  vigil.on("exit", (code) => { if (code) console.error(`vigil serve exited ${code}:\n${vigilLog.slice(-8000)}`); });
  await waitFor("vigil to be ready", async () => (await fetch(base + "/readyz")).ok, 60000);
  browser = await launchBrowser(playwright, tmp);
});

after(async () => {
  if (browser) await browser.close();
  for (const p of [vigil, provider]) {
    if (!p || p.exitCode !== null) continue;
    p.kill("SIGTERM");
    // A real process shutting down: wait for its exit (or give up).
    await new Promise((r) => { p.once("exit", r); setTimeout(r, 20000); });
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// signInAtProvider clicks "Sign in with" on Vigil's login page and logs in
// on the provider's page; it resolves once the browser is back at Vigil.
async function signInAtProvider(page, user) {
  await page.getByRole("link", { name: "Sign in with Zitadel example" }).click();
  await page.waitForURL(/\/login\/username\?authRequestID=/);
  await page.getByLabel("Username:").fill(user);
  await page.getByLabel("Password:").fill(userPassword);
  await Promise.all([page.waitForURL((u) => u.origin === base), page.getByRole("button", { name: "Login" }).click()]);
}

async function api(path) {
  const res = await fetch(base + path, { headers: { Authorization: `Bearer ${bootstrap}` } });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

t("OIDC sign-in through the provider lands on the console with the role its groups claim maps to", async () => {
  await browser.clearCookies();
  const page = await newPage(browser);
  await page.goto(base + "/settings");
  await page.waitForURL(/\/login\?next=/);
  await signInAtProvider(page, "test-user@127.0.0.1");
  await page.waitForURL(base + "/settings");
  const who = page.locator(".who .user");
  assert.match(await who.innerText(), /test-user@127\.0\.0\.1\s+analyst/i);
  // An analyst may triage (suppressions), not administer (users, playbooks).
  assert.equal(await page.getByRole("heading", { name: "Add a suppression" }).count(), 1, "the analyst's Add a suppression");
  assert.equal(await page.getByRole("button", { name: "Reload playbooks" }).count(), 0, "no admin-only Reload playbooks");
  assert.equal(await page.getByRole("heading", { name: "Add a user" }).count(), 0, "no admin-only Add a user");
  await shot(page, "oidc-analyst-settings");

  const { users } = await api("/api/v1/users");
  const u = users.find((x) => x.username === "test-user@127.0.0.1");
  assert.ok(u && u.role === "analyst" && u.sso.startsWith("http://127.0.0.1:"), `users: ${JSON.stringify(users)}`);
  const { entries } = await api("/api/v1/audit?action=console.login");
  assert.equal(entries.length, 1);
  assert.equal(entries[0].actor, "test-user@127.0.0.1");
  assert.equal(entries[0].after.method, "oidc");
  await closePage(page);
});

t("a user whose groups map to no role is refused with a page that says so", async () => {
  await browser.clearCookies();
  const page = await newPage(browser);
  await page.goto(base + "/login");
  await signInAtProvider(page, "test-user2");
  const alert = page.getByRole("alert");
  assert.match(await alert.innerText(),
    /Single sign-on refused: test-user2 has no role in Vigil: none of the values of the groups claim \(contractors\) is mapped to a role/);
  await shot(page, "oidc-refused");
  await page.goto(base + "/settings");
  await page.waitForURL(/\/login\?next=/);
  const { entries } = await api("/api/v1/audit?action=console.login_refused");
  assert.equal(entries.length, 1);
  assert.equal(entries[0].actor, "test-user2");
  assert.equal(entries[0].after.reason, "no role");
  assert.ok(!vigilLog.includes(clientSecret) && !vigilLog.includes("eyJ"), "no secret or token in the server log");
  await closePage(page);
});
