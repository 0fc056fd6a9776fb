// The Linux target's host (hosts/lin: slots and otadata in files, the bootloader and reboots
// emulated in-process) running hosts/lin/main.ts inside XS, over the same fakes as the esp32
// tests plus the File module over a directory: a killed process resumes its download, the
// in-process reboot boots the new image, which confirms itself; an image that never confirms is
// rolled back at the next start; an image the configured key did not sign is never staged.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startEmbeddedBroker, type RunningBroker } from "../../tools/broker/index";
import { firmwareJobDocument, startAwsCloud, type AwsCloud } from "../../tools/clouds/aws/index";
import { startFirmwareServer, type FirmwareServer } from "../../tools/fwserver/index";
import { buildAppImage } from "../../tools/image/build";
import { generateSigningKey, loadSigningKey, signAppended } from "../../tools/sign/index";
import type { Outcome } from "../xs/engine";
import {
  bundleEsp32Cases,
  disposeBoard,
  newBoard,
  runBoot,
  XS_SOURCES,
  type Esp32Board,
} from "./esp32-board";

const bundle = bundleEsp32Cases([{ name: "lin", file: path.join(XS_SOURCES, "cases-lin.ts") }]);
const boards: Esp32Board[] = [];
const vendor = generateSigningKey();
const vendorKey = loadSigningKey(vendor.privateKeyPem);
let broker: RunningBroker;
let cloud: AwsCloud;
let server: FirmwareServer;
let root: string;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-lin-"));
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

/** A desktop "board": only its files and its NVS matter; the flash is not used on lin. */
function desktop(thing: string): Esp32Board {
  const created = newBoard(buildAppImage({ version: "0.0.0", size: 16 * 1024 }));
  created.config = {
    backend: "aws",
    broker: `mqtt://127.0.0.1:${broker.port}`,
    insecurePlaintext: true,
    publicKeys: vendor.publicKeyHex,
    thing,
    file: { root: created.fileRoot },
    version: "1.0.0",
    project: "otaflow-sim",
    slotSize: 512 * 1024,
  };
  boards.push(created);
  return created;
}

async function deploy(thing: string, image: Uint8Array, version: string): Promise<string> {
  fs.writeFileSync(path.join(root, `${thing}.bin`), image);
  const sha256 = createHash("sha256").update(image).digest("hex");
  return cloud.deploy({
    thingName: thing,
    document: firmwareJobDocument("plain", {
      url: `${server.url}/${thing}.bin`,
      size: image.length,
      version,
      sha256,
    }),
  });
}

/** A release image, signed with the key the desktops trust. */
function release(version: string, size: number): Uint8Array {
  return signAppended(buildAppImage({ version, size }), vendorKey);
}

function reason(outcome: Outcome): string {
  if (!outcome.ok) assert.fail(outcome.error);
  return JSON.parse(outcome.result) as string;
}

async function start(b: Esp32Board, done?: Promise<unknown>): Promise<string> {
  void done?.then(() => (b.stopRequested = true));
  return reason(await runBoot(b, await bundle, "lin/lin", 120_000));
}

function otadata(b: Esp32Board): unknown {
  return JSON.parse(fs.readFileSync(path.join(b.fileRoot, "otaflow", "otadata.json"), "utf8"));
}

describe("lin host: whole updates in XS, slots in files", () => {
  it("does not start without publicKeys or insecureUnsigned, and says how to fix it", async () => {
    const b = desktop("lin-nokey");
    delete b.config.publicKeys;
    const outcome = await runBoot(b, await bundle, "lin/lin", 30_000);
    assert.ok(!outcome.ok, "the app started");
    assert.match(
      outcome.error,
      /config: no "publicKeys": .* or set "insecureUnsigned" to true to install unsigned images \(development only\)/,
    );
  });

  it("never stages an unsigned image: FAILED signature-invalid, no restart", async () => {
    const thing = "lin-unsigned";
    const b = desktop(thing);
    const jobId = await deploy(
      thing,
      buildAppImage({ version: "1.3.0", size: 64 * 1024 }),
      "1.3.0",
    );
    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 60_000);
    assert.equal(await start(b, failed), "stopped");
    assert.match(
      cloud.execution(thing, jobId)!.statusDetails.reason,
      /^signature-invalid: signature format: the image (ends with neither a Secure Boot V2 signature sector|does not end with a Secure Boot V2 signature sector)/,
    );
    assert.ok(!b.console.join("").includes("otaflow: restart"));
    assert.deepEqual(otadata(b), { boot: "ota_0", states: {} });
  });

  it("resumes after the process is killed, reboots in-process, confirms the new image", async () => {
    const thing = "lin-resume";
    const b = desktop(thing);
    const image = release("1.1.0", 256 * 1024);
    const jobId = await deploy(thing, image, "1.1.0");
    b.onFileWrite = (file, position) => file.endsWith("/ota_1.bin") && position >= 150 * 1024;
    assert.equal(await start(b), "power cut");
    b.onFileWrite = undefined;
    assert.deepEqual(otadata(b), { boot: "ota_0", states: {} });
    // The journal is in the store's file beside the slots, which the kill left intact.
    const store = JSON.parse(fs.readFileSync(path.join(b.fileRoot, "otaflow", "nvs.json"), "utf8"));
    assert.match(store["ota.journal"] as string, /"offset":131072/);

    const requests = server.requests.length;
    const succeeded = cloud.waitForStatus(thing, jobId, "SUCCEEDED", 60_000);
    assert.equal(await start(b, succeeded), "stopped");
    assert.deepEqual(
      server.requests.slice(requests).map((request) => request.range),
      ["bytes=131072-"],
    );
    const console = b.console.join("");
    assert.ok(console.includes("running otaflow-sim 1.0.0 from ota_0 (valid)"), console);
    assert.ok(console.includes("otaflow: restart"));
    assert.ok(console.includes("running otaflow-sim 1.1.0 from ota_1 (pending-verify)"));
    assert.deepEqual(otadata(b), { boot: "ota_1", states: { ota_1: "valid" } });
    const slot = fs.readFileSync(path.join(b.fileRoot, "otaflow", "ota_1.bin"));
    assert.deepEqual(new Uint8Array(slot.subarray(0, image.length)), image);
  });

  it("rolls back at the next start an image that never confirmed itself", async () => {
    const thing = "lin-abort";
    const b = desktop(thing);
    const jobId = await deploy(thing, release("1.2.0", 64 * 1024), "1.2.0");
    // The power goes after the bootloader set the new image PENDING_VERIFY, before it confirms.
    let onTrial = false;
    b.onFileWrite = (file, _position, data) => {
      if (!file.endsWith("/otadata.json.new")) return false;
      if (onTrial) return true;
      onTrial = data.toString().includes('"ota_1":"pending-verify"');
      return false;
    };
    assert.equal(await start(b), "power cut");
    assert.ok(onTrial);
    b.onFileWrite = undefined;

    const failed = cloud.waitForStatus(thing, jobId, "FAILED", 60_000);
    assert.equal(await start(b, failed), "stopped");
    assert.deepEqual(otadata(b), { boot: "ota_0", states: { ota_1: "aborted" } });
    assert.ok(b.console.join("").includes("otaflow bootloader: ota_1 is aborted; booting ota_0"));
    assert.match(
      JSON.stringify(cloud.execution(thing, jobId)!.statusDetails),
      /did not confirm itself/,
    );
  });
});
