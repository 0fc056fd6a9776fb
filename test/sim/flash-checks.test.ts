// What the simulator does to stay fast without losing a check: the NOR rule a 32-bit word at a
// time at any alignment, writes into bytes it erased itself, verdicts on an image that hold only
// until an erase or a write touches the image, digests computed on a worker thread, and an image
// judged once, by the slot's finish() as esp_ota_end does, rather than also as it streams.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createHash } from "node:crypto";
import { verifyAppImage } from "../../hosts/node/bootloader";
import { nodeDigests, useHashWorker } from "../../hosts/node/digests";
import { FlashFile, SECTOR_SIZE } from "../../hosts/node/flash";
import { findPartition, readPartitionTable } from "../../hosts/node/partitions";
import { buildAppImage } from "../../tools/image/build";
import { espIdfVerify } from "../support/images";
import { ScriptedCloud } from "../support/scripted-cloud";
import { boots, finalReport, offerOf, SimBench, type SimImage } from "../support/sim";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-flash-checks-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFlash = (factoryImage?: Uint8Array) =>
  FlashFile.create(path.join(dir, `f${files++}.flash`), { size: 1024 * 1024, factoryImage });
const AT = 0x40000;

describe("FlashFile NOR rule", () => {
  it("finds the one byte that sets a bit, whatever the alignment of the data and the address", () => {
    const flash = newFlash();
    flash.erase(AT, 2 * SECTOR_SIZE);
    flash.write(AT, new Uint8Array(64).fill(0x0f));
    const backing = new Uint8Array(80);
    for (let shift = 0; shift < 4; shift++)
      for (let start = 0; start < 4; start++)
        for (const bad of [0, 1, 5, 22, 23, 31]) {
          const data = backing.subarray(shift, shift + 32).fill(0x0f);
          data[bad] = 0x1f;
          const address = AT + start + bad;
          assert.throws(() => flash.write(AT + start, data), {
            code: "flash",
            message: `write over unerased data at 0x${address.toString(16)}: 0x0f -> 0x1f`,
          });
          data[bad] = 0x0e; // clearing bits only: allowed, and reaches the flash
          flash.write(AT + start, data);
          assert.equal(flash.read(address, 1)[0], 0x0e);
          flash.erase(AT, SECTOR_SIZE);
          flash.write(AT, new Uint8Array(64).fill(0x0f));
        }
    flash.close();
  });

  it("checks a write into bytes it erased once something has written them", () => {
    const flash = newFlash();
    flash.erase(AT, 4 * SECTOR_SIZE);
    flash.write(AT + 100, new Uint8Array(100).fill(0x00));
    flash.write(AT + 200, new Uint8Array(100).fill(0x7f)); // just after: still erased
    assert.throws(
      () => flash.write(AT + 150, new Uint8Array([0x01])),
      /0x4[0-9a-f]+: 0x00 -> 0x01/,
    );
    assert.throws(() => flash.write(AT + 250, new Uint8Array([0xff])), /0x7f -> 0xff/);
    flash.write(AT + 50, new Uint8Array(50).fill(0xaa)); // before the written bytes: erased
    assert.throws(() => flash.write(AT + 60, new Uint8Array([0xff])), /0xaa -> 0xff/);
    flash.close();
  });

  it("sees what another FlashFile on the same file wrote into bytes it erased", () => {
    const flash = newFlash();
    const other = FlashFile.open(flash.path);
    flash.erase(AT, SECTOR_SIZE);
    other.write(AT + 8, new Uint8Array([0x00]));
    assert.throws(() => flash.write(AT, new Uint8Array(16).fill(0x01)), /at 0x40008: 0x00 -> 0x01/);
    other.close();
    flash.close();
  });
});

describe("verifyAppImage's verdict", () => {
  const image = buildAppImage({ version: "1.0.0", size: 24 * 1024 });

  it("holds until an erase or a write touches the image, through any FlashFile on the file", () => {
    const flash = newFlash(image);
    const slot = findPartition(readPartitionTable(flash), "ota_0");
    const other = FlashFile.open(flash.path);
    assert.equal(verifyAppImage(flash, slot).ok, true);
    // Outside the slot: the verdict stands (and is the same object, not a new reading).
    const kept = verifyAppImage(flash, slot);
    other.erase(0x9000, SECTOR_SIZE);
    assert.equal(verifyAppImage(flash, slot), kept);
    // One bit cleared inside a segment by the other FlashFile: read again, and refused.
    let k = 4000;
    while ((image[k] & 1) === 0) k++;
    other.write(slot.offset + k, new Uint8Array([image[k] & 0xfe]));
    const checked = verifyAppImage(flash, slot);
    assert.ok(
      !checked.ok && /Checksum failed|hash failed/.test(checked.reason),
      String(checked.ok),
    );
    other.close();
    flash.close();
  });

  it("is read again after a write through the same FlashFile", () => {
    const flash = newFlash(image);
    const slot = findPartition(readPartitionTable(flash), "ota_0");
    assert.equal(verifyAppImage(flash, slot).ok, true);
    flash.erase(slot.offset, SECTOR_SIZE);
    const checked = verifyAppImage(flash, slot);
    assert.ok(!checked.ok && /invalid magic byte/.test(checked.reason));
    flash.close();
  });
});

