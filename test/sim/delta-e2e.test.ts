// Delta updates end to end: the device as a separate process against the local AWS cloud, offered
// 1.0.1 as an esp_delta_ota patch against its running 1.0.0 (otaflow deploy --delta-from). Power
// fails in the middle of writing the target; the restarted device resumes the patch where its
// saved state was, not from zero, and the update completes. A device whose running image is not
// the patch's base takes the full image when the job has one, and refuses a patch-only job.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startLocalCloud, type LocalCloud } from "../../tools/clouds/local";
import { writeImageFile } from "../../tools/image/build";
import type { DeviceEvent } from "../../hosts/node/device";
import { runDeviceProcess as runDevice } from "../support/device-process";

/** ota_1 starts at 0x200000 in the 4 MiB layout: a cut when the target reaches 160 KiB. */
const MID_TARGET = String(0x200000 + 0x28000);

function deviceArgs(cloud: LocalCloud, dir: string, thing: string, factory: string): string[] {
  return ["--backend", "aws", "--broker", cloud.brokerUrl, "--thing", thing].concat([
    "--flash",
    path.join(dir, `${thing}.flash`),
    "--factory",
    factory,
    "--insecure-plaintext",
  ]);
}

const ended = (e: DeviceEvent) =>
  e.event === "report" && ["succeeded", "failed", "rejected"].includes(e.status) && e.delivered;

async function withCloud(body: (cloud: LocalCloud, dir: string) => Promise<void>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-delta-"));
  const cloud = await startLocalCloud("aws");
  try {
    writeImageFile(path.join(dir, "v100.bin"), { version: "1.0.0", size: 262144, seed: 1 });
    writeImageFile(path.join(dir, "v101.bin"), { version: "1.0.1", size: 262144, seed: 1 });
    writeImageFile(path.join(dir, "v090.bin"), { version: "0.9.0", size: 262144, seed: 1 });
    await body(cloud, dir);
  } finally {
    await cloud.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("1.0.0 -> 1.0.1 through a delta: a power cut mid-patch resumes from the saved state", async () => {
  await withCloud(async (cloud, dir) => {
    const summary = await cloud.deploy(
      path.join(dir, "v101.bin"),
      { thing: "delta-1" },
      { deltaFrom: path.join(dir, "v100.bin"), deltaOnly: true },
    );
    assert.match(summary, /patch of \d+ bytes alone/);
    const args = deviceArgs(cloud, dir, "delta-1", path.join(dir, "v100.bin"));

    const first = await runDevice(args, { OTAFLOW_POWER_CUT_AT_ADDRESS: MID_TARGET }, () => false);
    assert.equal(first.signal, "SIGKILL");
    assert.ok(first.events.some((e) => e.event === "delta" && e.used));

    const second = await runDevice(args, {}, ended);
    const resume = second.events.find((e) => e.event === "resume");
    assert.ok(resume && resume.event === "resume", "the restarted device resumes");
    assert.ok(resume.offset >= 64 * 1024 && resume.offset <= 0x28000, `at ${resume.offset}`);
    const boots = second.events.flatMap((e) =>
      e.event === "boot" ? [`${e.version}:${e.state}`] : [],
    );
    assert.deepEqual(boots, ["1.0.0:valid", "1.0.1:pending-verify"]);
    const outcome = await cloud.outcome({ thing: "delta-1" }, 10_000);
    assert.equal(outcome.succeeded, true, outcome.status);

    const requests = cloud.firmwareRequests();
    assert.ok(
      requests.every((r) => r.path.includes(".patch")),
      "the full image never travels",
    );
    const ranges = requests.map((r) => r.range);
    assert.equal(ranges[0], undefined, "the patch is fetched from its start first");
    const resumedAt = Number(/bytes=(\d+)-/.exec(ranges[1] ?? "")?.[1]);
    assert.ok(resumedAt > 0, `the second fetch resumes inside the patch: ${ranges[1]}`);
  });
});

test("a device not running the patch's base takes the full image, or refuses a patch-only job", async () => {
  await withCloud(async (cloud, dir) => {
    // The job's delta is from 0.9.0; the device runs 1.0.0.
    await cloud.deploy(
      path.join(dir, "v101.bin"),
      { thing: "delta-2" },
      { deltaFrom: path.join(dir, "v090.bin") },
    );
    const args = deviceArgs(cloud, dir, "delta-2", path.join(dir, "v100.bin"));
    const run = await runDevice(args, {}, ended);
    const delta = run.events.find((e) => e.event === "delta");
    assert.ok(delta && delta.event === "delta" && !delta.used);
    assert.match(String(delta.reason), /is not the patch's base/);
    assert.equal((await cloud.outcome({ thing: "delta-2" }, 10_000)).succeeded, true);
    assert.ok(cloud.firmwareRequests().every((r) => r.path.endsWith(".bin")));

    await cloud.deploy(
      path.join(dir, "v101.bin"),
      { thing: "delta-3" },
      { deltaFrom: path.join(dir, "v090.bin"), deltaOnly: true },
    );
    const refused = await runDevice(
      deviceArgs(cloud, dir, "delta-3", path.join(dir, "v100.bin")),
      {},
      ended,
    );
    const report = refused.events.find((e) => e.event === "report" && e.status === "failed");
    assert.ok(report && report.event === "report" && report.failure);
    assert.equal(report.failure.code, "delta-base-mismatch");
    assert.match(
      report.failure.message,
      /delta refused: the running image .* is not the patch's base/,
    );
    const outcome = await cloud.outcome({ thing: "delta-3" }, 10_000);
    assert.equal(outcome.succeeded, false);
    assert.equal(cloud.firmwareRequests().filter((r) => r.path.includes("delta-3")).length, 0);
  });
});
