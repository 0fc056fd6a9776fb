// The slot writer (esp_ota_begin/write/end over the inactive slot) with resume, and boot control
// (esp_ota_set_boot_partition, mark valid / invalid) through whole update cycles.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { FlashBootControl } from "../../hosts/node/boot-control";
import { boot, type BootResult } from "../../hosts/node/bootloader";
import { FlashFile, SECTOR_SIZE } from "../../hosts/node/flash";
import { OtaState, readOtadata } from "../../hosts/node/otadata";
import { findPartition, otadataPartition, readPartitionTable } from "../../hosts/node/partitions";
import { FlashSlotWriter } from "../../hosts/node/slot";
import { buildAppImage } from "../../tools/image/build";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-slot-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const IMAGE_SIZE = 40 * 1024 + 16;
const v100 = buildAppImage({ version: "1.0.0", size: 24 * 1024 });
const v110 = buildAppImage({ version: "1.1.0", size: IMAGE_SIZE });

function board(): { flash: FlashFile; booted: BootResult } {
  const flash = FlashFile.create(path.join(dir, `b${files++}.flash`), {
    size: 1024 * 1024,
    factoryImage: v100,
  });
  return { flash, booted: boot(flash) };
}

/** Erases and writes the flash calls make, relative to the start of ota_1. */
function recordOperations(flash: FlashFile): string[] {
  const slot = findPartition(readPartitionTable(flash), "ota_1").offset;
  const ops: string[] = [];
  flash.beforeOperation = (kind, _index, offset, length) =>
    void ops.push(`${kind} ${offset - slot} ${length}`);
  return ops;
}

async function writeAll(writer: FlashSlotWriter, image: Uint8Array, from: number, chunk = 1000) {
  for (let at = from; at < image.length; at += chunk)
    await writer.write(image.subarray(at, Math.min(image.length, at + chunk)));
}

const brief = (r: BootResult) => `${r.slot} ${r.image.version} ${r.state}`;

describe("FlashSlotWriter", () => {
  it("writes the slot after the running one and refuses what does not fit before erasing", async () => {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    assert.equal(writer.name, "ota_1");
    assert.equal(writer.size, 0x70000);
    assert.equal(writer.sectorSize, SECTOR_SIZE);
    const operations = flash.operations;
    await assert.rejects(writer.begin(0, 0x70001), { code: "offer-too-large" });
    await assert.rejects(writer.begin(100, IMAGE_SIZE), /resume offset 100 is not a multiple/);
    await assert.rejects(writer.begin(2 * 0x10000, IMAGE_SIZE), /resume offset/);
    assert.equal(flash.operations, operations, "nothing erased");
    flash.close();
  });

  it("erases sector by sector just ahead of the bytes, and the image boots", async () => {
    const { flash, booted } = board();
    const slot = findPartition(readPartitionTable(flash), "ota_1");
    flash.write(slot.offset + 0x60000, new Uint8Array([0x42]));
    const ops = recordOperations(flash);
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    assert.equal(ops.length, 0, "begin erases nothing");
    await writer.write(v110.subarray(0, 1000));
    await writer.write(v110.subarray(1000, 5000));
    assert.deepEqual(ops, ["erase 0 4096", "write 0 1000", "erase 4096 4096", "write 1000 4000"]);
    await writeAll(writer, v110, 5000);
    await writer.finish();
    let erasedTo = 0; // contiguous erases covering the image, nothing more
    for (const [, at, length] of ops
      .filter((op) => op.startsWith("erase"))
      .map((op) => op.split(" "))) {
      assert.equal(Number(at), erasedTo);
      erasedTo += Number(length);
    }
    assert.equal(erasedTo, Math.ceil(v110.length / SECTOR_SIZE) * SECTOR_SIZE);
    assert.equal(
      flash.read(slot.offset + 0x60000, 1)[0],
      0x42,
      "the rest of the slot is untouched",
    );
    assert.deepEqual(await writer.read(0, v110.length), v110);

    const control = new FlashBootControl(flash, booted, { reboot: () => {} });
    await control.setNextBoot("ota_1");
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 pending-verify");
    flash.close();
  });

  it("resumes at a durable offset: keeps the bytes before it and re-erases the sector at it", async () => {
    const { flash, booted } = board();
    const first = new FlashSlotWriter(flash, booted);
    await first.begin(0, v110.length);
    const durable = 8192; // what the journal recorded before the power went
    await first.write(v110.subarray(0, durable));
    await first.write(new Uint8Array(1808)); // bits a torn write left programmed
    const slot = findPartition(readPartitionTable(flash), "ota_1");
    assert.throws(
      () => flash.write(slot.offset + durable, v110.subarray(durable, durable + 16)),
      /write over unerased data/,
      "without the erase the bytes after the durable offset could not be written again",
    );

    const ops = recordOperations(flash);
    const again = new FlashSlotWriter(flash, boot(flash));
    await again.begin(durable, v110.length);
    await writeAll(again, v110, durable, 3000);
    await again.finish();
    assert.deepEqual(ops.slice(0, 2), [`erase ${durable} 4096`, `write ${durable} 3000`]);
    assert.ok(
      ops.every((op) => Number(op.split(" ")[1]) >= durable),
      `nothing before the durable offset is touched: ${ops.join(", ")}`,
    );
    assert.deepEqual(await again.read(0, v110.length), v110);
    flash.close();
  });

  it("finishes a resume whose every byte was already durable", async () => {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    await writeAll(writer, v110, 0);
    const again = new FlashSlotWriter(flash, booted);
    await again.begin(v110.length - (v110.length % SECTOR_SIZE), v110.length);
    await again.write(v110.subarray(v110.length - (v110.length % SECTOR_SIZE)));
    await again.finish();
    flash.close();
  });

  it("refuses an image without the 0xE9 magic, bytes past the size, and an incomplete or corrupt image", async () => {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    await assert.rejects(writer.write(new Uint8Array([0x7f, 0x45])), {
      code: "image-invalid",
      message: "OTA image has invalid magic byte (expected 0xE9, saw 0x7f)",
    });
    await writer.write(v110.subarray(0, 4096));
    await assert.rejects(writer.write(new Uint8Array(v110.length)), { code: "body-long" });
    await assert.rejects(writer.finish(), { code: "body-short" });

    const corrupt = v110.slice();
    corrupt[20_000] ^= 0xff;
    await writer.begin(0, corrupt.length);
    await writeAll(writer, corrupt, 0);
    await assert.rejects(writer.finish(), {
      code: "image-invalid",
      message: /ota_1: Checksum failed/,
    });
    await assert.rejects(writer.read(0x70000 - 10, 11), /outside ota_1/);
    await writer.abort();
    await assert.rejects(writer.write(v110), /write\(\) without begin\(\)/);
    flash.close();
  });

  it("refuses to begin while the running image is still PENDING_VERIFY, as esp_ota_begin does", async () => {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    await writeAll(writer, v110, 0);
    await writer.finish();
    await new FlashBootControl(flash, booted, { reboot: () => {} }).setNextBoot("ota_1");
    const trial = boot(flash);
    const next = new FlashSlotWriter(flash, trial);
    assert.equal(next.name, "ota_0");
    await assert.rejects(next.begin(0, v100.length), /Running app has not confirmed state/);
    await new FlashBootControl(flash, trial, { reboot: () => {} }).markValid();
    await next.begin(0, v100.length);
    flash.close();
  });
});

