// The fleet dashboard in a real browser (Chromium through Playwright), as a user meets it: start a
// local cloud with the CLI, open the URL it prints, watch a fleet of simulated boards (one
// `otaflow device --count N` process) update live, deploy from the page, cancel a job from it.
// DASHBOARD_DEVICES sets the fleet's size (8 by default, to fit the CI machine); the screenshot
// goes where DASHBOARD_SCREENSHOT says, when it is set.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chromium, type Browser, type Page } from "playwright-core";
import { writeImageFile } from "../../tools/image/build";
import { freePort } from "../support/ports";

const CLI = path.join(import.meta.dirname, "..", "..", "tools", "otaflow.mjs");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const DEVICES = Number(process.env.DASHBOARD_DEVICES ?? 8);
const skip = fs.existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

const children: ChildProcess[] = [];
let dir: string;
let browser: Browser | undefined;

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}

/** The first stdout line of `child` that matches, or the child's stderr if it exits first. */
function lineOf(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let errors = "";
  child.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match);
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${errors}`)));
  });
}

/** Every status cell of the jobs table, by job id. */
async function jobStatuses(page: Page): Promise<Map<string, string>> {
  const rows = await page
    .locator("table.jobs tbody tr")
    .evaluateAll((trs) =>
      trs.map((tr) => [
        tr.getAttribute("data-job") ?? "",
        tr.querySelector(".status")?.textContent ?? "",
      ]),
    );
  return new Map(rows as [string, string][]);
}

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-dashboard-"));
  writeImageFile(path.join(dir, "app-1.0.0.bin"), { version: "1.0.0", size: 128 * 1024 });
  writeImageFile(path.join(dir, "app-1.1.0.bin"), { version: "1.1.0", size: 512 * 1024, seed: 3 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null
        ? new Promise((r) => c.once("exit", r))
        : undefined,
    ),
  );
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test(
  `a fleet of ${DEVICES} boards updates live on the dashboard, and a job is canceled from it`,
  { skip, timeout: 180_000 },
  async () => {
    const [port, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    // Slow downloads (64 KiB/s per board) so that progress is seen moving, as on a real link.
    const cloud = start([
      "cloud",
      "--backend",
      "aws",
      "--port",
      String(port),
      "--http-port",
      String(httpPort),
      "--admin-port",
      String(adminPort),
      "--rate",
      "64KiB",
    ]);
    const [, url] = await lineOf(cloud, /dashboard: (http:\/\/\S+)/);
    start([
      "device",
      "--backend",
      "aws",
      "--broker",
      `mqtt://127.0.0.1:${port}`,
      "--thing",
      "board",
      "--count",
      String(DEVICES),
      "--flash",
      path.join(dir, "board.flash"),
      "--factory",
      path.join(dir, "app-1.0.0.bin"),
      "--insecure-plaintext",
      "--admin",
      url.replace(/\/$/, ""),
    ]);

    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(url);
    // Every board appears, online, on 1.0.0 in ota_0, without reloading the page.
    await page
      .locator(".devices-online", { hasText: String(DEVICES) })
      .waitFor({ timeout: 60_000 });
    assert.equal(await page.locator("table.devices tbody tr").count(), DEVICES);
    assert.match(
      (await page.locator("tr[data-device=board-1] .slots").textContent()) ?? "",
      /ota_0: 1\.0\.0 valid/,
    );

    // Deploy 1.1.0 to every board from the form.
    await page.setInputFiles("form.deploy input[type=file]", path.join(dir, "app-1.1.0.bin"));
    await page.click("form.deploy button[type=submit]");
    await page.locator("form.deploy .message", { hasText: `${DEVICES} deployed` }).waitFor();

    // Live progress: one board's bar is seen at two different values between 0 and 100.
    const bar = page.locator("tr[data-device=board-2] .job progress");
    await bar.waitFor({ timeout: 30_000 });
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    while (seen.size < 2 && Date.now() < deadline) {
      const value = await bar.getAttribute("value").catch(() => null);
      if (value && value !== "0" && value !== "100") seen.add(value);
      await page.waitForTimeout(100);
    }
    assert.ok(seen.size >= 2, `progress values seen: ${[...seen].join(", ")}`);

    // Cancel board-1's job from its button while it is in flight.
    const jobOf = async (device: string) =>
      (await page.locator(`table.jobs tr:has(td:text-is("${device}"))`).getAttribute("data-job"))!;
    const canceled = await jobOf("board-1");
    await page.click(`table.jobs tr[data-job="${canceled}"] button.cancel`);
    await page
      .locator(`table.jobs tr[data-job="${canceled}"] .status`, { hasText: "CANCELED" })
      .waitFor();

    // The others finish: their jobs succeed, their boards run 1.1.0 confirmed in ota_1; the
    // canceled board still runs 1.0.0.
    const finishBy = Date.now() + 120_000;
    const succeeded = async () =>
      [...(await jobStatuses(page)).values()].filter((status) => status === "SUCCEEDED").length;
    while ((await succeeded()) < DEVICES - 1 && Date.now() < finishBy)
      await page.waitForTimeout(250);
    await page
      .locator("tr[data-device=board-2] .slots li.running", { hasText: "ota_1: 1.1.0 valid" })
      .waitFor();
    if (process.env.DASHBOARD_SCREENSHOT)
      await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
    const statuses = await jobStatuses(page);
    assert.equal(statuses.get(canceled), "CANCELED");
    assert.equal([...statuses.values()].filter((s) => s === "SUCCEEDED").length, DEVICES - 1);
    const versions = await page.locator("table.devices tbody tr .version").allTextContents();
    assert.equal(versions.filter((v) => v === "1.1.0").length, DEVICES - 1);
    assert.equal(await page.locator("tr[data-device=board-1] .version").textContent(), "1.0.0");
  },
);
