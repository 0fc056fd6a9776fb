// The simulated bootloader against ESP-IDF's rules (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE), on
// real app images from the image tool.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import {
  boot,
  ESP32_S3,
  isNoBootableImage,
  verifyAppImage,
  type BootResult,
  type Chip,
} from "../../hosts/node/bootloader";
import { FlashFile, isPowerCut, SECTOR_SIZE } from "../../hosts/node/flash";
import {
  markActive,
  newEntry,
  OtaState,
  readOtadata,
  setBootSlot,
  writeOtadataSector,
} from "../../hosts/node/otadata";
import {
  findPartition,
  otadataPartition,
  PARTITION_TABLE_OFFSET,
  readPartitionTable,
} from "../../hosts/node/partitions";
import { buildAppImage } from "../../tools/image/build";
import { checksumAt, reseal } from "../support/images";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-boot-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const MiB = 1024 * 1024;
const IMAGE_SIZE = 24 * 1024;
const v100 = buildAppImage({ version: "1.0.0", size: IMAGE_SIZE });
const v110 = buildAppImage({ version: "1.1.0", size: IMAGE_SIZE, secureVersion: 3 });

function newFlash(factoryImage?: Uint8Array, size = MiB, chip?: Chip): FlashFile {
  return FlashFile.create(path.join(dir, `f${files++}.flash`), { size, factoryImage, chip });
}

function install(flash: FlashFile, slot: string, image: Uint8Array): void {
  const part = findPartition(readPartitionTable(flash), slot);
  flash.erase(part.offset, Math.ceil(image.length / SECTOR_SIZE) * SECTOR_SIZE);
  flash.write(part.offset, image);
}

const otadata = (flash: FlashFile) => otadataPartition(readPartitionTable(flash));
const states = (flash: FlashFile) =>
  readOtadata(flash, otadata(flash)).map((e) => [e.seq, e.state]);
const brief = (r: BootResult) => `${r.slot} ${r.image.version} ${r.state}`;

/** A board that ran 1.0.0 from the factory and has just been given 1.1.0 in ota_1. */
function updatedBoard(second = v110): FlashFile {
  const flash = newFlash(v100);
  boot(flash);
  install(flash, "ota_1", second);
  setBootSlot(flash, otadata(flash), 1, 2);
  return flash;
}

describe("bootloader: selection and ESP-IDF's rollback states", () => {
  it("boots a factory-fresh board from ota_0 and records seq 1 VALID", () => {
    const flash = newFlash(v100);
    const result = boot(flash);
    assert.equal(brief(result), "ota_0 1.0.0 valid");
    assert.equal(result.offset, 0x10000);
    assert.equal(result.image.project, "otaflow-sim");
    assert.equal(result.image.length, IMAGE_SIZE);
    assert.ok(result.log.includes("I boot: No factory image, trying OTA 0"));
    assert.ok(result.log.includes("I boot: Set actual ota_seq=1 in otadata[0]"));
    assert.ok(result.log.includes("I boot: Loaded app from partition at offset 0x10000"));
    assert.deepEqual(states(flash), [
      [1, OtaState.VALID],
      [0xffffffff, 0xffffffff],
    ]);
    const operations = flash.operations;
    assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid");
    assert.equal(flash.operations, operations, "a settled board boots without writing");
    flash.close();
  });

  it("turns NEW into PENDING_VERIFY when it boots it", () => {
    const flash = updatedBoard();
    assert.deepEqual(states(flash)[1], [2, OtaState.NEW]);
    const result = boot(flash);
    assert.equal(brief(result), "ota_1 1.1.0 pending-verify");
    assert.equal(result.image.secureVersion, 3);
    assert.deepEqual(states(flash)[1], [2, OtaState.PENDING_VERIFY]);
    assert.ok(
      result.log.includes("D boot: otadata[1] is selected as new and marked PENDING_VERIFY state"),
    );
    flash.close();
  });

  it("aborts an image still PENDING_VERIFY at the next boot and boots the other slot", () => {
    const flash = updatedBoard();
    boot(flash);
    const result = boot(flash);
    assert.equal(brief(result), "ota_0 1.0.0 valid");
    assert.ok(result.log.includes("D boot: otadata[1] is marking as ABORTED"));
    assert.deepEqual(states(flash), [
      [1, OtaState.VALID],
      [2, OtaState.ABORTED],
    ]);
    assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid", "ABORTED never boots again");
    flash.close();
  });

  it("keeps booting an image marked VALID", () => {
    const flash = updatedBoard();
    boot(flash);
    markActive(flash, otadata(flash), true, 2);
    const operations = flash.operations;
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    assert.equal(flash.operations, operations);
    flash.close();
  });

  it("never boots an image marked INVALID", () => {
    const flash = updatedBoard();
    boot(flash);
    markActive(flash, otadata(flash), false, 2);
    assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid");
    assert.deepEqual(states(flash)[1], [2, OtaState.INVALID]);
    flash.close();
  });

  it("with both entries INVALID or ABORTED tries ota_0 anyway, as ESP-IDF does", () => {
    const flash = newFlash(v100);
    install(flash, "ota_1", v110);
    writeOtadataSector(flash, otadata(flash), 0, newEntry(3, OtaState.INVALID));
    writeOtadataSector(flash, otadata(flash), 1, newEntry(2, OtaState.ABORTED));
    const result = boot(flash);
    assert.equal(brief(result), "ota_0 1.0.0 invalid");
    assert.ok(result.log.includes("I boot: No factory image, trying OTA 0"));
    assert.ok(!result.log.some((l) => l.includes("Set actual ota_seq")), "entries are kept");
    flash.close();
  });

  it("ignores an entry whose CRC does not match", () => {
    const flash = newFlash(v100);
    boot(flash);
    install(flash, "ota_1", v110);
    writeOtadataSector(flash, otadata(flash), 1, {
      ...newEntry(2, OtaState.VALID),
      crc: 0x12345678,
    });
    assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid");
    flash.close();
  });

  it("uses the one sector left when the other is erased", () => {
    const flash = updatedBoard();
    markActive(flash, otadata(flash), true, 2);
    flash.erase(otadata(flash).offset, SECTOR_SIZE);
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    flash.close();
  });

  it("with both entries corrupt (not blank) tries every slot and writes nothing", () => {
    const flash = newFlash(v100);
    const part = otadata(flash);
    writeOtadataSector(flash, part, 0, { ...newEntry(1, OtaState.VALID), crc: 0 });
    writeOtadataSector(flash, part, 1, { ...newEntry(2, OtaState.VALID), crc: 0 });
    const operations = flash.operations;
    const result = boot(flash);
    assert.equal(brief(result), "ota_0 1.0.0 undefined");
    assert.ok(
      result.log.includes(
        "E boot: ota data partition invalid and no factory, will try all partitions",
      ),
    );
    assert.equal(flash.operations, operations);
    flash.close();
  });

  it("keeps the old slot when a switch near the top of the seq range writes 0xFFFFFFFF", () => {
    const flash = newFlash(v100);
    install(flash, "ota_1", v110);
    writeOtadataSector(flash, otadata(flash), 1, newEntry(0xfffffffe, OtaState.VALID));
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    setBootSlot(flash, otadata(flash), 0, 2);
    assert.equal(brief(boot(flash)), "ota_1 1.1.0 valid");
    flash.close();
  });
});

