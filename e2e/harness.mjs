// Shared helpers of Vigil's browser tests: build and start `vigil serve`
// on free ports with a temporary data directory, call its API, send syslog
// over TCP, and drive Debian's chromium with playwright-core (never a
// downloaded browser). Each *.test.mjs file starts its own server and
// browser; scripts/test runs the files one at a time.
//
// Without playwright-core or chromium a file's tests skip with a message,
// except under CI=true, where they fail (.ci/run installs both).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer, createConnection } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "..");
export const shots = join(here, "screenshots");
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

// browserTests returns playwright (or null) and a test function that
// skips every test, with the reason, when the browser cannot run; under
// CI=true it fails instead.
export async function browserTests() {
  let skip = "";
  let playwright = null;
  try {
    playwright = await import("playwright-core");
  } catch {
    skip = "playwright-core is not installed (run npm ci in e2e/)";
  }
  if (!skip && !existsSync(chromiumPath)) skip = `no chromium at ${chromiumPath} (apt-get install chromium)`;
  if (skip && process.env.CI === "true") {
    test("browser tests can run", () => assert.fail(`CI=true but ${skip}`));
  }
  const t = skip ? (name, fn) => test(name, { skip }, fn) : test;
  return { playwright, skip, t };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// waitFor polls fn until it returns a truthy value. It waits for a real
// server (ingest, detection, alerting happen in its own goroutines), so
// polling is the only way to see them done.
export async function waitFor(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}

export function rfc3164(date) {
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][date.getUTCMonth()];
  const pad = (n) => String(n).padStart(2, "0");
  return `${mon} ${String(date.getUTCDate()).padStart(2, " ")} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
}

// startVigil builds vigil (or uses VIGIL_E2E_BIN) and starts `vigil
// serve` with a bootstrap admin token, the HTTP API and syslog over TCP
// on free ports, plus args. It returns the server: base URL, syslog
// port, api(method, path, body, token), syslog(lines), stop().
export async function startVigil({ args = [], bootstrap = "e2e-bootstrap-token-0123456789" } = {}) {
  const tmp = mkdtempSync(join(tmpdir(), "vigil-e2e-"));
  mkdirSync(shots, { recursive: true });
  let bin = process.env.VIGIL_E2E_BIN;
  if (!bin) {
    bin = join(tmp, "vigil");
    execFileSync("go", ["build", "-o", bin, "./cmd/vigil"], { cwd: repo, stdio: "inherit" });
  }
  const httpPort = await freePort();
  const syslogPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const proc = spawn(bin, ["serve", "--data", join(tmp, "data"), "--http", `127.0.0.1:${httpPort}`,
    "--syslog-udp", "", "--syslog-tcp", `127.0.0.1:${syslogPort}`, "--bootstrap-token", bootstrap, ...args],
  { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr = (stderr + d).slice(-8000); });
  proc.on("exit", (code) => { if (code) console.error(`vigil serve exited ${code}:\n${stderr}`); });

  async function api(method, path, body, token = bootstrap) {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  function syslog(lines) {
    return new Promise((resolve, reject) => {
      const c = createConnection({ host: "127.0.0.1", port: syslogPort }, () => {
        c.end(lines.map((l) => l + "\n").join(""), resolve);
      });
      c.on("error", reject);
    });
  }

  async function stop() {
    proc.kill("SIGTERM");
    // A real process shutting down: wait for its exit (or give up).
    // The timer is cleared once it exits, so that it does not hold the
    // test file open for its 20 seconds.
    await new Promise((r) => {
      const timer = setTimeout(r, 20000);
      proc.once("exit", () => { clearTimeout(timer); r(); });
    });
    rmSync(tmp, { recursive: true, force: true });
  }

  await waitFor("vigil to be ready", async () => (await fetch(base + "/readyz")).ok, 60000);
  return { base, syslogPort, tmp, api, syslog, stop, stderr: () => stderr };
}

// launchBrowser starts chromium with a fresh profile in dir.
export async function launchBrowser(playwright, dir, options = {}) {
  return playwright.chromium.launchPersistentContext(join(dir, "chromium-profile"), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1366, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    ...options,
  });
}

// newPage opens a page that records script errors and Content-Security-
// Policy violations; closePage fails the test if there were any.
export async function newPage(browser) {
  const page = await browser.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) page.problems.push("CSP: " + m.text());
  });
  return page;
}

export async function closePage(page) {
  const problems = page.problems;
  await page.close();
  assert.deepEqual(problems, [], "script errors or CSP violations");
}

// login signs in on the console's login page (signed out first: one
// browser profile serves every test of a file).
export async function login(browser, page, base, user, password) {
  await browser.clearCookies();
  await page.goto(base + "/login");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForURL(base + "/"), page.getByRole("button", { name: "Sign in" }).click()]);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, name + ".png"), fullPage: true });
}
