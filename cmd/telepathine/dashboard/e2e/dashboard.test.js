// Browser test of the dashboard: three real agents (ports 0, read back),
// the first serving --http, and Debian's headless Chromium driven by
// playwright-core. Asserts what a person would see: three live peers, a key
// set through the CLI appearing within a second, a say in the events panel,
// a SIGKILLed agent turning dead. Writes a screenshot. Bounded: the whole
// test has a 2-minute timeout, and every process is killed at the end.
//
// Env: TELEPATHINE_BIN (the built CLI, required), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT (default ../../../../build/dashboard.png).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.TELEPATHINE_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.SCREENSHOT || resolve(here, "../../../../build/dashboard.png");
// Chromium as root needs --no-sandbox; the others keep it from reaching for
// Google's services, which this machine's closed network refuses.
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const run = promisify(execFile);

// startAgent runs `telepathine agent` and resolves once it printed its
// gossip address (and its dashboard URL when --http is given).
function startAgent(dir, name, extra) {
  const control = join(dir, name + ".sock");
  const child = spawn(BIN, ["agent", "--bind", "127.0.0.1:0", "--preset", "local", "--cluster", "e2e",
    "--name", name, "--control", control, ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  const agent = { name, control, child, addr: null, url: null };
  const wantURL = extra.includes("--http");
  return new Promise((resolveP, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${name} did not start`)), 15000);
    child.on("exit", code => reject(new Error(`agent ${name} exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", line => {
      const l = line.match(/listening on (\S+)/);
      if (l) agent.addr = l[1];
      const u = line.match(/dashboard on (http:\/\/\S+)/);
      if (u) agent.url = u[1];
      if (agent.addr && (agent.url || !wantURL)) {
        clearTimeout(timer);
        resolveP(agent);
      }
    });
  });
}

const cli = (agent, ...args) => run(BIN, [args[0], "--control", agent.control, ...args.slice(1)], { timeout: 10000 });

test("dashboard shows a live 3-agent cluster", { timeout: 120000 }, async () => {
  assert.ok(BIN, "TELEPATHINE_BIN must name the built telepathine binary");
  const dir = mkdtempSync(join(tmpdir(), "tp-e2e-"));
  const agents = [];
  let browser;
  try {
    const a = await startAgent(dir, "alpha", ["--http", "127.0.0.1:0"]);
    agents.push(a);
    agents.push(await startAgent(dir, "beta", ["--seeds", a.addr]));
    agents.push(await startAgent(dir, "gamma", ["--seeds", a.addr]));
    const [, beta, gamma] = agents;

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 980 } });
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(a.url);

    // Three live peers: alpha itself and the two others.
    await page.locator("#live-count", { hasText: /^3$/ }).waitFor({ timeout: 15000 });
    for (const n of ["beta", "gamma"]) {
      assert.equal(await page.locator(`#peers tr[data-peer="${n}"]`).getAttribute("data-state"), "alive");
    }
    await page.locator('#events-state', { hasText: "live" }).waitFor({ timeout: 5000 });

    // A key set through the CLI on beta shows up on alpha's page within a second.
    await cli(beta, "set", "color", "blue");
    const t0 = Date.now();
    const row = page.locator('#keys tr[data-peer="beta"][data-key="color"]');
    await row.waitFor({ timeout: 1000 });
    console.log(`key visible ${Date.now() - t0} ms after the CLI returned`);
    assert.match(await row.innerText(), /blue/);
    await cli(beta, "set", "--ttl", "10m", "lease", "beta");
    await cli(gamma, "set", "--json", "cfg", '{"replicas":3}');

    // A say shows in the events panel.
    await cli(gamma, "say", "deploy:done", "v42");
    const ev = page.locator('#events li[data-event="say:deploy:done"]');
    await ev.waitFor({ timeout: 5000 });
    assert.match(await ev.innerText(), /gamma.*v42/);

    // A SIGKILLed agent turns dead.
    gamma.child.kill("SIGKILL");
    await page.locator('#peers tr[data-peer="gamma"][data-state="dead"]').waitFor({ timeout: 20000 });
    await page.locator("#dead-count", { hasText: /^1$/ }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#peers tr[data-peer="beta"]').getAttribute("data-state"), "alive");

    await page.locator('#events li[data-event="peer:stop"]').first().waitFor({ timeout: 5000 });
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
    assert.deepEqual(errors, [], "no script errors on the page");
  } finally {
    if (browser) await browser.close();
    for (const ag of agents) ag.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