describe("bootloader: image validation and fallback", () => {
  const sha = (image: Uint8Array) => {
    // Two equal flips in the same byte lane leave the XOR checksum as it is: only the hash sees it.
    const out = image.slice();
    out[checksumAt(out) - 64] ^= 0x10;
    out[checksumAt(out) - 68] ^= 0x10;
    return out;
  };
  const cases: [string, (image: Uint8Array) => Uint8Array, RegExp][] = [
    ["a corrupt body", sha, /Image hash failed - image is corrupt/],
    [
      "a wrong checksum byte",
      (image) => {
        const out = image.slice();
        out[checksumAt(out)] ^= 1;
        out.set(
          createHash("sha256")
            .update(out.subarray(0, checksumAt(out) + 1))
            .digest(),
          checksumAt(out) + 1,
        );
        return out;
      },
      /Checksum failed. Calculated 0x[0-9a-f]+ read 0x[0-9a-f]+/,
    ],
    [
      "no magic byte",
      (image) => image.slice().fill(0xff, 0, 1),
      /image at 0x80000 has invalid magic byte \(nothing flashed here\?\)/,
    ],
    ["17 segments", (image) => image.slice().fill(17, 1, 2), /segment count 17 exceeds max 16/],
    [
      "a segment running past the slot",
      (image) => {
        const out = image.slice();
        new DataView(out.buffer).setUint32(24 + 4, 0x400000, true);
        return out;
      },
      /Segment 0 of 0x400000 bytes at 0x80020 runs past the partition/,
    ],
    [
      "an unaligned segment length",
      (image) => {
        const out = image.slice();
        new DataView(out.buffer).setUint32(24 + 4, 258, true);
        return out;
      },
      /invalid segment length 0x102/,
    ],
    [
      "another chip's image",
      () => buildAppImage({ version: "1.1.0", size: IMAGE_SIZE, chipId: 9 }),
      /mismatch chip ID, expected 0, found 9/,
    ],
    [
      "a newer chip revision required",
      (image) => {
        const out = image.slice();
        new DataView(out.buffer).setUint16(15, 302, true);
        return reseal(out);
      },
      /chip revision check failed. Required >= v3.2, found v3.1./,
    ],
  ];
  for (const [what, spoil, line] of cases)
    it(`falls back to the other slot from an image with ${what}`, () => {
      const flash = updatedBoard(spoil(v110));
      const result = boot(flash);
      assert.equal(brief(result), "ota_0 1.0.0 valid");
      assert.ok(
        result.log.some((l) => l.startsWith("E esp_image: ") && line.test(l)),
        result.log.join("\n"),
      );
      assert.ok(result.log.includes("E boot: OTA app partition slot 1 is not bootable"));
      // The otadata entry is left as ESP-IDF leaves it: PENDING_VERIFY, aborted at the next boot.
      assert.deepEqual(states(flash)[1], [2, OtaState.PENDING_VERIFY]);
      assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid");
      assert.deepEqual(states(flash)[1], [2, OtaState.ABORTED]);
      flash.close();
    });

  it("tries the next slot forwards when ota_0 is selected and corrupt", () => {
    const flash = newFlash(sha(v100));
    install(flash, "ota_1", v110);
    const result = boot(flash);
    assert.equal(brief(result), "ota_1 1.1.0 valid");
    assert.ok(result.log.includes("E boot: OTA app partition slot 0 is not bootable"));
    assert.ok(result.log.includes("I boot: Set actual ota_seq=2 in otadata[0]"));
    assert.deepEqual(states(flash)[0], [2, OtaState.VALID]);
    flash.close();
  });

  it("reports a board with no bootable image", () => {
    const check = (flash: FlashFile, line: string) => {
      assert.throws(
        () => boot(flash),
        (e) => isNoBootableImage(e) && /^no bootable image/.test(e.message) && e.log.includes(line),
      );
      flash.close();
    };
    check(newFlash(), "E boot: No bootable app partitions in the partition table");
    const both = updatedBoard(sha(v110));
    install(both, "ota_0", sha(v100));
    check(both, "E boot: No bootable app partitions in the partition table");
    const noTable = newFlash(v100);
    noTable.erase(PARTITION_TABLE_OFFSET, SECTOR_SIZE);
    check(noTable, "E boot: load partition table error!");
  });

  it("accepts the image where the app side checks it too (esp_image_verify)", () => {
    const flash = updatedBoard();
    const slot = findPartition(readPartitionTable(flash), "ota_1");
    const checked = verifyAppImage(flash, slot);
    assert.ok(checked.ok);
    assert.equal(checked.image.version, "1.1.0");
    assert.equal(checked.image.sha256, Buffer.from(v110.subarray(IMAGE_SIZE - 32)).toString("hex"));
    flash.close();
  });

  it("refuses slots above 16 MiB on an ESP32, and boots them on a 32-bit-address chip", () => {
    const image = buildAppImage({ version: "2.0.0", size: IMAGE_SIZE, chipId: ESP32_S3.id });
    const flash = newFlash(image, 64 * MiB, ESP32_S3);
    // The size check as an ESP32 would make it, on a flash made for an ESP32-S3.
    fs.writeFileSync(flash.path + ".esp32", fs.readFileSync(flash.path));
    const asEsp32 = FlashFile.open(flash.path + ".esp32");
    asEsp32.erase(0, SECTOR_SIZE);
    assert.throws(
      () => boot(asEsp32),
      (e) =>
        isNoBootableImage(e) &&
        e.log.some((l) => /partition size 0x1ff0000 invalid, larger than 16MB/.test(l)),
    );
    asEsp32.close();
    fs.rmSync(asEsp32.path);
    assert.equal(brief(boot(flash, { chip: ESP32_S3 })), "ota_0 2.0.0 valid");
    flash.close();
    fs.rmSync(flash.path);
  });
});

