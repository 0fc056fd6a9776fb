// Whole updates of the Espruino build (build/espruino's bundle, boot file and application images)
// in a Node realm from which what Espruino 2v2x lacks has been removed (tools/espruino/realm.ts),
// against the local AWS IoT Jobs cloud on a real MQTT broker and a real HTTP Range server. Each
// boot is a fresh realm that runs Storage ".boot0"; Storage outlives it. An update confirms
// itself, after a power cut mid-download too (the journal's offset, a Range request, and Storage's
// write-only-into-erased-bytes rule); a failing self-test and a crash before confirming both roll
// back, and AWS hears FAILED.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startEmbeddedBroker, type RunningBroker } from "../../tools/broker/index";
import { firmwareJobDocument, startAwsCloud, type AwsCloud } from "../../tools/clouds/aws/index";
import { buildScriptImage } from "../../tools/espruino/app-image";
import { buildEspruino, type EspruinoBuild } from "../../tools/espruino/build";
import { EspruinoDevice, type Boot } from "../../tools/espruino/realm";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";

let built: EspruinoBuild;
let broker: RunningBroker;
let cloud: AwsCloud;
let server: FirmwareServer;
let root: string;
const running: Boot[] = [];

before(async () => {
  built = await buildEspruino();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-espruino-update-"));
  broker = await startEmbeddedBroker();
  cloud = await startAwsCloud({ brokerUrl: broker.url });
  server = await startFirmwareServer({ root });
});

