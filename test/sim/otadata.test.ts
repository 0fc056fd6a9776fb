// otadata: esp_ota_select_entry_t, its CRC, the selection rules and the app-side rewrites.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { FlashFile, SECTOR_SIZE } from "../../hosts/node/flash";
import {
  activeOtadata,
  decodeEntry,
  encodeEntry,
  entryValid,
  markActive,
  newEntry,
  OtaState,
  otaSelectCrc,
  readOtadata,
  seqForSlot,
  setBootSlot,
  slotOfSeq,
  stateName,
  stateOfSlot,
  writeOtadataSector,
  type OtaSelectEntry,
  type TwoOtadata,
} from "../../hosts/node/otadata";
import { otadataPartition, readPartitionTable } from "../../hosts/node/partitions";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-otadata-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

function setup() {
  const flash = FlashFile.create(path.join(dir, `f${files++}.flash`), { size: 1024 * 1024 });
  const part = otadataPartition(readPartitionTable(flash));
  const ops: string[] = [];
  flash.beforeOperation = (kind, _index, offset, length) => {
    ops.push(`${kind} ${(offset - part.offset).toString(16)} ${length}`);
  };
  return { flash, part, ops, read: () => readOtadata(flash, part) };
}

const blank = (): OtaSelectEntry => decodeEntry(new Uint8Array(32).fill(0xff));
const seqs = (two: TwoOtadata) => two.map((e) => (entryValid(e) ? e.seq : "-"));

describe("esp_ota_select_entry_t", () => {
  it("has ESP-IDF's CRC: esp_rom_crc32_le(UINT32_MAX, &seq, 4)", () => {
    // Python: zlib.crc32(struct.pack('<I', seq), 0xFFFFFFFF)
    assert.equal(otaSelectCrc(1), 0x4743989a);
    assert.equal(otaSelectCrc(2), 0x55f63774);
    assert.equal(otaSelectCrc(3), 0xed4a5011);
    assert.equal(otaSelectCrc(0xfffffffe), 0x99f8b879);
  });

  it("encodes as 32 little-endian bytes and back", () => {
    const entry = { ...newEntry(0x01020304, OtaState.PENDING_VERIFY) };
    entry.label = new Uint8Array(20).map((_, i) => i);
    const bytes = encodeEntry(entry);
    assert.equal(bytes.length, 32);
    assert.deepEqual([...bytes.subarray(0, 4)], [4, 3, 2, 1]);
    assert.deepEqual([...bytes.subarray(24, 28)], [1, 0, 0, 0]);
    assert.deepEqual(decodeEntry(bytes), entry);
  });

  it("is valid only with a seq, a matching CRC and a state that may boot", () => {
    assert.equal(entryValid(newEntry(5, OtaState.VALID)), true);
    assert.equal(entryValid(newEntry(5, OtaState.NEW)), true);
    assert.equal(entryValid(newEntry(5, OtaState.PENDING_VERIFY)), true);
    assert.equal(entryValid(newEntry(5, OtaState.UNDEFINED)), true);
    assert.equal(entryValid(newEntry(5, OtaState.INVALID)), false);
    assert.equal(entryValid(newEntry(5, OtaState.ABORTED)), false);
    assert.equal(entryValid({ ...newEntry(5, OtaState.VALID), crc: otaSelectCrc(6) }), false);
    assert.equal(entryValid(blank()), false);
  });

  it("selects the highest valid seq, whichever sector holds it", () => {
    const e = (seq: number, state: number = OtaState.VALID) => newEntry(seq, state);
    assert.equal(activeOtadata([e(1), e(2)]), 1);
    assert.equal(activeOtadata([e(3), e(2)]), 0);
    assert.equal(activeOtadata([blank(), e(2)]), 1, "one sector erased");
    assert.equal(activeOtadata([e(7), blank()]), 0);
    assert.equal(activeOtadata([e(1), e(2, OtaState.INVALID)]), 0);
    assert.equal(activeOtadata([e(1), { ...e(9), crc: 0 }]), 0, "CRC mismatch");
    assert.equal(activeOtadata([blank(), blank()]), -1);
    assert.equal(slotOfSeq(1, 2), 0);
    assert.equal(slotOfSeq(2, 2), 1);
    assert.equal(slotOfSeq(0, 2), 1, "seq 0 wraps to 0xFFFFFFFF in uint32");
  });

  it("reports ESP-IDF's state values in the ports' words", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 0xffffffff, 7, undefined].map(stateName), [
      "new",
      "pending-verify",
      "valid",
      "invalid",
      "aborted",
      "undefined",
      "undefined",
      "undefined",
    ]);
  });
});

