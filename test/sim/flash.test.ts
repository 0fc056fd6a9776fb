// The simulated NOR flash and its partition table.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FlashFile, isPowerCut, SECTOR_SIZE } from "../../hosts/node/flash";
import {
  defaultLayout,
  encodePartitionTable,
  PARTITION_TABLE_OFFSET,
  parsePartitionTable,
  readPartitionTable,
  type PartitionEntry,
} from "../../hosts/node/partitions";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-flash-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFlash = (size = 1024 * 1024) =>
  FlashFile.create(path.join(dir, `f${files++}.flash`), { size });
const MiB = 1024 * 1024;

describe("FlashFile", () => {
  it("is created erased, with its chip's bootloader header and the partition table at 0x8000", () => {
    const flash = newFlash();
    const bytes = fs.readFileSync(flash.path);
    assert.equal(bytes.length, MiB);
    const table = encodePartitionTable(defaultLayout(flash.size));
    const at = PARTITION_TABLE_OFFSET;
    assert.deepEqual(new Uint8Array(bytes.subarray(at, at + table.length)), table);
    // The ESP32's ROM reads the bootloader at 0x1000; its image header names the chip (id 0).
    assert.equal(bytes[0x1000], 0xe9);
    assert.equal(bytes.readUInt16LE(0x1000 + 12), 0);
    const rest = Buffer.concat([
      bytes.subarray(0, 0x1000),
      bytes.subarray(0x1000 + 24, at),
      bytes.subarray(at + table.length),
    ]);
    assert.ok(rest.every((b) => b === 0xff));
    assert.equal(flash.operations, 0, "creating the file is not a flash operation");
    flash.close();
  });

  it("refuses to overwrite a flash file and odd sizes, and reopens with its size", () => {
    const flash = newFlash(2 * MiB);
    flash.close();
    assert.throws(() => FlashFile.create(flash.path), /already exists/);
    assert.throws(() => newFlash(3 * MiB), /not a power of two/);
    assert.throws(() => newFlash(MiB / 2), /not a power of two between/);
    const again = FlashFile.open(flash.path);
    assert.equal(again.size, 2 * MiB);
    again.close();
    fs.writeFileSync(path.join(dir, "odd.flash"), new Uint8Array(5000));
    assert.throws(() => FlashFile.open(path.join(dir, "odd.flash")), /not a power of two/);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes("creating")),
      [],
      "no temporary file left behind",
    );
  });

  it("erases whole sectors to 0xFF and only whole sectors", () => {
    const flash = newFlash();
    const at = 0x20000;
    flash.write(at + 10, new Uint8Array([0x12, 0x34]));
    flash.erase(at, SECTOR_SIZE);
    assert.ok(flash.read(at, SECTOR_SIZE).every((b) => b === 0xff));
    assert.throws(() => flash.erase(at + 1, SECTOR_SIZE), /not aligned/);
    assert.throws(() => flash.erase(at, 100), /not aligned/);
    assert.throws(() => flash.erase(flash.size, SECTOR_SIZE), /outside/);
    flash.close();
  });

  it("writes only clear bits, and reports a write over unerased data with its address", () => {
    const flash = newFlash(4 * MiB);
    flash.write(0x1f0000, new Uint8Array(16).fill(0xf0));
    flash.write(0x1f0000, new Uint8Array([0x30, 0x00])); // clears further bits: allowed
    assert.deepEqual(flash.read(0x1f0000, 3), new Uint8Array([0x30, 0x00, 0xf0]));
    flash.write(0x1f0010, new Uint8Array([0x00]));
    const operations = flash.operations;
    assert.throws(() => flash.write(0x1f000f, new Uint8Array([0xf0, 0xff])), {
      code: "flash",
      message: "write over unerased data at 0x1f0010: 0x00 -> 0xff",
    });
    assert.equal(flash.operations, operations, "a refused write is not an operation");
    assert.equal(flash.read(0x1f000f, 1)[0], 0xf0, "nothing of a refused write lands");
    assert.throws(() => flash.write(flash.size - 1, new Uint8Array(2)), /outside/);
    flash.close();
  });

  it("counts erases and writes and shows each to the hook before it happens", () => {
    const flash = newFlash();
    const seen: string[] = [];
    flash.beforeOperation = (kind, index, offset, length) => {
      seen.push(`${kind} ${index} ${offset.toString(16)} ${length}`);
    };
    flash.erase(0x30000, 2 * SECTOR_SIZE);
    flash.write(0x30004, new Uint8Array(3));
    flash.read(0x30000, 16);
    assert.deepEqual(seen, ["erase 0 30000 8192", "write 1 30004 3"]);
    assert.equal(flash.operations, 2);

    flash.beforeOperation = () => {
      throw new Error("cut");
    };
    assert.throws(() => flash.write(0x30010, new Uint8Array([1])), /cut/);
    assert.equal(flash.read(0x30010, 1)[0], 0xff, "an operation the hook stops does not happen");
    flash.close();
  });

  it("tears a write or an erase at the byte the hook gives", () => {
    const flash = newFlash();
    flash.beforeOperation = () => 3;
    const error = (() => {
      try {
        flash.write(0x40000, new Uint8Array([1, 2, 3, 4, 5]));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isPowerCut(error), String(error));
    assert.deepEqual(flash.read(0x40000, 6), new Uint8Array([1, 2, 3, 0xff, 0xff, 0xff]));

    flash.beforeOperation = () => 2;
    assert.throws(
      () => flash.erase(0x40000, SECTOR_SIZE),
      (e) => isPowerCut(e),
    );
    assert.deepEqual(flash.read(0x40000, 4), new Uint8Array([0xff, 0xff, 3, 0xff]));
    flash.close();
  });

  it("kills the process right before operation OTAFLOW_POWER_CUT_AT", () => {
    const file = path.join(dir, "killed.flash");
    FlashFile.create(file, { size: MiB }).close();
    const flashModule = fileURLToPath(new URL("../../hosts/node/flash.ts", import.meta.url));
    const script = path.join(dir, "writer.ts");
    // Four writes of one byte each, across two FlashFile instances (a reboot in between).
    fs.writeFileSync(
      script,
      `import { FlashFile } from ${JSON.stringify(flashModule)};
let flash = FlashFile.open(${JSON.stringify(file)});
flash.write(0x50000, new Uint8Array([0]));
flash.write(0x50001, new Uint8Array([1]));
flash.close();
flash = FlashFile.open(${JSON.stringify(file)});
flash.write(0x50002, new Uint8Array([2]));
flash.write(0x50003, new Uint8Array([3]));
`,
    );
    const run = (cutAt: string) =>
      spawnSync(process.execPath, ["--import", "tsx", script], {
        env: { ...process.env, OTAFLOW_POWER_CUT_AT: cutAt },
        encoding: "utf8",
      });
    const killed = run("2");
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    const flash = FlashFile.open(file);
    assert.deepEqual(flash.read(0x50000, 4), new Uint8Array([0, 1, 0xff, 0xff]));
    flash.erase(0x50000, SECTOR_SIZE);
    flash.close();
    const whole = run("4");
    assert.equal(whole.status, 0, whole.stderr);
    assert.deepEqual(
      new Uint8Array(fs.readFileSync(file).subarray(0x50000, 0x50004)),
      new Uint8Array([0, 1, 2, 3]),
    );
  });
});

