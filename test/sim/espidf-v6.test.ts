// Where the simulator follows ESP-IDF v6.0's code (esp_ota_ops.c, bootloader_utility.c,
// esp_image_format.c) rather than a simplification: each case here is one the simulator once got
// wrong.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { FlashBootControl } from "../../hosts/node/boot-control";
import { boot, verifyAppImage, type BootResult } from "../../hosts/node/bootloader";
import { ESP32, ESP32_C6, ESP32_S3, type Chip } from "../../hosts/node/chips";
import { SimEfuses } from "../../hosts/node/efuse";
import { verifySecureBootV2 } from "../../hosts/node/secure-boot";
import { FlashFile, SECTOR_SIZE } from "../../hosts/node/flash";
import {
  newEntry,
  OtaState,
  readOtadata,
  setBootSlot,
  writeOtadataSector,
} from "../../hosts/node/otadata";
import {
  bootloaderPartitions,
  encodePartitionTable,
  otadataPartition,
  otaSlots,
  PARTITION_TABLE_OFFSET,
  readPartitionTable,
  type PartitionEntry,
} from "../../hosts/node/partitions";
import { FlashSlotWriter } from "../../hosts/node/slot";
import { buildAppImage, type AppImageOptions } from "../../tools/image/build";
import { reseal } from "../support/images";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-v6-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const MiB = 1024 * 1024;
const SIZE = 24 * 1024;
const image = (version: string, extra: Partial<AppImageOptions> = {}) =>
  buildAppImage({ version, size: SIZE, ...extra });
const brief = (r: BootResult) => `${r.slot} ${r.image.version} ${r.state}`;

function newFlash(factoryImage?: Uint8Array, chip?: Chip): FlashFile {
  return FlashFile.create(path.join(dir, `f${files++}.flash`), { size: MiB, factoryImage, chip });
}

function install(flash: FlashFile, part: PartitionEntry, bytes: Uint8Array): void {
  flash.erase(part.offset, Math.ceil(bytes.length / SECTOR_SIZE) * SECTOR_SIZE);
  flash.write(part.offset, bytes);
}

function slot(flash: FlashFile, label: string): PartitionEntry {
  return readPartitionTable(flash).find((p) => p.label === label)!;
}

/** Replaces the partition table (the factory layout has no factory app and no duplicates). */
function setTable(flash: FlashFile, entries: PartitionEntry[]): void {
  flash.erase(PARTITION_TABLE_OFFSET, SECTOR_SIZE);
  flash.write(PARTITION_TABLE_OFFSET, encodePartitionTable(entries));
}

const app = (label: string, subtype: number, offset: number): PartitionEntry => ({
  label,
  type: 0,
  subtype,
  offset,
  size: 0x40000,
  flags: 0,
});
const data = (label: string, subtype: number, offset: number, size = 0x2000): PartitionEntry => ({
  label,
  type: 1,
  subtype,
  offset,
  size,
  flags: 0,
});

/** Segment i's header offset in an image. */
function segmentAt(bytes: Uint8Array, index: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let at = 24;
  for (let i = 0; i < index; i++) at += 8 + view.getUint32(at + 4, true);
  return at;
}