describe("FlashBootControl", () => {
  async function updated() {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    await writeAll(writer, v110, 0);
    await writer.finish();
    let reboots = 0;
    const control = (result: BootResult) =>
      new FlashBootControl(flash, result, { reboot: () => void reboots++ });
    await control(booted).setNextBoot("ota_1");
    return { flash, booted, control, reboots: () => reboots };
  }
  const otadataStates = (flash: FlashFile) =>
    readOtadata(flash, otadataPartition(readPartitionTable(flash))).map((e) => e.state);

  it("reports the running image from its descriptor and the otadata state", async () => {
    const { flash, booted } = board();
    const control = new FlashBootControl(flash, booted, { reboot: () => {} });
    assert.deepEqual(await control.running(), {
      slot: "ota_0",
      version: "1.0.0",
      project: "otaflow-sim",
      secureVersion: 0,
      state: "valid",
    });
    flash.close();
  });

  it("confirms a new image: NEW, PENDING_VERIFY, then VALID for good", async () => {
    const { flash, control } = await updated();
    assert.deepEqual(otadataStates(flash), [OtaState.VALID, OtaState.NEW]);
    const trial = boot(flash);
    const running = control(trial);
    assert.equal((await running.running()).state, "pending-verify");
    await running.markValid();
    assert.equal((await running.running()).state, "valid");
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    flash.close();
  });

  it("rolls back on markInvalidAndReboot and calls the reboot", async () => {
    const { flash, control, reboots } = await updated();
    const trial = control(boot(flash));
    await trial.markInvalidAndReboot();
    assert.equal(reboots(), 1);
    assert.deepEqual(otadataStates(flash), [OtaState.VALID, OtaState.INVALID]);
    assert.equal((await trial.running()).state, "invalid");
    assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid");
    flash.close();
  });

  it("rolls back by itself when the new image never confirms (a crash or a hang)", async () => {
    const { flash, control } = await updated();
    boot(flash);
    const back = boot(flash);
    assert.equal(brief(back), "ota_0 1.0.0 valid");
    assert.deepEqual(otadataStates(flash), [OtaState.VALID, OtaState.ABORTED]);
    assert.equal((await control(back).running()).version, "1.0.0");
    flash.close();
  });

  it("refuses a rollback with nothing to roll back to, and does not reboot", async () => {
    const { flash, booted } = board();
    let reboots = 0;
    const control = new FlashBootControl(flash, booted, { reboot: () => void reboots++ });
    await assert.rejects(control.markInvalidAndReboot(), /Rollback is not possible/);
    assert.equal(reboots, 0);
    assert.equal((await control.running()).state, "valid");
    flash.close();
  });

  it("refuses to set a slot without a valid image, as esp_ota_set_boot_partition does", async () => {
    const { flash, booted } = board();
    const writer = new FlashSlotWriter(flash, booted);
    await writer.begin(0, v110.length);
    await writer.write(v110.subarray(0, 8192));
    await writer.abort();
    const control = new FlashBootControl(flash, booted, { reboot: () => {} });
    await assert.rejects(control.setNextBoot("ota_1"), { code: "image-invalid" });
    await assert.rejects(control.setNextBoot("nvs"), /"nvs" is not an OTA app partition/);
    assert.deepEqual(otadataStates(flash), [OtaState.VALID, 0xffffffff]);
    flash.close();
  });
});
