// ESP-IDF's binary partition table (esp_flash_partitions.h, gen_esp32part.py): 32-byte entries
// { u16 magic 0x50AA, u8 type, u8 subtype, u32 offset, u32 size, char label[16], u32 flags } at
// 0x8000, then an entry 0xEBEB + 14 x 0xFF + MD5 of the entries before it, then 0xFF up to 0xC00.
// The parser follows esp_partition_table_verify, which the bootloader runs.
import { createHash } from "node:crypto";
import { otaError } from "../../src/core/errors";
import { utf8Decode, utf8Encode } from "../../src/core/util/bytes";

export const PARTITION_TABLE_OFFSET = 0x8000;
/** ESP_PARTITION_TABLE_MAX_LEN: 96 entries, leaving room in the sector for a signature. */
export const PARTITION_TABLE_MAX_LEN = 0xc00;
const ENTRY_SIZE = 32;
const MAGIC = 0x50aa;
const MAGIC_MD5 = 0xebeb;
const MD5_OFFSET = 16;

export const TYPE_APP = 0x00;
export const TYPE_DATA = 0x01;
export const SUBTYPE_FACTORY = 0x00;
export const SUBTYPE_OTA_0 = 0x10;
export const SUBTYPE_DATA_OTA = 0x00;
export const SUBTYPE_DATA_PHY = 0x01;
export const SUBTYPE_DATA_NVS = 0x02;

export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  flags: number;
}

/** App partitions are mapped through the 64 KiB MMU pages, so they start on 64 KiB boundaries. */
const APP_ALIGN = 0x10000;

/**
 * The simulator's layout, ESP-IDF's partitions_two_ota.csv without the factory app:
 *
 *   nvs      data nvs  0x9000   0x4000   (4 sectors: the key-value store)
 *   otadata  data ota  0xd000   0x2000   (2 sectors)
 *   phy_init data phy  0xf000   0x1000
 *   ota_0    app  ota_0 0x10000  S
 *   ota_1    app  ota_1 0x10000+S S
 *
 * with S = (flash size - 0x10000) / 2 rounded down to 64 KiB, the remainder left unused:
 *   4 MiB flash:   S = 0x1F0000 (1984 KiB, 1.94 MiB); ota_1 at 0x200000; 64 KiB unused at the end.
 *   16 MiB flash:  S = 0x7F0000 (7.94 MiB); ota_1 at 0x800000.
 *   128 MiB flash: S = 0x3FF0000 (63.94 MiB): a 64 MiB image needs a 256 MiB flash.
 */
export function defaultLayout(flashSize: number): PartitionEntry[] {
  const slotSize = Math.floor((flashSize - APP_ALIGN) / 2 / APP_ALIGN) * APP_ALIGN;
  if (slotSize < APP_ALIGN)
    throw otaError("flash", `a ${flashSize}-byte flash has no room for two OTA slots`);
  return [
    {
      label: "nvs",
      type: TYPE_DATA,
      subtype: SUBTYPE_DATA_NVS,
      offset: 0x9000,
      size: 0x4000,
      flags: 0,
    },
    {
      label: "otadata",
      type: TYPE_DATA,
      subtype: SUBTYPE_DATA_OTA,
      offset: 0xd000,
      size: 0x2000,
      flags: 0,
    },
    {
      label: "phy_init",
      type: TYPE_DATA,
      subtype: SUBTYPE_DATA_PHY,
      offset: 0xf000,
      size: 0x1000,
      flags: 0,
    },
    {
      label: "ota_0",
      type: TYPE_APP,
      subtype: SUBTYPE_OTA_0,
      offset: APP_ALIGN,
      size: slotSize,
      flags: 0,
    },
    {
      label: "ota_1",
      type: TYPE_APP,
      subtype: SUBTYPE_OTA_0 + 1,
      offset: APP_ALIGN + slotSize,
      size: slotSize,
      flags: 0,
    },
  ];
}

function md5(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("md5").update(data).digest());
}

/** The table as gen_esp32part.py writes it: entries, the MD5 entry, 0xFF padding to 0xC00. */
export function encodePartitionTable(entries: PartitionEntry[]): Uint8Array {
  if ((entries.length + 1) * ENTRY_SIZE >= PARTITION_TABLE_MAX_LEN)
    throw otaError("flash", `partition table with ${entries.length} entries is too long`);
  const out = new Uint8Array(PARTITION_TABLE_MAX_LEN).fill(0xff);
  const view = new DataView(out.buffer);
  entries.forEach((entry, i) => {
    const at = i * ENTRY_SIZE;
    const label = utf8Encode(entry.label);
    if (label.length > 16)
      throw otaError("flash", `partition label "${entry.label}" exceeds 16 bytes`);
    view.setUint16(at, MAGIC, true);
    out[at + 2] = entry.type;
    out[at + 3] = entry.subtype;
    view.setUint32(at + 4, entry.offset, true);
    view.setUint32(at + 8, entry.size, true);
    out.fill(0, at + 12, at + 28);
    out.set(label, at + 12);
    view.setUint32(at + 28, entry.flags, true);
  });
  const md5At = entries.length * ENTRY_SIZE;
  view.setUint16(md5At, MAGIC_MD5, true);
  out.set(md5(out.subarray(0, md5At)), md5At + MD5_OFFSET);
  return out;
}