describe("esp_image_format.c: the image checks", () => {
  it("takes any non-zero hash_appended byte as an appended SHA-256, and checks it", () => {
    const spoilt = image("1.1.0");
    spoilt[23] = 2;
    spoilt[spoilt.length - 1] ^= 0xff; // the hash no longer matches
    const flash = newFlash(spoilt);
    assert.throws(() => boot(flash), /no bootable image/);
    const part = slot(flash, "ota_0");
    const verdict = verifyAppImage(flash, part);
    assert.ok(!verdict.ok && /Image hash failed/.test(verdict.reason));
    flash.close();
  });

  it("boots an ESP32 image whose segment 0 is shorter than an app descriptor", () => {
    // Segment 0 cut to 16 bytes, the 240 bytes after it given to a padding segment.
    const bytes = image("1.0.0");
    const view = new DataView(bytes.buffer);
    const seg0 = segmentAt(bytes, 0);
    assert.equal(view.getUint32(seg0 + 4, true), 256);
    const tail = bytes.slice(seg0 + 8 + 16, seg0 + 8 + 256);
    const shorter = new Uint8Array(bytes.length);
    shorter.set(bytes.subarray(0, seg0 + 8 + 16));
    new DataView(shorter.buffer).setUint32(seg0 + 4, 16, true);
    let at = seg0 + 8 + 16;
    new DataView(shorter.buffer).setUint32(at, 0, true); // a padding segment: not loaded
    new DataView(shorter.buffer).setUint32(at + 4, tail.length - 8, true);
    shorter.set(tail.subarray(8), at + 8);
    at += tail.length;
    shorter.set(bytes.subarray(seg0 + 8 + 256), at);
    shorter[1] = bytes[1] + 1;
    const flash = newFlash(reseal(shorter));
    const result = boot(flash);
    assert.equal(result.slot, "ota_0");
    assert.equal(result.image.segments[0].length, 16);
    flash.close();
  });

  it("checks the app descriptor's magic only on chips with a configurable MMU page size", () => {
    const unmarked = (extra: Partial<AppImageOptions>) => {
      const bytes = image("1.0.0", extra);
      bytes.fill(0, 32, 36);
      return reseal(bytes);
    };
    const esp32 = newFlash(unmarked({}));
    const booted = boot(esp32);
    assert.equal(booted.slot, "ota_0");
    assert.equal(booted.image.descriptor, false);
    esp32.close();

    const c6 = newFlash(unmarked({ chip: "esp32c6" }), ESP32_C6);
    assert.throws(
      () => boot(c6, { chip: ESP32_C6 }),
      (e: Error & { log?: string[] }) =>
        /no bootable image/.test(e.message) &&
        e.log!.includes("E esp_image: Failed to fetch app description header!"),
    );
    c6.close();

    // With anti-rollback the bootloader reads secure_version from the descriptor: no magic, no boot.
    const guarded = newFlash(unmarked({}));
    assert.throws(() => boot(guarded, { efuse: SimEfuses.blank(guarded.path) }), /no bootable/);
    guarded.close();
  });

  it("refuses, at boot only, a segment loaded outside RAM or over the bootloader's own RAM", () => {
    for (const [address, reason] of [
      [0x3fff0000, "overlaps bootloader RAM"],
      [0x20000000, "bad load address range"],
    ] as const) {
      const bytes = image("1.0.0");
      const seg1 = segmentAt(bytes, 1); // the DRAM segment with the simulator's record
      new DataView(bytes.buffer).setUint32(seg1, address, true);
      const flash = newFlash(reseal(bytes));
      // esp_ota_end and esp_ota_set_boot_partition run esp_image_verify, which loads nothing.
      assert.ok(verifyAppImage(flash, slot(flash, "ota_0")).ok);
      assert.throws(
        () => boot(flash),
        (e: Error & { log?: string[] }) =>
          e.log!.some((l) => l.startsWith("E esp_image: Segment 1 ") && l.endsWith(reason)),
      );
      flash.close();
    }
  });
});

describe("otaflow image --chip and the flash file's chip", () => {
  it("boots an image made for the ESP32-S3 on an ESP32-S3 board, its segments at S3 addresses", () => {
    const bytes = image("2.0.0", { chip: "esp32s3" });
    assert.equal(new DataView(bytes.buffer).getUint16(12, true), ESP32_S3.id);
    const flash = newFlash(bytes, ESP32_S3);
    const result = boot(flash, { chip: ESP32_S3 });
    assert.equal(brief(result), "ota_0 2.0.0 valid");
    assert.ok(result.image.segments.some((s) => s.loadAddress >= 0x42000000));
    // The bootloader says which ESP-IDF it is, the image which one it was built with.
    assert.equal(result.log[0], "I boot: ESP-IDF v6.0.2 2nd stage bootloader");
    assert.equal(result.image.idfVersion, "v6.0.2");
    flash.close();
  });

  it("refuses to boot a flash made for one chip as another, saying which", () => {
    const flash = newFlash(image("2.0.0", { chip: "esp32s3" }), ESP32_S3);
    assert.throws(() => boot(flash, { chip: ESP32 }), /was made for esp32s3, not esp32/);
    flash.close();
    const esp32 = newFlash(image("1.0.0"));
    assert.throws(() => boot(esp32, { chip: ESP32_S3 }), /was made for esp32, not esp32s3/);
    esp32.close();
  });
});

