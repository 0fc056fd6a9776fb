// The key-value store in the nvs partition: an append-only log that survives a power cut at any
// byte of any write or erase.
//
// Each 4 KiB sector holds a 16-byte header { u32 magic "OKV1", u32 generation, u32 CRC32 of both,
// u8 state (0xFE in use, 0xFF still being filled by a compaction), 3 x 0xFF } and then records in
// 16-byte slots:
//   u8 slot count | u8 kind (1 set, 2 delete) | u8 key length | u8 0xFF | u16 value length |
//   key | value | u32 CRC32 of everything before it | 0xFF padding to the slot.
// The slot count goes to the flash in a write of its own before the rest. Once it is there the
// record's extent is known even if the rest was torn (a torn byte can only keep bits at 1, so the
// count reads as large as intended or larger), the record fails its CRC and is skipped, and the
// next record starts after it; a count still 0xFF means nothing of the record was written. So a
// torn record costs its slots and nothing else, and loading never fails.
//
// Sectors are used in generation order; later records win. When the newest sector is full a fresh
// one is started, keeping one erased sector in reserve for compaction: the oldest sector's records
// that are still current are copied into the reserve, whose header then flips to "in use" (one bit
// cleared); only then is the old sector's magic zeroed (so a torn erase cannot bring it back) and
// the sector erased. A compaction cut short leaves a sector still marked "being filled", which is
// ignored on load, so the reserve is back and the old sector still holds everything. A delete
// marker is dropped when its sector is compacted: that sector is the oldest, nothing older remains.
import { crc32 } from "../../src/core/hash/crc32";
import { otaError } from "../../src/core/errors";
import type { KeyValueStore } from "../../src/core/ports";
import type { FlashFile } from "./flash";
import { SECTOR_SIZE } from "./flash";
import { SUBTYPE_DATA_NVS, TYPE_DATA, readPartitionTable, type PartitionEntry } from "./partitions";

/** The limits of Moddable's Preference over NVS. */
export const MAX_KEY_LENGTH = 15;
export const MAX_VALUE_BYTES = 4000;

const MAGIC = 0x4f4b5631;
const SLOT = 16;
const SLOTS = SECTOR_SIZE / SLOT;
const FREE = 0xff;
const KIND_SET = 1;
const KIND_DELETE = 2;
const RECORD_HEADER = 6;
const CRC_SIZE = 4;
const STATE_AT = 12;
const STATE_IN_USE = 0xfe;

interface Sector {
  /** undefined: not part of the log (erased, torn header, or retired). */
  generation: number | undefined;
  /** First free slot. */
  used: number;
}

interface Latest {
  /** undefined: deleted. */
  value: string | undefined;
  sector: number;
  slot: number;
}

interface LogRecord {
  kind: number;
  key: string;
  value: string;
  /** The record as stored: copied forward unchanged when its sector is compacted. */
  bytes: Uint8Array;
}

interface RecordAt extends LogRecord {
  slot: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function crc(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

function encodeRecord(kind: number, key: Uint8Array, value: Uint8Array): Uint8Array {
  const length = RECORD_HEADER + key.length + value.length + CRC_SIZE;
  const slots = Math.ceil(length / SLOT);
  const out = new Uint8Array(slots * SLOT).fill(0xff);
  const view = new DataView(out.buffer);
  out[0] = slots;
  out[1] = kind;
  out[2] = key.length;
  view.setUint16(4, value.length, true);
  out.set(key, RECORD_HEADER);
  out.set(value, RECORD_HEADER + key.length);
  const end = length - CRC_SIZE;
  view.setUint32(end, crc(out.subarray(0, end)), true);
  return out;
}

/** The records of one sector image, and where its free space starts. */
function scanSector(bytes: Uint8Array): { records: RecordAt[]; used: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: RecordAt[] = [];
  let slot = 1;
  while (slot < SLOTS) {
    const count = bytes[slot * SLOT];
    if (count === FREE) break;
    if (count === 0 || slot + count > SLOTS) return { records, used: SLOTS };
    const at = slot * SLOT;
    const keyLength = bytes[at + 2];
    const valueLength = view.getUint16(at + 4, true);
    const end = RECORD_HEADER + keyLength + valueLength;
    const kind = bytes[at + 1];
    if (
      end + CRC_SIZE <= count * SLOT &&
      (kind === KIND_SET || kind === KIND_DELETE) &&
      view.getUint32(at + end, true) === crc(bytes.subarray(at, at + end))
    )
      records.push({
        slot,
        kind,
        key: decoder.decode(bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + keyLength)),
        value: decoder.decode(bytes.subarray(at + RECORD_HEADER + keyLength, at + end)),
        bytes: bytes.slice(at, at + count * SLOT),
      });
    slot += count;
  }
  return { records, used: slot };
}

function sectorHeader(generation: number, state: number): Uint8Array {
  const out = new Uint8Array(SLOT).fill(0xff);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, generation, true);
  view.setUint32(8, crc(out.subarray(0, 8)), true);
  out[STATE_AT] = state;
  return out;
}