after(async () => {
  running.forEach((boot) => boot.stop());
  await cloud.close();
  await broker.close();
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

type Behaviour = "pass" | "fail" | "crash";

/** The application: the bundle, then the code that starts the agent with its self-test. */
function appImage(version: string, behaviour: Behaviour): Uint8Array {
  const main =
    behaviour === "crash"
      ? "E.reboot();"
      : behaviour === "fail"
        ? 'otaflow.start({ selfTest: function () { return Promise.reject(new Error("no sensor")); } });'
        : "otaflow.start();";
  return buildScriptImage({
    version,
    project: "otaflow-espruino",
    script: `${built.code}\n${main}\n`,
  });
}

function newDevice(thing: string): EspruinoDevice {
  const device = new EspruinoDevice();
  device.storage.write(".boot0", built.boot0);
  device.storage.write("otaflow.a", appImage("1.0.0", "pass"));
  const settings = { backend: "aws", broker: { host: "127.0.0.1", port: broker.port }, thing };
  device.storage.write("otaflow.json", JSON.stringify(settings));
  return device;
}

async function deploy(thing: string, version: string, behaviour: Behaviour): Promise<string> {
  const image = appImage(version, behaviour);
  fs.writeFileSync(path.join(root, `${thing}-${version}.bin`), image);
  const sha256 = createHash("sha256").update(image).digest("hex");
  const url = `${server.url}/${thing}-${version}.bin`;
  return cloud.deploy({
    thingName: thing,
    document: firmwareJobDocument("plain", { url, size: image.length, version, sha256 }),
  });
}

/**
 * Boots once; the boot ends with E.reboot() or a power cut, or is stopped once `until` settles
 * (or after 30 s: a boot that should have rebooted then reads "stopped" and fails its test).
 */
async function boot(device: EspruinoDevice, until?: Promise<unknown>): Promise<string> {
  const current = device.boot();
  running.push(current);
  const limit = setTimeout(() => current.stop(), 30_000);
  void until?.then(
    () => current.stop(),
    () => current.stop(),
  );
  const end = await current.ended;
  clearTimeout(limit);
  return end;
}

function bootState(device: EspruinoDevice): unknown {
  return JSON.parse(device.storage.read("otaflow.boot") ?? "null");
}

describe("espruino build: whole updates in a restricted realm", () => {
  it("downloads into the other slot, boots it on trial, confirms it", async () => {
    const thing = "espruino-ok";
    const device = newDevice(thing);
    const jobId = await deploy(thing, "1.1.0", "pass");
    assert.equal(await boot(device), "reboot");
    assert.deepEqual(bootState(device), {
      confirmed: "otaflow.a",
      pending: "otaflow.b",
      tried: false,
    });
    assert.equal(cloud.execution(thing, jobId)?.status, "IN_PROGRESS");

    const succeeded = cloud.waitForStatus(thing, jobId, "SUCCEEDED", 30_000);
    assert.equal(await boot(device, succeeded), "stopped");
    assert.deepEqual(bootState(device), { confirmed: "otaflow.b" });
    const log = device.console.join("\n");
    assert.match(log, /running otaflow-espruino 1\.1\.0 from otaflow\.b \(pending-verify\)/);
    assert.match(log, /version 1\.1\.0 confirmed in otaflow\.b/);
    assert.doesNotMatch(log, /Uncaught/);
  });

  it("resumes after a power cut mid-download from the journal's offset", async () => {
    const thing = "espruino-resume";
    const device = newDevice(thing);
    const jobId = await deploy(thing, "1.4.0", "pass");
    // The power goes once 80 KiB of the new application are in the slot.
    device.powerCut = (name, offset, length) => name === "otaflow.b" && offset + length > 80 * 1024;
    assert.equal(await boot(device), "power cut");
    device.powerCut = undefined;
    assert.match(device.storage.read("otaflow.kv.ota.journal") ?? "", /"offset":65536/);
    // Bytes past the journal's offset are in flash already: Storage will not write them again.
    assert.notEqual(device.storage.files.get("otaflow.b")![70 * 1024], 0xff);

    const requests = server.requests.length;
    assert.equal(await boot(device), "reboot");
    const ranges = server.requests.slice(requests).map((request) => request.range);
    assert.deepEqual(ranges, ["bytes=65536-"]);
    assert.deepEqual(
      device.storage.files.get("otaflow.b"),
      new Uint8Array(fs.readFileSync(path.join(root, `${thing}-1.4.0.bin`))),
    );
    const succeeded = cloud.waitForStatus(thing, jobId, "SUCCEEDED", 30_000);
    assert.equal(await boot(device, succeeded), "stopped");
    assert.deepEqual(bootState(device), { confirmed: "otaflow.b" });
  });

  it("rolls back an application whose self-test fails, and reports FAILED", async () => {
    const thing = "espruino-selftest";
    const device = newDevice(thing);
    const jobId = await deploy(thing, "1.2.0", "fail");
    assert.equal(await boot(device), "reboot");
    // 1.2.0 runs on trial, fails its check, marks itself invalid and reboots.
    assert.equal(await boot(device), "reboot");
    assert.deepEqual(bootState(device), { confirmed: "otaflow.a" });
    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 30_000);
    assert.equal(await boot(device, failed), "stopped");
    const log = device.console.join("\n");
    assert.match(log, /running otaflow-espruino 1\.0\.0 from otaflow\.a \(valid\)/);
    assert.match(
      JSON.stringify(cloud.execution(thing, jobId)!.statusDetails),
      /self-test of 1\.2\.0 failed/,
    );
  });

  it("rolls back an application that restarts before it confirms itself", async () => {
    const thing = "espruino-crash";
    const device = newDevice(thing);
    const jobId = await deploy(thing, "1.3.0", "crash");
    assert.equal(await boot(device), "reboot");
    assert.equal(await boot(device), "reboot");
    assert.deepEqual(bootState(device), {
      confirmed: "otaflow.a",
      pending: "otaflow.b",
      tried: true,
    });
    // The boot file finds 1.3.0 tried but still pending: it runs 1.0.0 again.
    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 30_000);
    assert.equal(await boot(device, failed), "stopped");
    assert.deepEqual(bootState(device), { confirmed: "otaflow.a" });
    assert.match(
      JSON.stringify(cloud.execution(thing, jobId)!.statusDetails),
      /did not confirm itself/,
    );
  });
});
