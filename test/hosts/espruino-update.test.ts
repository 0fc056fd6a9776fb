// Whole updates of the Espruino build (build/espruino's bundle, boot file and application images)
// in a Node realm from which what Espruino 2v2x lacks has been removed (tools/espruino/realm.ts),
// against the local AWS IoT Jobs cloud on a real MQTT broker and a real HTTP Range server. Each
// boot is a fresh realm that runs Storage ".boot0"; Storage outlives it. An update confirms
// itself, after a power cut mid-download too (the journal's offset, a Range request, and Storage's
// write-only-into-erased-bytes rule); a failing self-test and a crash before confirming both roll
// back, and AWS hears FAILED. Devices trust the vendor's key ("publicKeys"): an image it did not
// sign is refused before it is staged.
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
import {
  generateSigningKey,
  loadSigningKey,
  signAppended,
  type SigningKey,
} from "../../tools/sign/index";

let built: EspruinoBuild;
let broker: RunningBroker;
let cloud: AwsCloud;
let server: FirmwareServer;
let root: string;
const running: Boot[] = [];
const vendor = generateSigningKey();
const vendorKey = loadSigningKey(vendor.privateKeyPem);
const stranger = generateSigningKey();

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
  device.storage.write("otaflow.json", JSON.stringify(settingsOf(thing)));
  return device;
}

/** Storage "otaflow.json" of the devices here: the local cloud over plain MQTT, the vendor's key. */
function settingsOf(thing: string): Record<string, unknown> {
  return {
    backend: "aws",
    broker: { host: "127.0.0.1", port: broker.port },
    insecurePlaintext: true,
    publicKeys: [vendor.publicKeyHex],
    thing,
  };
}

/** A device whose application logs why otaflow.start() refused its `settings`. */
function refusingDevice(settings: Record<string, unknown>): EspruinoDevice {
  const device = newDevice(String(settings.thing));
  const script = `${built.code}\notaflow.start().catch(function (e) { console.log("cannot start: " + e.message); });\n`;
  device.storage.write(
    "otaflow.a",
    buildScriptImage({ version: "1.0.0", project: "otaflow-espruino", script }),
  );
  device.storage.write("otaflow.json", JSON.stringify(settings));
  return device;
}

/** Boots `settings` that start() refuses: the line the application logged. */
async function refusal(settings: Record<string, unknown>): Promise<string> {
  const device = refusingDevice(settings);
  const logged = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (!device.console.some((line) => line.startsWith("cannot start: "))) return;
      clearInterval(poll);
      resolve();
    }, 10);
  });
  assert.equal(await boot(device, logged), "stopped");
  return device.console.find((line) => line.startsWith("cannot start: "))!;
}

/** Serves the application (signed with `key`, the vendor's by default; null: unsigned) and offers it. */
async function deploy(
  thing: string,
  version: string,
  behaviour: Behaviour,
  key: SigningKey | null = vendorKey,
): Promise<string> {
  const unsigned = appImage(version, behaviour);
  const image = key ? signAppended(unsigned, key) : unsigned;
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
  it("does not start over plain MQTT without insecurePlaintext, and says how to fix it", async () => {
    const thing = "espruino-plain";
    const device = refusingDevice({ ...settingsOf(thing), insecurePlaintext: undefined });
    let connects = 0;
    const count = (client: { id: string }) => void (client.id === thing && connects++);
    broker.aedes.on("client", count);
    try {
      assert.equal(
        await boot(device, new Promise((resolve) => setTimeout(resolve, 1000))),
        "stopped",
      );
    } finally {
      broker.aedes.removeListener("client", count);
    }
    assert.match(
      device.console.join("\n"),
      /cannot start: otaflow\.json: "broker" has no "tls": .* or set "insecurePlaintext": true for plain MQTT and HTTP \(development only\)/,
    );
    assert.equal(connects, 0);
  });

  it("does not start without publicKeys or insecureUnsigned, and says how to fix it", async () => {
    assert.match(
      await refusal({ ...settingsOf("espruino-nokey"), publicKeys: undefined }),
      /^cannot start: otaflow\.json: no "publicKeys": give the release signing key's Secure Boot V2 digest \(`otaflow keygen` prints it\) .* or set "insecureUnsigned": true to install unsigned images \(development only\)$/,
    );
  });

  it("does not start with a publicKeys entry that is not a P-256 key, and says why", async () => {
    const settings = settingsOf("espruino-badkey");
    // One hex digit of Y changed: the second key is off the curve.
    const offCurve =
      vendor.publicKeyHex.slice(0, -1) + (vendor.publicKeyHex.endsWith("0") ? "1" : "0");
    assert.match(
      await refusal({ ...settings, publicKeys: [stranger.publicKeyHex, offCurve] }),
      /^cannot start: otaflow\.json: "publicKeys"\[1\] is not a key digest or P-256 public key: the point is not on the P-256 curve$/,
    );
    assert.match(
      await refusal({ ...settings, publicKeys: ["04abcd"] }),
      /^cannot start: otaflow\.json: "publicKeys"\[0\] is not a key digest or P-256 public key: a P-256 public key is the 65-byte uncompressed point 04 \|\| X \|\| Y, got 3 bytes$/,
    );
    assert.match(
      await refusal({ ...settings, publicKeys: vendor.publicKeyHex }),
      /^cannot start: otaflow\.json: "publicKeys" must be a list of keys/,
    );
  });

  it("refuses an unsigned application and one signed with another key: FAILED, nothing staged", async () => {
    const thing = "espruino-unsigned";
    const device = newDevice(thing);
    const unsigned = await deploy(thing, "1.5.0", "pass", null);
    const foreign = await deploy(thing, "1.6.0", "pass", loadSigningKey(stranger.privateKeyPem));
    const failed = Promise.all([
      cloud.waitForStatus(thing, unsigned, "FAILED", 30_000),
      cloud.waitForStatus(thing, foreign, "FAILED", 30_000),
    ]);
    assert.equal(await boot(device, failed), "stopped");
    const reasonOf = (jobId: string) => cloud.execution(thing, jobId)!.statusDetails.reason;
    assert.match(
      reasonOf(unsigned),
      /^signature-invalid: signature format: the image (ends with neither a Secure Boot V2 signature sector|does not end with a Secure Boot V2 signature sector)/,
    );
    assert.match(
      reasonOf(foreign),
      new RegExp(
        `^signature-invalid: signature key: the image is signed with key ${stranger.digestHex} \\(block 0, ECDSA P-256\\); this device trusts ${vendor.digestHex}`,
      ),
    );
    // No boot state was written: the boot file runs slot A at the next start, nothing is pending.
    assert.equal(bootState(device), null);
  });

  it("downloads a signed application into the other slot, boots it on trial, confirms it", async () => {
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

  it("rolls back an application that restarts before it confirms itself (unsigned, insecureUnsigned)", async () => {
    const thing = "espruino-crash";
    const device = newDevice(thing);
    device.storage.write(
      "otaflow.json",
      JSON.stringify({ ...settingsOf(thing), publicKeys: undefined, insecureUnsigned: true }),
    );
    const jobId = await deploy(thing, "1.3.0", "crash", null);
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
