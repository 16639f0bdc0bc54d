// The dashboard in a real browser: Debian's chromium, driven by playwright-core, against the
// real `sluice` binary in front of the testkit's `sluice-mock`, with seeded traffic.
//
// Binaries: SLUICE_BIN and SLUICE_MOCK_BIN, else {CARGO_TARGET_DIR or ../target}/debug/{sluice,sluice-mock}.
// The browser: CHROMIUM, else /usr/bin/chromium. Screenshots of every page go to
// ui-tests/screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const TARGET = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const SLUICE = process.env.SLUICE_BIN ?? join(TARGET, "debug", "sluice");
const MOCK = process.env.SLUICE_MOCK_BIN ?? join(TARGET, "debug", "sluice-mock");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(here, "..", "screenshots");

const ADMIN = "sk-admin-browser-0123456789";
const VIEWER = { name: "alice", password: "alice-password-1" };
const SEEDED = 5;

const children = [];
let dir, base, browser;
/** Usage and cost of the seeded requests, as the gateway answered them. */
const seeded = { tokens: 0, cost: 0 };

/** Starts `bin` and resolves with the first capture of `pattern` in its output. */
function start(bin, args, pattern) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(bin, args, {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? dir, SLUICE_LOG: "info", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${seen}`)), 30_000);
    const read = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolveStart(m[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`${bin} exited with ${code}:\n${seen}`)));
  });
}

async function chat(key, model, extra = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello there" }], ...extra }),
  });
}

/** Reloads `page` at `url` until `check` passes (records reach the store in batches). */
async function until(page, url, check, what) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.goto(url);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const metric = (page, name) => page.locator(`[data-metric="${name}"]`).innerText();

async function signIn(page, secret, name = "") {
  await page.goto(`${base}/ui/login`);
  await page.getByLabel("Admin key, or viewer password or key").fill(secret);
  if (name) await page.getByLabel(/Viewer name/).fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/ui`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-ui-"));
  mkdirSync(SHOTS, { recursive: true });
  const mock = await start(MOCK, ["--listen", "127.0.0.1:0"], /listening on (\S+)/);
  writeFileSync(
    join(dir, "sluice.yaml"),
    `server: { admin_key: ${ADMIN} }
store: sqlite://${join(dir, "sluice.db")}
logging: { batch_interval: 50ms, journal: ${join(dir, "journal")} }
ui:
  viewers:
    - { name: ${VIEWER.name}, password: ${VIEWER.password} }
providers:
  mock: { kind: openai-compatible, base_url: "http://${mock}/v1", api_key: "sk-upstream" }
models:
  - name: fast
    targets: [ { provider: mock, model: gpt-4o-mini } ]
pricing:
  models: { mock/gpt-4o-mini: { input: "1.00", output: "2.00" } }
`,
  );
  const addr = await start(
    SLUICE,
    ["serve", "--config", join(dir, "sluice.yaml"), "--listen", "127.0.0.1:0"],
    /listening on http:\/\/(\S+)/,
  );
  base = `http://${addr}`;
  for (let i = 0; i < SEEDED; i++) {
    const r = await chat(ADMIN, "fast");
    assert.equal(r.status, 200);
    const body = await r.json();
    seeded.tokens += body.usage.prompt_tokens + body.usage.completion_tokens;
    seeded.cost += Number(r.headers.get("x-sluice-cost-usd"));
  }
  assert.equal((await chat(ADMIN, "no-such-model")).status, 404);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  for (const child of children) child.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a request without a session is sent to the sign-in page", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/ui/keys`);
  assert.equal(new URL(page.url()).pathname, "/ui/login");
  await shot(page, "login");
  await page.close();
});

