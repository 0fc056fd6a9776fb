// Whole updates of the esp32 host inside the real XS engine (xsnap, intrinsics frozen as in a
// Moddable app): the application composed as on the board, over fakes of the Moddable modules,
// against the local AWS IoT Jobs cloud on a real MQTT broker and a real HTTP Range server. Each
// boot is a fresh XS engine; the flash (with ESP-IDF's otadata and bootloader rules) and the NVS
// outlive it. A power cut mid-download resumes from the journal; a failing self-test and a crash
// before confirming both roll back, and the cloud hears FAILED.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { OtaState } from "../../hosts/node/otadata";
import { startEmbeddedBroker, type RunningBroker } from "../../tools/broker/index";
import { firmwareJobDocument, startAwsCloud, type AwsCloud } from "../../tools/clouds/aws/index";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";
import { buildAppImage, type SelfTestBehaviour } from "../../tools/image/build";
import type { Outcome } from "../xs/engine";
import {
  bundleEsp32Cases,
  disposeBoard,
  newBoard,
  runBoot,
  XS_SOURCES,
  type Esp32Board,
} from "./esp32-board";

const bundle = bundleEsp32Cases([{ name: "app", file: path.join(XS_SOURCES, "cases-app.ts") }]);
const factory = buildAppImage({ version: "1.0.0", size: 48 * 1024 });
const boards: Esp32Board[] = [];
let broker: RunningBroker;
let cloud: AwsCloud;
let server: FirmwareServer;
let root: string;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-esp32-update-"));
  broker = await startEmbeddedBroker();
  cloud = await startAwsCloud({ brokerUrl: broker.url });
  server = await startFirmwareServer({ root });
});

after(async () => {
  boards.forEach(disposeBoard);
  await cloud.close();
  await broker.close();
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function board(thing: string): Esp32Board {
  const created = newBoard(factory);
  created.config = { backend: "aws", broker: `mqtt://127.0.0.1:${broker.port}`, thing };
  boards.push(created);
  return created;
}

/** Serves an image and creates the AWS job that offers it to `thing`. */
async function deploy(
  thing: string,
  version: string,
  size: number,
  selfTest: SelfTestBehaviour = "pass",
): Promise<string> {
  const image = buildAppImage({ version, size, selfTest });
  fs.writeFileSync(path.join(root, `${thing}-${version}.bin`), image);
  const sha256 = createHash("sha256").update(image).digest("hex");
  const url = `${server.url}/${thing}-${version}.bin`;
  return cloud.deploy({
    thingName: thing,
    document: firmwareJobDocument("plain", { url, size: image.length, version, sha256 }),
  });
}

function reason(outcome: Outcome): string {
  if (!outcome.ok) assert.fail(outcome.error);
  return JSON.parse(outcome.result) as string;
}

async function bootUntil(b: Esp32Board, done?: Promise<unknown>): Promise<string> {
  void done?.then(() => (b.stopRequested = true));
  return reason(await runBoot(b, await bundle, "app/app", 120_000));
}

describe("esp32 host: whole updates in XS", () => {
  it("resumes after a power cut mid-download, reboots into the image, confirms it", async () => {
    const thing = "esp32-resume";
    const b = board(thing);
    const jobId = await deploy(thing, "1.1.0", 256 * 1024);
    const slot = b.slotOffset("ota_1");
    // Boot 1: the power goes once 150 KiB of the new image are in the slot.
    b.onFlashOperation = (kind, offset) =>
      kind === "write" && offset >= slot + 150 * 1024 ? 0 : undefined;
    assert.equal(await bootUntil(b), "power cut");
    b.onFlashOperation = undefined;
    const journal = b.nvs.otaflow["ota.journal"].value as string;
    assert.match(journal, /"offset":131072/);

    // Boot 2: the journal's offset, a Range request, the rest, then the otadata switch.
    const requests = server.requests.length;
    assert.equal(await bootUntil(b), "restart");
    const ranges = server.requests.slice(requests).map((request) => request.range);
    assert.deepEqual(ranges, ["bytes=131072-"]);
    assert.ok(b.console.join("").includes(`resuming ${jobId} at byte 131072 of ${256 * 1024}`));
    assert.equal(cloud.execution(thing, jobId)?.status, "IN_PROGRESS");

    // Boot 3: the bootloader runs 1.1.0 on trial; it confirms itself; SUCCEEDED reaches AWS.
    const succeeded = cloud.waitForStatus(thing, jobId, "SUCCEEDED", 60_000);
    assert.equal(await bootUntil(b, succeeded), "stopped");
    assert.deepEqual(
      [b.booted.slot, b.booted.image.version, b.booted.state],
      ["ota_1", "1.1.0", "pending-verify"],
    );
    assert.equal(b.runningState(), OtaState.VALID);
    assert.equal(b.powerOn().image.version, "1.1.0");
  });

  it("rolls back an image whose self-test fails, and reports FAILED", async () => {
    const thing = "esp32-selftest";
    const b = board(thing);
    const jobId = await deploy(thing, "1.2.0", 64 * 1024, "fail");
    assert.equal(await bootUntil(b), "restart");
    // The new image runs, fails its checks, marks itself invalid and restarts.
    assert.equal(await bootUntil(b), "restart");
    assert.equal(b.booted.image.version, "1.2.0");
    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 60_000);
    assert.equal(await bootUntil(b, failed), "stopped");
    assert.deepEqual([b.booted.slot, b.booted.image.version], ["ota_0", "1.0.0"]);
    const details = cloud.execution(thing, jobId)!.statusDetails;
    assert.match(JSON.stringify(details), /self-test of 1\.2\.0 failed/);
    assert.ok(b.console.join("").includes("rolling back from 1.2.0"));
  });

  it("rolls back an image that restarts before it confirms itself", async () => {
    const thing = "esp32-crash";
    const b = board(thing);
    const jobId = await deploy(thing, "1.3.0", 64 * 1024, "crash");
    assert.equal(await bootUntil(b), "restart");
    assert.equal(await bootUntil(b), "restart");
    assert.equal(b.booted.image.version, "1.3.0");
    // The bootloader finds 1.3.0 still on trial, marks it aborted and boots 1.0.0 again.
    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 60_000);
    assert.equal(await bootUntil(b, failed), "stopped");
    assert.equal(b.booted.image.version, "1.0.0");
    assert.match(
      JSON.stringify(cloud.execution(thing, jobId)!.statusDetails),
      /did not confirm itself/,
    );
  });
});