describe("nodeDigests on the hash worker", () => {
  const data = new Uint8Array(3 * 1024 * 1024 + 77);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const expected = (algorithm: string) => createHash(algorithm).update(data).digest("hex");
  /** Feeds `data` in pieces of 1 byte to 700 KB (across the worker's batches), to all digests. */
  const feed = (digests: { update(bytes: Uint8Array): void }[]) => {
    for (let at = 0, k = 1; at < data.length; k++) {
      const n = Math.min(data.length - at, ((k * 7919) % 700_000) + 1);
      for (const digest of digests) digest.update(data.subarray(at, at + n));
      at += n;
    }
  };
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

  it("gives Node's digests for pieces of any size, several digests at once", () => {
    const algorithms = ["md5", "sha256", "sha384", "sha512"] as const;
    const digests = algorithms.map((algorithm) => nodeDigests(algorithm)!);
    const abandoned = nodeDigests("sha256")!;
    feed([...digests, abandoned]);
    algorithms.forEach((algorithm, i) =>
      assert.equal(hex(digests[i].digest()), expected(algorithm), algorithm),
    );
    assert.equal(nodeDigests("crc32"), undefined);
  });

  it("gives the same digests with the worker off (useHashWorker(false))", () => {
    useHashWorker(false);
    try {
      const digest = nodeDigests("sha256")!;
      feed([digest]);
      assert.equal(hex(digest.digest()), expected("sha256"));
    } finally {
      useHashWorker(true);
    }
  });
});

describe("an app image verified once, by the slot", () => {
  let bench: SimBench;
  before(async () => (bench = await SimBench.start()));
  after(() => bench.close());

  const image = buildAppImage({ version: "1.1.0", size: 200_000, seed: 3 });
  /** Offsets inside the largest segment's data, where a flipped bit breaks no structure. */
  const body = espIdfVerify(image).segments.reduce((a, b) => (a.length > b.length ? a : b));

  /** A board on 1.0.0 offered `served` as 1.1.0, its digest that of the bytes served. */
  async function update(served: SimImage, prepare?: (flash: FlashFile) => void) {
    await bench.provision(bench.image("factory.bin", { version: "1.0.0", size: 60_000 }));
    if (prepare) {
      const flash = FlashFile.open(bench.flashPath);
      prepare(flash);
      flash.close();
    }
    const cloud = new ScriptedCloud();
    cloud.offer = offerOf(served, "1.1.0");
    const events = await bench.run({ backend: () => cloud.backend(), until: finalReport });
    return { events, last: cloud.reports[cloud.reports.length - 1] };
  }

  function assertRefused(run: Awaited<ReturnType<typeof update>>, message: RegExp) {
    assert.equal(run.last.status, "failed");
    assert.equal(run.last.failure?.code, "image-invalid");
    assert.match(run.last.failure!.message, message);
    assert.ok(!run.events.some((e) => e.event === "state" && e.cause === "staged"));
    assert.deepEqual(
      boots(run.events).map((b) => b.version),
      ["1.0.0"],
    );
  }

  it("refuses an image whose checksum byte does not match its segments, in esp_image's words", async () => {
    const bad = image.slice();
    bad[body.dataOffset + 1000] ^= 0x10;
    const run = await update(bench.file("checksum.bin", bad));
    assertRefused(run, /^ota_1: Checksum failed\. Calculated 0x[0-9a-f]+ read 0x[0-9a-f]+$/);
  });

  it("refuses an image whose appended SHA-256 does not match, when its checksum byte does", async () => {
    const bad = image.slice();
    // The same bit flipped in two bytes: the XOR checksum cannot see it, the SHA-256 does.
    bad[body.dataOffset + 1000] ^= 0x10;
    bad[body.dataOffset + 2001] ^= 0x10;
    const run = await update(bench.file("hash.bin", bad));
    assertRefused(run, /^ota_1: Image hash failed - image is corrupt$/);
  });

  it("refuses a cut image even when the slot still holds the rest of it from an earlier write", async () => {
    const cut = 20 * SECTOR_SIZE;
    const run = await update(bench.file("cut.bin", image.subarray(0, cut)), (flash) => {
      const slot = findPartition(readPartitionTable(flash), "ota_1");
      flash.erase(slot.offset, Math.ceil(image.length / SECTOR_SIZE) * SECTOR_SIZE);
      flash.write(slot.offset, image);
    });
    assertRefused(run, new RegExp(`^ota_1: the image is ${image.length} bytes long, only ${cut}`));
  });
});
