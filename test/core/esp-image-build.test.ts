import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildAppImage, readSimBehaviour, writeImageFile } from "../../tools/image/build";
import { espIdfVerify } from "../support/images";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function cString(image: Uint8Array, at: number, size: number): string {
  const field = image.subarray(at, at + size);
  const end = field.indexOf(0);
  assert.ok(end >= 0, "string field is NUL-terminated");
  return Buffer.from(field.subarray(0, end)).toString("utf8");
}

describe("image tool", () => {
  it("writes a default 64 KiB ESP32 app image that ESP-IDF's rules accept", () => {
    const image = buildAppImage({ version: "1.2.0" });
    assert.equal(image.length, 65536);
    const view = new DataView(image.buffer);
    assert.equal(image[0], 0xe9);
    assert.equal(view.getUint16(12, true), 0, "chip id ESP32");
    assert.equal(image[23], 1, "hash appended");
    // Descriptor at file offset 32, inside the first (DROM) segment.
    assert.equal(view.getUint32(32, true), 0xabcd5432);
    assert.equal(view.getUint32(36, true), 0, "secure_version");
    assert.equal(cString(image, 48, 32), "1.2.0");
    assert.equal(cString(image, 80, 32), "otaflow-sim");
    assert.match(cString(image, 144, 32), /^v\d+\.\d+/);

    const verdict = espIdfVerify(image);
    assert.equal(verdict.segments.length, image[1]);
    assert.equal(verdict.segments[0].dataOffset, 32);
    assert.ok(verdict.segments[0].length >= 256);
    assert.equal(verdict.imageLength, image.length);
    const entry = view.getUint32(4, true);
    assert.ok(
      verdict.segments.some((s) => entry >= s.loadAddr && entry < s.loadAddr + s.length),
      "entry point lies in a segment",
    );
  });

  it("makes every size it accepts exactly, and the result stays valid", () => {
    const sizes = [384, 400, 1024, 1040, 4096, 10000, 65536, 100000, 1_000_000, 3 * 1024 * 1024];
    for (const size of sizes) {
      const image = buildAppImage({ version: "2.0.0", size });
      assert.equal(image.length, size, `size ${size}`);
      espIdfVerify(image);
    }
  });

  it("splits a large image into segments below ESP-IDF's 16 MiB segment limit", () => {
    const image = buildAppImage({ version: "3.0.0", size: 40 * 1024 * 1024 });
    const verdict = espIdfVerify(image);
    assert.ok(verdict.segments.length > 4);
    assert.ok(verdict.segments.every((s) => s.length < 0x1000000));
    assert.equal(verdict.imageLength, image.length);
  });

  it("refuses sizes it cannot make, saying why", () => {
    assert.throws(() => buildAppImage({ version: "1", size: 1000 }), /multiple of 16/);
    assert.throws(() => buildAppImage({ version: "1", size: 256 }), /at least 384/);
    assert.throws(() => buildAppImage({ version: "x".repeat(32) }), /version .* longer than 31/);
    assert.throws(() => buildAppImage({ version: "1", size: 400 * 1024 * 1024 }), /segments/);
  });

  it("records the project, secure version and chip id it is given", () => {
    const image = buildAppImage({
      version: "9.9.9",
      project: "thermostat",
      secureVersion: 7,
      size: 4096,
    });
    const view = new DataView(image.buffer);
    assert.equal(cString(image, 80, 32), "thermostat");
    assert.equal(view.getUint32(36, true), 7);
    assert.equal(view.getUint16(12, true), 0);
    espIdfVerify(image);
  });

  it("carries each self-test behaviour for the simulated firmware", () => {
    for (const selfTest of ["pass", "fail", "crash", "hang"] as const) {
      const image = buildAppImage({ version: "1.0.0", selfTest, size: 2048 });
      assert.equal(readSimBehaviour(image), selfTest);
      espIdfVerify(image);
    }
    assert.equal(readSimBehaviour(buildAppImage({ version: "1.0.0" })), "pass");
    const foreign = buildAppImage({ version: "1.0.0" });
    foreign.fill(0, 288, 400); // wipe the record segment
    assert.throws(() => readSimBehaviour(foreign), /simulator record/);
  });

  it("is deterministic for the same options and differs with the seed or version", () => {
    const a = buildAppImage({ version: "1.0.0", size: 8192 });
    const b = buildAppImage({ version: "1.0.0", size: 8192 });
    assert.deepEqual(a, b);
    const seeded = buildAppImage({ version: "1.0.0", size: 8192, seed: 42 });
    assert.notDeepEqual(seeded.subarray(1024), a.subarray(1024));
    const other = buildAppImage({ version: "1.0.1", size: 8192 });
    assert.notDeepEqual(other.subarray(1024), a.subarray(1024));
  });

  it("writes the image to a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "otaflow-image-"));
    try {
      const path = join(dir, "fw.bin");
      const image = writeImageFile(path, { version: "1.1.0", size: 4096 });
      assert.deepEqual(new Uint8Array(readFileSync(path)), image);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("image tool: chips and the ESP-IDF version", () => {
  it("makes an image for the chip it is given: its chip id, and segments in its memory map", () => {
    const s3 = buildAppImage({ version: "1.0.0", chip: "esp32s3", size: 4096 });
    const view = new DataView(s3.buffer);
    assert.equal(view.getUint16(12, true), 9);
    const addresses: number[] = [];
    for (let i = 0, at = 24; i < s3[1]; i++) {
      addresses.push(view.getUint32(at, true));
      at += 8 + view.getUint32(at + 4, true);
    }
    // DROM 0x3C000000.., DRAM 0x3FC88000.., IRAM 0x40370000.., IROM 0x42000000.. (soc.h).
    const s3Windows = [
      [0x3c000000, 0x3e000000],
      [0x3fc88000, 0x3fd00000],
      [0x40370000, 0x403e0000],
      [0x42000000, 0x44000000],
    ];
    for (const a of addresses)
      assert.ok(
        a === 0 || s3Windows.some(([low, high]) => a >= low && a < high),
        `0x${a.toString(16)} is not an ESP32-S3 address`,
      );
    assert.equal(addresses.filter((a) => a !== 0).length, 4);
    assert.throws(() => buildAppImage({ version: "1", chip: "esp8266" }), /unknown chip "esp8266"/);
  });

  it("says which ESP-IDF it was made for: the simulator's v6.0 by default, or the one given", () => {
    assert.equal(cString(buildAppImage({ version: "1", size: 4096 }), 144, 32), "v6.0.2");
    const old = buildAppImage({ version: "1", size: 4096, idfVersion: "v5.5.1" });
    assert.equal(cString(old, 144, 32), "v5.5.1");
  });
});