test("signing in shows an overview that matches the seeded traffic", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, ADMIN);
  const requests = String(SEEDED + 1);
  await until(page, `${base}/ui?range=1h`, async () => (await metric(page, "requests")) === requests, "the overview");
  assert.equal(await metric(page, "requests"), requests);
  assert.equal(Number((await metric(page, "tokens")).replaceAll(",", "")), seeded.tokens);
  assert.equal(await metric(page, "error-rate"), `${((100 * 1) / (SEEDED + 1)).toFixed(1)}%`);
  const cost = Number((await metric(page, "cost")).replace(/[$,]/g, ""));
  assert.ok(seeded.cost > 0 && Math.abs(cost - seeded.cost) / seeded.cost < 0.01, `${cost} vs ${seeded.cost}`);
  assert.match(await metric(page, "p50"), /\d+ ms/);
  // Times are shown in the browser's zone: the script replaced the UTC text.
  assert.doesNotMatch(await page.locator("main time").first().innerText(), /UTC/);
  assert.equal(await page.locator("svg.chart").count(), 6);
  await shot(page, "overview");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "overview-phone");
  await context.close();
});

test("logs filter and open a detail view", async () => {
  const page = await browser.newPage();
  await signIn(page, ADMIN);
  await page.goto(`${base}/ui/logs`);
  await page.getByLabel("Status", { exact: true }).fill("error");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/status=error/);
  const rows = page.locator("main table tbody tr");
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /404/);
  await page.getByLabel("Status", { exact: true }).fill("");
  await page.getByLabel("Model", { exact: true }).fill("fast");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/model=fast/);
  assert.equal(await rows.count(), SEEDED);
  await shot(page, "logs");
  await rows.first().locator("a").click();
  await page.waitForURL(/\/ui\/logs\/.+/);
  assert.equal(await page.locator('[data-field="status"]').innerText(), "200");
  const attempts = page.locator("ol.timeline li");
  assert.equal(await attempts.count(), 1);
  assert.match(await attempts.first().innerText(), /mock · gpt-4o-mini ok/);
  await shot(page, "log-detail");
  await page.close();
});

test("a key made in the dashboard works, shows in the logs, and stops when revoked", async () => {
  const page = await browser.newPage();
  await signIn(page, ADMIN);
  await page.goto(`${base}/ui/keys`);
  await page.locator("#key-name").fill("browser-bot");
  await page.locator("#key-budget_amount").fill("10");
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.locator("#new-secret").innerText()).trim();
  assert.match(secret, /^sk-sluice-/);
  await page.getByRole("button", { name: "Copy" }).click();
  await shot(page, "keys");
  const row = page.locator("tr", { hasText: "browser-bot" });
  const id = await row.getAttribute("data-id");

  const used = await chat(secret, "fast");
  assert.equal(used.status, 200);
  const requestId = used.headers.get("x-request-id");
  await until(
    page,
    `${base}/ui/logs?key=${id}`,
    async () => (await page.getByRole("link", { name: requestId }).count()) === 1,
    "the key's request in the logs",
  );

  await page.goto(`${base}/ui/keys`);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Revoke browser-bot" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("tr", { hasText: "browser-bot" }).innerText(), /revoked/);
  assert.equal((await chat(secret, "fast")).status, 401);

  for (const name of ["teams", "models", "cache"]) {
    await page.goto(`${base}/ui/${name}`);
    await shot(page, name);
  }
  await page.close();
});

test("a viewer cannot create a key", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, VIEWER.password, VIEWER.name);
  await page.goto(`${base}/ui/keys`);
  assert.equal(await page.getByRole("heading", { name: "Create a key" }).count(), 0);
  await shot(page, "viewer-keys");
  const token = await page.locator('input[name="_csrf"]').first().inputValue();
  // The page's own form post, with its session cookie and token; a redirect would mean no
  // session (an opaque redirect, status 0), so only a 403 passes.
  const refused = await page.evaluate(async (token) => {
    const r = await fetch("/ui/keys", {
      method: "POST",
      body: new URLSearchParams({ _csrf: token, name: "viewer-made" }),
      redirect: "manual",
    });
    return { status: r.status, text: await r.text() };
  }, token);
  assert.equal(refused.status, 403);
  assert.match(refused.text, /Viewers can look but not change anything/);
  const keys = await fetch(`${base}/admin/v1/keys`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.ok(!(await keys.text()).includes("viewer-made"));
  await context.close();
});