describe("partition table", () => {
  it("is byte for byte what ESP-IDF's gen_esp32part.py makes of the same CSV", () => {
    // gen_esp32part.py --flash-size 4MB on:
    //   nvs,data,nvs,0x9000,0x4000 / otadata,data,ota,0xd000,0x2000 / phy_init,data,phy,0xf000,0x1000
    //   ota_0,app,ota_0,0x10000,0x1F0000 / ota_1,app,ota_1,0x200000,0x1F0000
    // gives a 3072-byte table with this MD5.
    const table = encodePartitionTable(defaultLayout(4 * MiB));
    assert.equal(table.length, 0xc00);
    assert.equal(createHash("md5").update(table).digest("hex"), "885af73d11b79a8b2b2c38f43a476845");
  });

  it("lays out two equal OTA slots filling the flash", () => {
    const slots = (size: number) =>
      defaultLayout(size)
        .filter((p) => p.label.startsWith("ota_"))
        .map((p) => [p.offset, p.size]);
    assert.deepEqual(slots(4 * MiB), [
      [0x10000, 0x1f0000],
      [0x200000, 0x1f0000],
    ]);
    assert.deepEqual(slots(16 * MiB), [
      [0x10000, 0x7f0000],
      [0x800000, 0x7f0000],
    ]);
    assert.deepEqual(slots(128 * MiB), [
      [0x10000, 0x3ff0000],
      [0x4000000, 0x3ff0000],
    ]);
    const nvs = defaultLayout(4 * MiB).find((p) => p.label === "nvs")!;
    assert.deepEqual([nvs.offset, nvs.size], [0x9000, 0x4000]);
  });

  it("round-trips through the parser, and reads back from a flash", () => {
    const layout = defaultLayout(16 * MiB);
    assert.deepEqual(parsePartitionTable(encodePartitionTable(layout)), layout);
    const flash = newFlash();
    assert.deepEqual(readPartitionTable(flash), defaultLayout(MiB));
    flash.close();
  });

  it("rejects a table whose MD5, magic or end is wrong, and an entry past the flash", () => {
    const layout = defaultLayout(4 * MiB);
    const good = encodePartitionTable(layout);
    const flipped = good.slice();
    flipped[40] ^= 1; // otadata's offset
    assert.throws(() => parsePartitionTable(flipped), /incorrect MD5 checksum/);
    const badMagic = good.slice();
    badMagic[32] = 0x51;
    assert.throws(() => parsePartitionTable(badMagic), /partition 1 invalid magic number 0x5051/);
    const full = new Uint8Array(0xc00);
    for (let i = 0; i < full.length; i += 32) full.set(good.subarray(0, 32), i);
    assert.throws(() => parsePartitionTable(full), /no terminating entry/);
    const empty = new Uint8Array(0xc00).fill(0xff);
    assert.throws(() => parsePartitionTable(empty), /partition 0 invalid magic number 0xffff/);
    assert.throws(
      () => parsePartitionTable(good, 2 * MiB),
      /partition 4 invalid - offset 0x200000 size 0x1f0000 exceeds flash chip size 0x200000/,
    );
  });

  it("accepts a table without the MD5 entry, as ESP-IDF does", () => {
    const layout: PartitionEntry[] = defaultLayout(4 * MiB);
    const table = encodePartitionTable(layout);
    table.fill(0xff, layout.length * 32, layout.length * 32 + 32);
    assert.deepEqual(parsePartitionTable(table), layout);
  });
});