/** The generation of a sector in use; undefined for one erased, torn, retired or half-filled. */
function headerGeneration(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, SLOT);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  if (view.getUint32(8, true) !== crc(bytes.subarray(0, 8))) return undefined;
  if (bytes[STATE_AT] !== STATE_IN_USE) return undefined;
  return view.getUint32(4, true);
}

export class FlashKeyValueStore implements KeyValueStore {
  private readonly sectors: Sector[] = [];
  private readonly latest = new Map<string, Latest>();

  /** Loads the log from the partition (the "nvs" data partition by default). */
  constructor(
    private readonly flash: FlashFile,
    private readonly partition: PartitionEntry = nvsPartition(flash),
  ) {
    if (partition.size < 2 * SECTOR_SIZE || partition.size % SECTOR_SIZE !== 0)
      throw otaError(
        "flash",
        `nvs partition of ${partition.size} bytes: at least two whole sectors needed`,
      );
    for (let i = 0; i < partition.size / SECTOR_SIZE; i++)
      this.sectors.push({ generation: undefined, used: 0 });
    const order = this.sectors
      .map((sector, i) => {
        const bytes = flash.read(this.sectorOffset(i), SECTOR_SIZE);
        sector.generation = headerGeneration(bytes);
        return { i, bytes, generation: sector.generation };
      })
      .filter((s) => s.generation !== undefined)
      .sort((a, b) => a.generation! - b.generation! || a.i - b.i);
    for (const { i, bytes } of order) {
      const { records, used } = scanSector(bytes);
      this.sectors[i].used = used;
      for (const r of records) this.apply(r, i, r.slot);
    }
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.latest.get(key)?.value;
  }

  async set(key: string, value: string): Promise<void> {
    const keyBytes = checkKey(key);
    const valueBytes = encoder.encode(value);
    if (valueBytes.length > MAX_VALUE_BYTES)
      throw otaError(
        "internal",
        `value for key "${key}" is ${valueBytes.length} bytes; the limit is ${MAX_VALUE_BYTES} (NVS)`,
      );
    if (this.latest.get(key)?.value === value) return;
    this.append({
      kind: KIND_SET,
      key,
      value,
      bytes: encodeRecord(KIND_SET, keyBytes, valueBytes),
    });
  }

  async delete(key: string): Promise<void> {
    const keyBytes = checkKey(key);
    if (this.latest.get(key)?.value === undefined) return;
    const bytes = encodeRecord(KIND_DELETE, keyBytes, new Uint8Array(0));
    this.append({ kind: KIND_DELETE, key, value: "", bytes });
  }

  /** Current keys, for tools and tests. */
  keys(): string[] {
    const out: string[] = [];
    this.latest.forEach((entry, key) => {
      if (entry.value !== undefined) out.push(key);
    });
    return out.sort();
  }

  private apply(record: LogRecord, sector: number, slot: number): void {
    this.latest.set(record.key, {
      value: record.kind === KIND_SET ? record.value : undefined,
      sector,
      slot,
    });
  }