describe("bootloader_utility.c: the partition table as the bootloader reads it", () => {
  const base = [data("nvs", 2, 0x9000, 0x4000), data("otadata", 0, 0xd000)];

  it("takes the last otadata entry when there are two", () => {
    const flash = newFlash(image("1.0.0"));
    install(flash, slot(flash, "ota_1"), image("1.1.0"));
    const second = data("otadata2", 0, 0xf0000);
    setTable(flash, [...readPartitionTable(flash), second]);
    flash.erase(second.offset, second.size);
    writeOtadataSector(flash, second, 0, newEntry(2, OtaState.VALID));
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    flash.close();
  });

  it("takes the last factory entry when there are two", () => {
    const flash = newFlash();
    setTable(flash, [
      ...base,
      app("factory", 0x00, 0x10000),
      app("factory2", 0x00, 0x50000),
      app("ota_0", 0x10, 0x90000),
    ]);
    const table = readPartitionTable(flash);
    install(flash, table[2], image("0.0.1"));
    install(flash, table[3], image("0.0.2"));
    const result = boot(flash);
    assert.equal(result.slot, "factory2");
    assert.ok(result.log.includes("I boot: Defaulting to factory image"));
    flash.close();
  });

  it("counts OTA apps as the bootloader and the app each do, not by an array's length", () => {
    // ota_0, ota_1, a duplicate ota_1 and an ota_3 after a gap.
    const table = [
      ...base,
      app("ota_0", 0x10, 0x10000),
      app("ota_1", 0x11, 0x50000),
      app("ota_1b", 0x11, 0x90000),
      app("ota_3", 0x13, 0xd0000),
    ];
    const slots = otaSlots(table);
    assert.deepEqual(
      slots.map((p) => p.label),
      ["ota_0", "ota_1"],
      "esp_ota_get_app_partition_count stops at the first missing subtype; find_first gives the first",
    );
    const bs = bootloaderPartitions(table);
    assert.equal(bs.appCount, 4, "app_count: one per OTA app entry");
    assert.equal(bs.ota[1]!.label, "ota_1b", "the last entry of a subtype");
  });
});

