// The operator's first hour, through the installed command line: the admin API and the status,
// jobs and cancel commands, a fleet in one process, and the paths off the happy one (a busy port,
// a bad --factory image, a restarted Tencent cloud, SIGTERM after a rollback, the demo's --size).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { writeImageFile } from "../../tools/image/build";
import { freePort } from "../support/ports";

const ROOT = path.join(import.meta.dirname, "..", "..");
const CLI = path.join(ROOT, "tools", "otaflow.mjs");
const run = promisify(execFile);
let dir: string;
const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

/** Resolves with the first stdout line that matches; rejects with stderr if the child exits first. */
function lineOf(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  let errors = "";
  child.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line ${pattern} in time`)), timeoutMs);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (pattern.test(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${errors}`)));
  });
}

async function cloud(backend: string, extra: string[] = [], env?: NodeJS.ProcessEnv) {
  const [port, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const child = start(
    [
      "cloud",
      "--backend",
      backend,
      "--port",
      String(port),
      "--http-port",
      String(httpPort),
      "--admin-port",
      String(adminPort),
      ...extra,
    ],
    env,
  );
  const lines: string[] = [];
  readline.createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  await lineOf(child, /dashboard: http/);
  return { child, port, admin: `http://127.0.0.1:${adminPort}`, lines };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-operator-"));
  writeImageFile(path.join(dir, "1.0.0.bin"), { version: "1.0.0", size: 64 * 1024 });
  writeImageFile(path.join(dir, "1.1.0.bin"), { version: "1.1.0", size: 256 * 1024, seed: 5 });
  writeImageFile(path.join(dir, "hang.bin"), {
    version: "1.2.0",
    size: 64 * 1024,
    selfTest: "hang",
  });
  // An ESP32-S3 image (chip id 9) that an ESP32 bootloader refuses.
  writeImageFile(path.join(dir, "s3.bin"), { version: "1.0.0", size: 64 * 1024, chipId: 9 });
});