/**
 * Parses and verifies a table as esp_partition_table_verify does: entries with magic 0x50AA inside
 * the flash, at most one MD5 entry which must match, ended by an all-0xFF entry (not the first).
 * A table without an MD5 entry is accepted, as ESP-IDF accepts one made with --disable-md5sum.
 */
export function parsePartitionTable(bytes: Uint8Array, flashSize = 0xffffffff): PartitionEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: PartitionEntry[] = [];
  let md5Found = false;
  const maxEntries = Math.min(PARTITION_TABLE_MAX_LEN, bytes.length) / ENTRY_SIZE;
  for (let i = 0; i < maxEntries; i++) {
    const at = i * ENTRY_SIZE;
    const magic = view.getUint16(at, true);
    if (magic === MAGIC) {
      const offset = view.getUint32(at + 4, true);
      const size = view.getUint32(at + 8, true);
      if (offset > flashSize || size > flashSize - offset)
        throw otaError(
          "flash",
          `partition table: partition ${i} invalid - offset 0x${offset.toString(16)} size 0x${size.toString(16)} exceeds flash chip size 0x${flashSize.toString(16)}`,
        );
      const labelBytes = bytes.subarray(at + 12, at + 28);
      const end = labelBytes.indexOf(0);
      entries.push({
        label: utf8Decode(end < 0 ? labelBytes : labelBytes.subarray(0, end)),
        type: bytes[at + 2],
        subtype: bytes[at + 3],
        offset,
        size,
        flags: view.getUint32(at + 28, true),
      });
    } else if (magic === MAGIC_MD5) {
      if (md5Found) throw otaError("flash", "partition table: only one MD5 checksum is allowed");
      const expected = md5(bytes.subarray(0, at));
      const stored = bytes.subarray(at + MD5_OFFSET, at + ENTRY_SIZE);
      if (!expected.every((b, k) => b === stored[k]))
        throw otaError("flash", "partition table: incorrect MD5 checksum");
      md5Found = true;
    } else if (i !== 0 && magic === 0xffff && bytes[at + 2] === 0xff && bytes[at + 3] === 0xff) {
      return entries;
    } else {
      throw otaError(
        "flash",
        `partition table: partition ${i} invalid magic number 0x${magic.toString(16)}`,
      );
    }
  }
  throw otaError("flash", "partition table has no terminating entry, not valid");
}

/** Anything with a flash's read() and size: a FlashFile. */
export interface FlashReader {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export function readPartitionTable(flash: FlashReader): PartitionEntry[] {
  return parsePartitionTable(
    flash.read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_MAX_LEN),
    flash.size,
  );
}

/** The partition with this label, or a clear error. */
export function findPartition(table: PartitionEntry[], label: string): PartitionEntry {
  const found = table.find((p) => p.label === label);
  if (!found) throw otaError("flash", `the partition table has no "${label}" partition`);
  return found;
}

/**
 * The app's view (esp_partition_find_first, esp_ota_get_app_partition_count): OTA app partitions
 * by slot number, the first entry of each subtype, counted from ota_0 up to the first missing one.
 */
export function otaSlots(table: PartitionEntry[]): PartitionEntry[] {
  const slots: PartitionEntry[] = [];
  for (let n = 0; n < 16; n++) {
    const found = table.find((p) => p.type === TYPE_APP && p.subtype === SUBTYPE_OTA_0 + n);
    if (!found) break;
    slots.push(found);
  }
  return slots;
}

/** The otadata partition (data/ota) as the app finds it: the first one (esp_partition_find_first). */
export function otadataPartition(table: PartitionEntry[]): PartitionEntry {
  const found = table.find((p) => p.type === TYPE_DATA && p.subtype === SUBTYPE_DATA_OTA);
  if (!found) throw otaError("flash", "the partition table has no otadata partition");
  return found;
}

/** The factory app as the app finds it (esp_partition_find_first), if any. */
export function factoryPartition(table: PartitionEntry[]): PartitionEntry | undefined {
  return table.find((p) => p.type === TYPE_APP && p.subtype === SUBTYPE_FACTORY);
}

/** bootloader_state_t as bootloader_utility_load_partition_table fills it. */
export interface BootloaderPartitions {
  factory?: PartitionEntry;
  /** By subtype & 0x0F; only indexes below appCount are used (index_to_partition). */
  ota: (PartitionEntry | undefined)[];
  /** One per OTA app entry, duplicates and gaps included. */
  appCount: number;
  otaInfo?: PartitionEntry;
}

/**
 * The bootloader's view: one pass over the entries in table order, each one overwriting the
 * field it fills, so the last factory, otadata or ota_N entry wins; app_count counts every OTA
 * app entry.
 */
export function bootloaderPartitions(table: PartitionEntry[]): BootloaderPartitions {
  const state: BootloaderPartitions = { ota: [], appCount: 0 };
  for (const p of table) {
    if (p.type === TYPE_APP) {
      if (p.subtype === SUBTYPE_FACTORY) state.factory = p;
      else if ((p.subtype & 0xf0) === SUBTYPE_OTA_0) {
        state.ota[p.subtype & 0x0f] = p;
        state.appCount++;
      }
    } else if (p.type === TYPE_DATA && p.subtype === SUBTYPE_DATA_OTA) state.otaInfo = p;
  }
  return state;
}
