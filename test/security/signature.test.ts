// Signed images on the simulated board: each attack on the image or its signature ends in a
// FAILED report that names what did not match (key, digest or format), and nothing is staged.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { crc32 } from "../../src/core/hash/crc32";
import type { Offer } from "../../src/core/offer";
import type { DeviceEvent } from "../../hosts/node/device";
import {
  generateSigningKey,
  loadSigningKey,
  signAppended,
  signDetached,
} from "../../tools/sign/index";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, finalReport, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

const vendor = generateSigningKey();
const vendorKey = loadSigningKey(vendor.privateKeyPem);
const stranger = generateSigningKey();

/** Runs one update from a fresh 1.0.0 board with the vendor key built in; returns its events. */
async function update(
  offer: Offer,
  trustedKeys = [vendor.publicKeyPem],
): Promise<{ events: DeviceEvent[]; cloud: ScriptedCloud }> {
  fs.rmSync(bench.flashPath, { force: true });
  const factory = bench.image("factory.bin", { version: "1.0.0", size: 60_000 });
  const cloud = new ScriptedCloud();
  cloud.offer = offer;
  const events = await bench.run({
    factory,
    backend: () => cloud.backend(),
    agent: { trustedKeys },
    until: finalReport,
  });
  return { events, cloud };
}

function assertRefused(
  run: { events: DeviceEvent[]; cloud: ScriptedCloud },
  message: RegExp,
): void {
  const last = run.cloud.reports[run.cloud.reports.length - 1];
  assert.equal(last.status, "failed");
  assert.equal(last.failure?.code, "signature-invalid", last.failure?.message);
  assert.match(last.failure!.message, message);
  // Never staged: one boot, of the factory image, still valid.
  assert.deepEqual(
    boots(run.events).map((b) => `${b.version}@${b.slot}:${b.state}`),
    ["1.0.0@ota_0:valid"],
  );
}

const app = (version: string, seed = 1) =>
  bench.image(`raw-${version}-${seed}.bin`, { version, size: 150_000, seed });

test("an image signed with the built-in key, in a Secure Boot V2 sector, installs and boots", async () => {
  const signed = bench.file("signed.bin", signAppended(app("1.1.0").bytes, vendorKey));
  const run = await update(offerOf(signed, "1.1.0"));
  assert.equal(run.cloud.reports[run.cloud.reports.length - 1].status, "succeeded");
  assert.deepEqual(
    boots(run.events).map((b) => b.version),
    ["1.0.0", "1.1.0"],
  );
});

test("attack: an unsigned image from a compromised cloud is refused (format)", async () => {
  const raw = app("1.1.0");
  assertRefused(
    await update(offerOf(raw, "1.1.0")),
    /signature format: the image ends with neither a Secure Boot V2 signature sector .* nor a V1 signature trailer/,
  );
});

test("attack: an image signed with the attacker's own key is refused (key)", async () => {
  const signed = bench.file(
    "stranger.bin",
    signAppended(app("1.1.0").bytes, loadSigningKey(stranger.privateKeyPem)),
  );
  assertRefused(
    await update(offerOf(signed, "1.1.0")),
    new RegExp(
      `signature key: the image is signed with key ${stranger.digestHex} \\(block 0, ECDSA P-256\\); this device trusts ${vendor.digestHex}`,
    ),
  );
});

test("attack: bytes changed after signing, with a matching MD5 in the offer, are refused (digest)", async () => {
  const bytes = signAppended(app("1.1.0").bytes, vendorKey);
  bytes[100_000] ^= 0x40;
  const tampered = bench.file("tampered.bin", bytes);
  assertRefused(
    await update(offerOf(tampered, "1.1.0")),
    /signature digest: the image's SHA-256 is [0-9a-f]{64} but signature block 0 \(key [0-9a-f]{64}\) was made over [0-9a-f]{64}: the image changed after it was signed/,
  );
});

test("attack: a forged block that names the right key and digest is refused (signature)", async () => {
  const bytes = signAppended(app("1.1.0").bytes, vendorKey);
  // r starts 101 bytes into block 0; the block's CRC-32 is made right again, as a forger would.
  const block = bytes.subarray(bytes.length - 4096, bytes.length - 4096 + 1216);
  block[105] ^= 1;
  new DataView(block.buffer, block.byteOffset).setUint32(
    1196,
    crc32(block.subarray(0, 1196)),
    true,
  );
  const forged = bench.file("forged.bin", bytes);
  assertRefused(
    await update(offerOf(forged, "1.1.0")),
    /block 0 names trusted key [0-9a-f]{64} and the right digest, but its ECDSA P-256 signature does not verify: it is forged or corrupt/,
  );
});

test("a detached signature in the offer (AWS code signing) installs; a wrong one is refused", async () => {
  const raw = app("1.1.0");
  const good = await update(
    offerOf(raw, "1.1.0", {
      signature: { algorithm: "ecdsa-p256-sha256", value: signDetached(raw.bytes, vendorKey) },
    }),
  );
  assert.equal(good.cloud.reports[good.cloud.reports.length - 1].status, "succeeded");

  const other = signDetached(raw.bytes, loadSigningKey(stranger.privateKeyPem));
  assertRefused(
    await update(
      offerOf(raw, "1.1.0", { signature: { algorithm: "ecdsa-p256-sha256", value: other } }),
    ),
    new RegExp(
      `does not verify over the image \\(SHA-256 ${raw.sha256}\\) with any trusted key \\(${vendor.digestHex}\\)`,
    ),
  );
  assertRefused(
    await update(
      offerOf(raw, "1.1.0", { signature: { algorithm: "ecdsa-p256-sha256", value: "MEQCIA==" } }),
    ),
    /signature format: /,
  );
});

test("key rotation: an image signed with the second of two trusted keys installs", async () => {
  const next = generateSigningKey();
  const signed = bench.file(
    "rotated.bin",
    signAppended(app("1.1.0").bytes, loadSigningKey(next.privateKeyPem)),
  );
  const run = await update(offerOf(signed, "1.1.0"), [vendor.publicKeyPem, next.publicKeyHex]);
  assert.equal(run.cloud.reports[run.cloud.reports.length - 1].status, "succeeded");
});