describe("esp_ota_ops.c: what the app does to otadata", () => {
  /** A board that ran 1.0.0 (ota_0), then 1.1.0 (ota_1), which it marked valid. */
  async function confirmedTwice(efuse?: SimEfuses, second = image("1.1.0")) {
    const flash = newFlash(image("1.0.0"));
    const first = boot(flash, { efuse });
    const writer = new FlashSlotWriter(flash, first);
    await writer.begin(0, second.length);
    await writer.write(second);
    await writer.finish();
    await new FlashBootControl(flash, first, { reboot: () => {}, efuse }).setNextBoot("ota_1");
    const trial = boot(flash, { efuse });
    await new FlashBootControl(flash, trial, { reboot: () => {}, efuse }).markValid();
    return { flash, running: boot(flash, { efuse }) };
  }

  it("esp_ota_begin erases the inactive otadata sector, so a rollback never boots an image never activated", async () => {
    const { flash, running } = await confirmedTwice();
    const otadata = otadataPartition(readPartitionTable(flash));
    assert.deepEqual(
      readOtadata(flash, otadata).map((e) => e.seq),
      [1, 2],
    );
    // An update into ota_0 is written but never activated (say its offer was cancelled).
    const writer = new FlashSlotWriter(flash, running);
    const v120 = image("1.2.0");
    await writer.begin(0, v120.length);
    assert.deepEqual(
      readOtadata(flash, otadata).map((e) => e.seq),
      [0xffffffff, 2],
      "esp_ota_invalidate_inactive_ota_data_slot",
    );
    await writer.write(v120);
    await writer.finish();
    let reboots = 0;
    const control = new FlashBootControl(flash, running, { reboot: () => void reboots++ });
    await assert.rejects(control.markInvalidAndReboot(), /Rollback is not possible/);
    assert.equal(reboots, 0);
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    flash.close();
  });

  it("rolls back to a valid factory app when the other otadata entry is not valid", async () => {
    const flash = newFlash();
    setTable(flash, [
      data("otadata", 0, 0xd000),
      app("factory", 0x00, 0x10000),
      app("ota_0", 0x10, 0x50000),
      app("ota_1", 0x11, 0x90000),
    ]);
    install(flash, slot(flash, "factory"), image("1.0.0"));
    const first = boot(flash);
    assert.equal(first.slot, "factory");
    const writer = new FlashSlotWriter(flash, first);
    const v110 = image("1.1.0");
    await writer.begin(0, v110.length);
    await writer.write(v110);
    await writer.finish();
    await new FlashBootControl(flash, first, { reboot: () => {} }).setNextBoot("ota_0");
    const trial = boot(flash);
    assert.equal(brief(trial), "ota_0 1.1.0 pending-verify");
    let reboots = 0;
    await new FlashBootControl(flash, trial, {
      reboot: () => void reboots++,
    }).markInvalidAndReboot();
    assert.equal(reboots, 1);
    assert.equal(boot(flash).slot, "factory");
    flash.close();
  });

  it("anti-rollback: mark-valid burns secure_version, set-boot and boot refuse what is below it", async () => {
    const flashPath = path.join(dir, `f${files}.flash`);
    const efuse = SimEfuses.blank(flashPath);
    const { flash, running } = await confirmedTwice(efuse, image("1.1.0", { secureVersion: 3 }));
    assert.equal(efuse.readSecureVersion(), 3, "raised when 1.1.0 was marked valid");
    // Nothing to roll back to: 1.0.0 (secure_version 0) may no longer boot.
    const control = new FlashBootControl(flash, running, { reboot: () => {}, efuse });
    assert.equal(await control.efuseSecureVersion(), 3);
    await assert.rejects(control.markInvalidAndReboot(), /Rollback is not possible/);
    // An older image written into ota_0 is refused at set-boot, and its partition erased.
    const writer = new FlashSlotWriter(flash, running);
    const old = image("1.0.1", { secureVersion: 2 });
    await writer.begin(0, old.length);
    await writer.write(old);
    await writer.finish();
    await assert.rejects(control.setNextBoot("ota_0"), /secure_version 2 is below the eFuse's 3/);
    assert.ok(flash.read(slot(flash, "ota_0").offset, 16).every((b) => b === 0xff));
    // Forced into otadata anyway, it does not boot: the bootloader keeps 1.1.0.
    install(flash, slot(flash, "ota_0"), old);
    setBootSlot(flash, otadataPartition(readPartitionTable(flash)), 0, 2);
    const result = boot(flash, { efuse });
    assert.equal(brief(result), "ota_1 1.1.0 valid");
    // Without the eFuse the same flash boots the old image: it is the eFuse that keeps it out.
    assert.equal(boot(flash).image.version, "1.0.1");
    flash.close();
  });
});

describe("signed-app checks at boot, against images espsecure signed", () => {
  const vector = (name: string) =>
    new Uint8Array(fs.readFileSync(path.join(import.meta.dirname, "../fixtures/espsecure", name)));
  const digest = (name: string) => Buffer.from(vector(name)).toString("hex");
  const A = digest("sbv2-key-a.digest.bin");
  const B = digest("sbv2-key-b.digest.bin");
  const RSA = digest("sbv2-rsa-key.digest.bin");

  /** Boots a board whose eFuses hold `keys`, with `app` in ota_0: the log's reason, or "booted". */
  function bootSigned(app: string | Uint8Array, keys: string[]): string {
    const flash = newFlash(typeof app === "string" ? vector(app) : app);
    const efuse = SimEfuses.blank(flash.path);
    efuse.burnKeyDigests(keys);
    try {
      boot(flash, {
        verifySignature: (bytes, signed) => verifySecureBootV2(bytes, signed, efuse.keyDigests()),
      });
      return "booted";
    } catch (error) {
      const log = (error as { log?: string[] }).log ?? [];
      return log.find((l) => l.startsWith("E esp_image: ")) ?? String(error);
    } finally {
      flash.close();
    }
  }

  it("boots an image signed by a key whose digest is in the eFuses, ECDSA or RSA-3072", () => {
    assert.equal(bootSigned("app-32k.sbv2-a.bin", [A]), "booted");
    assert.equal(bootSigned("app-32k.sbv2-rsa.bin", [B, RSA]), "booted");
  });

  it("does not boot an unsigned image, one signed by another key, or a corrupted one", () => {
    assert.match(bootSigned("app-32k.bin", [A]), /secure boot check fail/);
    assert.match(bootSigned("app-32k.sbv2-a.bin", [B]), /secure boot check fail: signature key/);
    // espsecure's corrupted vectors: the checksum byte catches them first, as in esp_image_format.c.
    assert.match(bootSigned("app-32k.sbv2-a.corrupt-0x1000.bin", [A]), /Checksum failed/);
    assert.match(bootSigned("app-32k.sbv2-rsa.corrupt-0x1000.bin", [RSA]), /Checksum failed/);
    // The same change with the checksum and appended hash made good again: only the signature sees it.
    for (const [name, key] of [
      ["app-32k.sbv2-a.bin", A],
      ["app-32k.sbv2-rsa.bin", RSA],
    ]) {
      const changed = vector(name);
      changed[0x1000] ^= 1;
      reseal(changed.subarray(0, 32768));
      assert.match(bootSigned(changed, [key]), /secure boot check fail: signature digest/);
    }
  });
});