after(async () => {
  await Promise.all(children.map(stop));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("GET / on the admin API answers its index, status/jobs/cancel work on a fleet of --count boards", async () => {
  const aws = await cloud("aws", ["--rate", "32KiB"]);
  const index = (await (await fetch(`${aws.admin}/`)).json()) as { routes: Record<string, string> };
  assert.ok(index.routes["GET /api/fleet"]);
  const html = await (await fetch(`${aws.admin}/`, { headers: { accept: "text/html" } })).text();
  assert.match(html, /<script type="module" src="\/app.js">/);
  assert.match(await (await fetch(`${aws.admin}/app.js`)).text(), /EventSource/);

  const boards = start([
    "device",
    "--backend",
    "aws",
    "--broker",
    `mqtt://127.0.0.1:${aws.port}`,
    "--thing",
    "op",
    "--count",
    "3",
    "--flash",
    path.join(dir, "op.flash"),
    "--factory",
    path.join(dir, "1.0.0.bin"),
    "--insecure-plaintext",
    "--admin",
    aws.admin,
  ]);
  // Readable lines carry a timestamp and say when the board connected.
  await lineOf(boards, /^\d\d:\d\d:\d\d\.\d{3} \[op-3\] connected to mqtt:\/\//);
  for (const i of [1, 2, 3]) assert.ok(fs.existsSync(path.join(dir, `op-${i}.flash`)));
  let status = "";
  for (let tries = 0; tries < 50 && (status.match(/online/g) ?? []).length < 3; tries++) {
    status = (await run(process.execPath, [CLI, "status", "--admin", aws.admin])).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(status, /op-1\s+online\s+1\.0\.0\s+ota_0\* valid 1\.0\.0, ota_1 undefined -/);

  const deployed = await run(process.execPath, [
    CLI,
    "deploy",
    "--backend",
    "aws",
    "--image",
    path.join(dir, "1.1.0.bin"),
    "--admin",
    aws.admin,
  ]);
  const jobIds = [...deployed.stdout.matchAll(/job (\S+) for op-(\d)/g)];
  assert.equal(jobIds.length, 3, deployed.stdout);
  const victim = jobIds[0][1];
  // AWS progress moves during the download (the statusDetails progress reaches past 0).
  let jobs = "";
  for (let tries = 0; tries < 100 && !/IN_PROGRESS \(downloading\) [1-9]\d?%/.test(jobs); tries++) {
    jobs = (await run(process.execPath, [CLI, "jobs", "--admin", aws.admin])).stdout;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(jobs, /IN_PROGRESS \(downloading\) [1-9]\d?% \(\d+\/262144\)/);

  const canceled = await run(process.execPath, [CLI, "cancel", victim, "--admin", aws.admin]);
  assert.match(canceled.stdout, new RegExp(`job ${victim} canceled`));
  const again = await run(process.execPath, [CLI, "cancel", victim, "--admin", aws.admin]).catch(
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal((again as { code: number }).code, 1);
  assert.match((again as { stderr: string }).stderr, /is CANCELED: nothing to cancel/);
  const list = JSON.parse(
    (await run(process.execPath, [CLI, "jobs", "--json", "--admin", aws.admin])).stdout,
  ) as { id: string; status: string }[];
  assert.equal(list.find((j) => j.id === victim)?.status, "CANCELED");
  await stop(boards);
  await stop(aws.child);
});

test("a busy MQTT or admin port ends otaflow cloud at once with the port named", async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    for (const option of ["--port", "--admin-port"]) {
      const others = option === "--port" ? ["--admin-port", String(await freePort())] : [];
      const started = Date.now();
      const result = await run(process.execPath, [
        CLI,
        "cloud",
        "--backend",
        "aws",
        option,
        String(taken),
        "--http-port",
        String(await freePort()),
        ...others,
      ]).catch((error: { code: number; stderr: string }) => error);
      const failure = result as { code: number; stderr: string };
      assert.equal(failure.code, 2, option);
      assert.match(failure.stderr, new RegExp(`port ${taken} on 127.0.0.1 is in use.*${option}`));
      assert.doesNotMatch(failure.stderr, /Unhandled|at .*\.ts:/);
      assert.ok(Date.now() - started < 15_000);
    }
  } finally {
    blocker.close();
  }
});

test("a --factory image for another chip: no flash file is made, and the bootloader's reason is said", async () => {
  const flash = path.join(dir, "s3.flash");
  const result = await run(process.execPath, [
    CLI,
    "device",
    "--backend",
    "aws",
    "--broker",
    "mqtt://127.0.0.1:1",
    "--thing",
    "x",
    "--flash",
    flash,
    "--factory",
    path.join(dir, "s3.bin"),
    "--insecure-plaintext",
  ]).catch((error: { code: number; stderr: string }) => error);
  const failure = result as { code: number; stderr: string };
  assert.equal(failure.code, 1);
  assert.match(
    failure.stderr,
    /esp32 bootloader would not boot it \(mismatch chip ID, expected 0, found 9\)/,
  );
  assert.ok(!fs.existsSync(flash));
});

test("a restarted Tencent cloud keeps the device secret: the same device connects again", async () => {
  const env = { ...process.env, XDG_STATE_HOME: path.join(dir, "state") };
  const first = await cloud("tencent", ["--product", "PROD1", "--device", "dev"], env);
  const secret = /secret: (\S+)/.exec(first.lines.join("\n"))![1];
  await stop(first.child);
  const second = await cloud("tencent", ["--product", "PROD1", "--device", "dev"], env);
  assert.match(second.lines.join("\n"), new RegExp(`secret: ${secret.replace(/[+/]/g, "\\$&")}`));
  const device = start([
    "device",
    "--backend",
    "tencent",
    "--broker",
    `mqtt://127.0.0.1:${second.port}`,
    "--product",
    "PROD1",
    "--device",
    "dev",
    "--secret",
    secret,
    "--flash",
    path.join(dir, "tencent.flash"),
    "--factory",
    path.join(dir, "1.0.0.bin"),
    "--insecure-plaintext",
  ]);
  await lineOf(device, /connected to mqtt:/);
  await stop(device);
  await stop(second.child);
});

test("SIGTERM after a watchdog rollback ends the device within two seconds, without flash errors", async () => {
  const aws = await cloud("aws");
  const device = start([
    "device",
    "--backend",
    "aws",
    "--broker",
    `mqtt://127.0.0.1:${aws.port}`,
    "--thing",
    "wd",
    "--flash",
    path.join(dir, "wd.flash"),
    "--factory",
    path.join(dir, "1.0.0.bin"),
    "--insecure-plaintext",
  ]);
  let output = "";
  device.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await lineOf(device, /connected to/);
  await run(process.execPath, [
    CLI,
    "deploy",
    "--backend",
    "aws",
    "--thing",
    "wd",
    "--image",
    path.join(dir, "hang.bin"),
    "--admin",
    aws.admin,
    "--wait",
    "60",
  ]).catch(() => undefined);
  for (let tries = 0; tries < 100 && !/report: failed \(rolled-back/.test(output); tries++)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /report: failed \(rolled-back/);
  const started = Date.now();
  await stop(device);
  assert.ok(Date.now() - started < 2000, `exited after ${Date.now() - started} ms`);
  assert.doesNotMatch(output, /is closed/);
  await stop(aws.child);
});

test("the demo refuses an image too large for the slot promptly and a bad --size clearly, leaving no folder", async () => {
  const before = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("otaflow-demo-"));
  const started = Date.now();
  const result = await run(
    process.execPath,
    ["--import", "tsx", "tools/demo.ts", "--size", "3000000"],
    {
      cwd: ROOT,
    },
  ).catch((error: { code: number; stdout: string }) => error);
  const failure = result as { code: number; stdout: string };
  assert.equal(failure.code, 1);
  assert.match(failure.stdout, /offer-too-large: image of 30\d{5} bytes does not fit ota_1/);
  assert.ok(Date.now() - started < 60_000);
  const bad = await run(
    process.execPath,
    ["--import", "tsx", "tools/demo.ts", "--size", "5 parsecs"],
    {
      cwd: ROOT,
    },
  ).catch((error: { code: number; stderr: string }) => error);
  assert.equal((bad as { code: number }).code, 2);
  assert.match((bad as { stderr: string }).stderr, /--size must be a whole number/);
  const left = fs
    .readdirSync(os.tmpdir())
    .filter((f) => f.startsWith("otaflow-demo-") && !before.includes(f));
  assert.deepEqual(left, []);
});
