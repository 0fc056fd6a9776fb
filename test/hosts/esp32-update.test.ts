// Whole updates of the esp32 host inside the real XS engine (xsnap, intrinsics frozen as in a
// Moddable app): the application composed as on the board, over fakes of the Moddable modules,
// against the local AWS IoT Jobs cloud on a real MQTT broker and a real HTTP Range server. Each
// boot is a fresh XS engine; the flash (with ESP-IDF's otadata and bootloader rules) and the NVS
// outlive it. A power cut mid-download resumes from the journal; a failing self-test and a crash
// before confirming both roll back, and the cloud hears FAILED. Boards trust the vendor's key
// ("publicKeys"): an image it did not sign is refused before it is staged.
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
import {
  generateSigningKey,
  loadSigningKey,
  signAppended,
  type SigningKey,
} from "../../tools/sign/index";
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
const vendor = generateSigningKey();
const vendorKey = loadSigningKey(vendor.privateKeyPem);
const stranger = generateSigningKey();
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

/** The settings (mc/config) of the boards here: the local cloud over plain MQTT, the vendor's key. */
function configOf(thing: string): Record<string, unknown> {
  return {
    backend: "aws",
    broker: `mqtt://127.0.0.1:${broker.port}`,
    insecurePlaintext: true,
    publicKeys: vendor.publicKeyHex,
    thing,
  };
}

function board(thing: string): Esp32Board {
  const created = newBoard(factory);
  created.config = configOf(thing);
  boards.push(created);
  return created;
}

/** An image signed by `key` (the vendor's by default; null: unsigned). */
function release(
  version: string,
  size: number,
  selfTest: SelfTestBehaviour = "pass",
  key: SigningKey | null = vendorKey,
): Uint8Array {
  const image = buildAppImage({ version, size, selfTest });
  return key ? signAppended(image, key) : image;
}

/** Serves an image and creates the AWS job that offers it to `thing`. */
async function deploy(thing: string, version: string, image: Uint8Array): Promise<string> {
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

/** Boots a board with `config`, which readSettings refuses: the message it stops with. */
async function refusedConfig(config: Record<string, unknown>): Promise<string> {
  const b = board("esp32-settings");
  b.config = config;
  const outcome = await runBoot(b, await bundle, "app/app", 30_000);
  assert.ok(!outcome.ok, "the app started");
  return outcome.error;
}

describe("esp32 host: whole updates in XS", () => {
  it("does not start over a plain mqtt:// broker without insecurePlaintext, and says why", async () => {
    const thing = "esp32-plain";
    const b = board(thing);
    b.config = { backend: "aws", broker: `mqtt://127.0.0.1:${broker.port}`, thing };
    let connects = 0;
    const count = (client: { id: string }) => void (client.id === thing && connects++);
    broker.aedes.on("client", count);
    try {
      const outcome = await runBoot(b, await bundle, "app/app", 30_000);
      assert.ok(!outcome.ok);
      assert.match(
        outcome.error,
        /config: "broker" is plain mqtt:\/\/: use mqtts:\/\/ with "ca" .* or set "insecurePlaintext" to true \(development only\)/,
      );
    } finally {
      broker.aedes.removeListener("client", count);
    }
    assert.equal(connects, 0);
  });

  it("does not start without publicKeys or insecureUnsigned, and says how to fix it", async () => {
    const config = configOf("esp32-nokey");
    delete config.publicKeys;
    assert.match(
      await refusedConfig(config),
      /config: no "publicKeys": give the release signing key's Secure Boot V2 digest \(`otaflow keygen` prints it\) .* or set "insecureUnsigned" to true to install unsigned images \(development only\)/,
    );
  });

  it("does not start with a publicKeys entry that is not a key digest or P-256 point, and says why", async () => {
    const config = configOf("esp32-badkey");
    const compressed = "02" + vendor.publicKeyHex.slice(2, 66);
    assert.match(
      await refusedConfig({ ...config, publicKeys: compressed }),
      /config: "publicKeys" is not a key digest or P-256 point: a P-256 public key is the 65-byte uncompressed point 04 \|\| X \|\| Y, got 33 bytes \(a compressed point; give the uncompressed one\)/,
    );
    // One hex digit of Y changed: the second key is off the curve.
    const offCurve =
      vendor.publicKeyHex.slice(0, -1) + (vendor.publicKeyHex.endsWith("0") ? "1" : "0");
    assert.match(
      await refusedConfig({ ...config, publicKeys: `${stranger.publicKeyHex},${offCurve}` }),
      /config: "publicKeys" \(key 2 of 2\) is not a key digest or P-256 point: the point is not on the P-256 curve/,
    );
    assert.match(
      await refusedConfig({ ...config, publicKeys: vendor.publicKeyPem }),
      /config: "publicKeys" \(key 1 of \d+\) is not a key digest or P-256 point: expected a PEM public key or certificate \(ECDSA P-256 or RSA-3072\), the 64 hex digits of a Secure Boot V2 key digest/,
    );
  });

  it("refuses an unsigned image and one signed with another key: FAILED, nothing staged", async () => {
    const thing = "esp32-unsigned";
    const b = board(thing);
    const unsigned = await deploy(thing, "1.5.0", release("1.5.0", 64 * 1024, "pass", null));
    const foreign = await deploy(
      thing,
      "1.6.0",
      release("1.6.0", 64 * 1024, "pass", loadSigningKey(stranger.privateKeyPem)),
    );
    const failed = Promise.all([
      cloud.waitForStatus(thing, unsigned, "FAILED", 60_000),
      cloud.waitForStatus(thing, foreign, "FAILED", 60_000),
    ]);
    assert.equal(await bootUntil(b, failed), "stopped");
    assert.equal(b.restarts, 0);
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
    // The bootloader still boots the factory image, as before the update.
    const before = [b.booted.slot, b.booted.image.version, b.booted.state];
    const after = b.powerOn();
    assert.deepEqual([after.slot, after.image.version, after.state], before);
    assert.deepEqual(before.slice(0, 2), ["ota_0", "1.0.0"]);
  });

  it("resumes after a power cut mid-download, reboots into the signed image, confirms it", async () => {
    const thing = "esp32-resume";
    const b = board(thing);
    // Signed by the second of the keys it trusts.
    b.config.publicKeys = `${stranger.publicKeyHex}, ${vendor.publicKeyHex}`;
    const image = release("1.1.0", 256 * 1024);
    const jobId = await deploy(thing, "1.1.0", image);
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
    assert.ok(b.console.join("").includes(`resuming ${jobId} at byte 131072 of ${image.length}`));
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
    const jobId = await deploy(thing, "1.2.0", release("1.2.0", 64 * 1024, "fail"));
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

  it("rolls back an image that restarts before it confirms itself (unsigned, insecureUnsigned)", async () => {
    const thing = "esp32-crash";
    const b = board(thing);
    delete b.config.publicKeys;
    b.config.insecureUnsigned = "true";
    const jobId = await deploy(thing, "1.3.0", release("1.3.0", 64 * 1024, "crash", null));
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