describe("bootloader: power cut during its own otadata writes", () => {
  // Both writes the bootloader makes (NEW -> PENDING_VERIFY, PENDING_VERIFY -> ABORTED) are an
  // erase and a 32-byte write: cut before each, inside each, at every byte of the write.
  for (const [what, prepare, complete] of [
    ["NEW -> PENDING_VERIFY", (flash: FlashFile) => flash, "ota_1 1.1.0 pending-verify"],
    ["PENDING_VERIFY -> ABORTED", (flash: FlashFile) => (boot(flash), flash), "ota_0 1.0.0 valid"],
  ] as const)
    it(`leaves a bootable board when cut during ${what}`, () => {
      const template = prepare(updatedBoard());
      template.close();
      const cuts: [number, number][] = [];
      for (const at of [0, 1, 2048, 4095]) cuts.push([0, at]);
      for (let at = 0; at <= 32; at++) cuts.push([1, at]);
      for (const [operation, bytes] of cuts) {
        const file = path.join(dir, `cut${files++}.flash`);
        fs.copyFileSync(template.path, file);
        const flash = FlashFile.open(file);
        flash.beforeOperation = (_kind, index) => (index === operation ? bytes : undefined);
        let result: BootResult | undefined;
        try {
          result = boot(flash);
        } catch (error) {
          if (!isPowerCut(error)) throw error;
        }
        flash.beforeOperation = undefined;
        const cut = `cut in operation ${operation} at byte ${bytes}`;
        if (result) assert.equal(brief(result), complete, cut);
        assert.match(brief(boot(flash)), /^ota_[01] 1\.[01]\.0 /, cut);
        assert.equal(brief(boot(flash)), "ota_0 1.0.0 valid", `${cut}: settles on 1.0.0`);
        flash.close();
        fs.rmSync(file);
      }
    });
});