describe("esp_ota_set_boot_partition (esp_rewrite_ota_data)", () => {
  it("on blank otadata writes sector 0 with seq = slot + 1, state NEW, erasing first", () => {
    const { flash, part, ops, read } = setup();
    setBootSlot(flash, part, 1, 2);
    assert.deepEqual(ops, ["erase 0 4096", "write 0 32"]);
    const two = read();
    assert.equal(two[0].seq, 2);
    assert.equal(two[0].state, OtaState.NEW);
    assert.equal(two[0].crc, otaSelectCrc(2));
    assert.deepEqual([...two[0].label], new Array(20).fill(0xff));
    assert.equal(two[1].seq, 0xffffffff);
    flash.close();
  });

  it("puts the next seq in the sector that is not active, and alternates", () => {
    const { flash, part, ops, read } = setup();
    writeOtadataSector(flash, part, 0, newEntry(1, OtaState.VALID));
    ops.length = 0;
    setBootSlot(flash, part, 1, 2);
    assert.deepEqual(ops, ["erase 1000 4096", "write 1000 32"]);
    assert.deepEqual(seqs(read()), [1, 2]);
    assert.equal(read()[1].state, OtaState.NEW);
    assert.equal(read()[0].state, OtaState.VALID, "the old entry is left alone");
    setBootSlot(flash, part, 0, 2);
    assert.deepEqual(seqs(read()), [3, 2]);
    setBootSlot(flash, part, 1, 2);
    assert.deepEqual(seqs(read()), [3, 4]);
    flash.close();
  });

  it("rewrites the active sector in place when it already selects the slot", () => {
    const { flash, part, ops, read } = setup();
    writeOtadataSector(flash, part, 0, newEntry(1, OtaState.VALID));
    writeOtadataSector(flash, part, 1, newEntry(2, OtaState.INVALID));
    ops.length = 0;
    setBootSlot(flash, part, 0, 2);
    assert.deepEqual(ops, ["erase 0 4096", "write 0 32"]);
    assert.equal(read()[0].seq, 1);
    assert.equal(read()[0].state, OtaState.NEW);
    flash.close();
  });

  it("counts the next seq from the active entry, not from a higher INVALID one", () => {
    // The active entry is seq 1 (sector 0); sector 1 holds seq 6 marked INVALID.
    const { flash, part, read } = setup();
    writeOtadataSector(flash, part, 0, newEntry(1, OtaState.VALID));
    writeOtadataSector(flash, part, 1, newEntry(6, OtaState.INVALID));
    setBootSlot(flash, part, 1, 2);
    assert.deepEqual(seqs(read()), [1, 2]);
    flash.close();
  });

  it("computes the seq at the top of the uint32 range as ESP-IDF does: 0xFFFFFFFF, an empty entry", () => {
    assert.equal(seqForSlot(1, 1, 2), 2);
    assert.equal(seqForSlot(2, 0, 2), 3);
    assert.equal(seqForSlot(0xfffffffd, 1, 2), 0xfffffffe);
    assert.equal(seqForSlot(0xfffffffe, 0, 2), 0xffffffff);
    const { flash, part, read } = setup();
    writeOtadataSector(flash, part, 1, newEntry(0xfffffffe, OtaState.VALID));
    setBootSlot(flash, part, 0, 2);
    const two = read();
    assert.equal(two[0].seq, 0xffffffff);
    assert.equal(activeOtadata(two), 1, "the switch is lost: the old entry stays active");
    flash.close();
  });
});

describe("esp_ota_mark_app_valid / invalid (esp_ota_current_ota_is_workable)", () => {
  it("rewrites the active entry's state in its own sector", () => {
    const { flash, part, ops, read } = setup();
    writeOtadataSector(flash, part, 0, newEntry(1, OtaState.VALID));
    writeOtadataSector(flash, part, 1, newEntry(2, OtaState.PENDING_VERIFY));
    ops.length = 0;
    markActive(flash, part, true, 2);
    assert.deepEqual(ops, ["erase 1000 4096", "write 1000 32"]);
    assert.equal(read()[1].state, OtaState.VALID);
    ops.length = 0;
    markActive(flash, part, true, 2);
    assert.deepEqual(ops, [], "an entry already VALID is not rewritten");
    markActive(flash, part, false, 2);
    assert.equal(read()[1].state, OtaState.INVALID);
    assert.equal(activeOtadata(read()), 0, "the previous entry is active again");
    flash.close();
  });

  it("fails when no entry is active (a factory app is running)", () => {
    const { flash, part } = setup();
    assert.throws(() => markActive(flash, part, true, 2), /Running firmware is factory/);
    flash.close();
  });
});

describe("esp_ota_get_state_partition", () => {
  it("gives the state of the first CRC-valid entry mapping to the slot, whatever its state", () => {
    const two: TwoOtadata = [newEntry(1, OtaState.VALID), newEntry(2, OtaState.ABORTED)];
    assert.equal(stateOfSlot(two, 0, 2), OtaState.VALID);
    assert.equal(stateOfSlot(two, 1, 2), OtaState.ABORTED);
    assert.equal(stateOfSlot([newEntry(1, OtaState.VALID), blank()], 1, 2), undefined);
    const bad = { ...newEntry(3, OtaState.VALID), crc: 1 };
    assert.equal(stateOfSlot([bad, newEntry(2, OtaState.NEW)], 0, 2), undefined);
  });

  it("reads both sectors at 0 and 0x1000 of the partition", () => {
    const { flash, part, read } = setup();
    flash.write(part.offset + SECTOR_SIZE, encodeEntry(newEntry(9, OtaState.NEW)));
    assert.deepEqual(seqs(read()), ["-", 9]);
    flash.close();
  });
});