  private sectorOffset(index: number): number {
    return this.partition.offset + index * SECTOR_SIZE;
  }

  /** Sectors of the log, oldest first. */
  private inUse(): number[] {
    const out: number[] = [];
    this.sectors.forEach((s, i) => {
      if (s.generation !== undefined) out.push(i);
    });
    return out.sort((a, b) => this.sectors[a].generation! - this.sectors[b].generation! || a - b);
  }

  private append(record: LogRecord): void {
    // Each pass writes, starts a sector, or compacts one; compacting every sector once and still
    // finding no room means the live data does not fit.
    for (let compactions = 0; compactions <= this.sectors.length; compactions++) {
      const used = this.inUse();
      const head = used[used.length - 1];
      if (head !== undefined && this.sectors[head].used + record.bytes[0] <= SLOTS) {
        this.writeRecord(head, record);
        return;
      }
      const free = this.sectors.length - used.length;
      if (free >= 2 || (free === 1 && used.length === 0)) this.startSector(STATE_IN_USE);
      else if (!this.compactOldest(used[0], free)) break;
    }
    throw otaError("flash", "the key-value store is full");
  }

  private writeRecord(sector: number, record: LogRecord): void {
    const slot = this.sectors[sector].used;
    const at = this.sectorOffset(sector) + slot * SLOT;
    this.sectors[sector].used += record.bytes[0];
    this.flash.write(at, record.bytes.subarray(0, 1));
    this.flash.write(at + 1, record.bytes.subarray(1));
    this.apply(record, sector, slot);
  }

  /** Starts the next generation in a sector outside the log, erasing whatever it holds. */
  private startSector(state: number): number {
    const used = this.inUse();
    const head = used[used.length - 1];
    const generation = head === undefined ? 0 : (this.sectors[head].generation! + 1) >>> 0;
    const index = this.sectors.findIndex((s) => s.generation === undefined);
    const at = this.sectorOffset(index);
    this.flash.erase(at, SECTOR_SIZE);
    this.flash.write(at, sectorHeader(generation, state));
    this.sectors[index] = { generation, used: 1 };
    return index;
  }

  /**
   * Copies the oldest sector's current records into the reserve and frees the sector. With no
   * reserve left (a compaction was cut between its copy and freeing the old sector) it can only
   * free a sector with nothing current in it, which is exactly what such a cut leaves behind.
   */
  private compactOldest(sector: number, free: number): boolean {
    const at = this.sectorOffset(sector);
    const { records } = scanSector(this.flash.read(at, SECTOR_SIZE));
    const live = records.filter((r) => {
      const latest = this.latest.get(r.key);
      return latest?.sector === sector && latest.slot === r.slot && latest.value !== undefined;
    });
    if (live.length > 0) {
      if (free === 0) return false;
      const target = this.startSector(0xff);
      // They fit: they came out of one sector.
      for (const r of live) this.writeRecord(target, r);
      this.flash.write(this.sectorOffset(target) + STATE_AT, new Uint8Array([STATE_IN_USE]));
    }
    this.flash.write(at, new Uint8Array(4));
    this.sectors[sector] = { generation: undefined, used: 0 };
    this.latest.forEach((entry, key) => {
      if (entry.sector === sector) this.latest.delete(key);
    });
    this.flash.erase(at, SECTOR_SIZE);
    return true;
  }
}

function checkKey(key: string): Uint8Array {
  const bytes = encoder.encode(key);
  if (bytes.length === 0 || bytes.length > MAX_KEY_LENGTH)
    throw otaError(
      "internal",
      `key "${key}" must be 1 to ${MAX_KEY_LENGTH} characters (the NVS limit), not ${bytes.length}`,
    );
  return bytes;
}

/** The nvs data partition of the flash's partition table. */
export function nvsPartition(flash: FlashFile): PartitionEntry {
  const found = readPartitionTable(flash).find(
    (p) => p.type === TYPE_DATA && p.subtype === SUBTYPE_DATA_NVS,
  );
  if (!found) throw otaError("flash", "the partition table has no nvs partition");
  return found;
}
