// The otadata partition: two flash sectors, each starting with an esp_ota_select_entry_t
// { u32 ota_seq; u8 seq_label[20]; u32 ota_state; u32 crc } (esp_flash_partitions.h). The rules
// here are ESP-IDF's, function for function: bootloader_common_ota_select_* and
// bootloader_common_select_otadata (bootloader_common_loader.c), and rewrite_ota_seq,
// esp_rewrite_ota_data, esp_ota_current_ota_is_workable and esp_ota_get_state_partition
// (app_update/esp_ota_ops.c). All sequence arithmetic is on uint32, as in C.
import { crc32 } from "../../src/core/hash/crc32";
import { otaError } from "../../src/core/errors";
import type { ImageState } from "../../src/core/ports";
import type { FlashFile } from "./flash";
import { SECTOR_SIZE } from "./flash";
import type { PartitionEntry } from "./partitions";

/** esp_ota_img_states_t. */
export const OtaState = {
  NEW: 0x0,
  PENDING_VERIFY: 0x1,
  VALID: 0x2,
  INVALID: 0x3,
  ABORTED: 0x4,
  UNDEFINED: 0xffffffff,
} as const;

export const ENTRY_SIZE = 32;
const UINT32_MAX = 0xffffffff;

export interface OtaSelectEntry {
  seq: number;
  /** seq_label[20]: unused by ESP-IDF, kept as read (0xFF after an erase). */
  label: Uint8Array;
  state: number;
  crc: number;
}

export type TwoOtadata = [OtaSelectEntry, OtaSelectEntry];

/** bootloader_common_ota_select_crc: esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4). */
export function otaSelectCrc(seq: number): number {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, seq >>> 0, true);
  return crc32(bytes, UINT32_MAX) >>> 0;
}

export function decodeEntry(bytes: Uint8Array): OtaSelectEntry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, ENTRY_SIZE);
  return {
    seq: view.getUint32(0, true),
    label: bytes.slice(4, 24),
    state: view.getUint32(24, true),
    crc: view.getUint32(28, true),
  };
}

export function encodeEntry(entry: OtaSelectEntry): Uint8Array {
  const out = new Uint8Array(ENTRY_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, entry.seq >>> 0, true);
  out.set(entry.label.subarray(0, 20), 4);
  view.setUint32(24, entry.state >>> 0, true);
  view.setUint32(28, entry.crc >>> 0, true);
  return out;
}

/** A fresh entry as set_actual_ota_seq builds it: memset 0xFF, then the fields. */
export function newEntry(seq: number, state: number): OtaSelectEntry {
  return { seq: seq >>> 0, label: new Uint8Array(20).fill(0xff), state, crc: otaSelectCrc(seq) };
}

/** bootloader_common_ota_select_invalid: empty, or marked INVALID/ABORTED (the CRC is not looked at). */
export function entryInvalid(entry: OtaSelectEntry): boolean {
  return (
    entry.seq === UINT32_MAX || entry.state === OtaState.INVALID || entry.state === OtaState.ABORTED
  );
}

/** bootloader_common_ota_select_valid: not invalid, and the CRC matches. */
export function entryValid(entry: OtaSelectEntry): boolean {
  return !entryInvalid(entry) && entry.crc === otaSelectCrc(entry.seq);
}

/** Empty (seq all 0xFF) or a CRC that does not match: the "initial contents" test of the bootloader. */
export function entryBlankOrCorrupt(entry: OtaSelectEntry): boolean {
  return entry.seq === UINT32_MAX || entry.crc !== otaSelectCrc(entry.seq);
}

/** bootloader_common_select_otadata: the higher (or lower) seq of the valid ones; -1 if none. */
export function selectOtadata(two: TwoOtadata, valid: [boolean, boolean], max: boolean): number {
  if (valid[0] && valid[1]) {
    const pick = max ? Math.max(two[0].seq, two[1].seq) : Math.min(two[0].seq, two[1].seq);
    return pick === two[0].seq ? 0 : 1;
  }
  if (valid[0]) return 0;
  if (valid[1]) return 1;
  return -1;
}

/** bootloader_common_get_active_otadata. */
export function activeOtadata(two: TwoOtadata): number {
  return selectOtadata(two, [entryValid(two[0]), entryValid(two[1])], true);
}

/** The OTA slot an entry selects: (ota_seq - 1) % ota_app_count, in uint32. */
export function slotOfSeq(seq: number, appCount: number): number {
  return ((seq - 1) >>> 0) % appCount;
}

export function readOtadata(flash: FlashFile, partition: PartitionEntry): TwoOtadata {
  if (partition.size < 2 * SECTOR_SIZE)
    throw otaError(
      "flash",
      `ota_info partition size ${partition.size} is too small (minimum ${2 * SECTOR_SIZE} bytes)`,
    );
  return [
    decodeEntry(flash.read(partition.offset, ENTRY_SIZE)),
    decodeEntry(flash.read(partition.offset + SECTOR_SIZE, ENTRY_SIZE)),
  ];
}

/** write_otadata (bootloader) and the tail of rewrite_ota_seq (app): erase the sector, write 32 bytes. */
export function writeOtadataSector(
  flash: FlashFile,
  partition: PartitionEntry,
  sector: number,
  entry: OtaSelectEntry,
): void {
  const at = partition.offset + sector * SECTOR_SIZE;
  flash.erase(at, SECTOR_SIZE);
  flash.write(at, encodeEntry(entry));
}

/** rewrite_ota_seq: sets seq and its CRC in two[sector] (other fields as they are) and writes it. */
function rewriteOtaSeq(
  flash: FlashFile,
  partition: PartitionEntry,
  two: TwoOtadata,
  seq: number,
  sector: number,
): void {
  two[sector].seq = seq >>> 0;
  two[sector].crc = otaSelectCrc(seq);
  writeOtadataSector(flash, partition, sector, two[sector]);
}

/**
 * compute_ota_seq_for_target_slot: the smallest (slot + 1) % count + i * count not below the
 * current seq. ESP-IDF loops over i; this is the same value in closed form. Near the top of the
 * uint32 range it yields 0xFFFFFFFF, an empty entry, exactly as the C code does.
 */
export function seqForSlot(currentSeq: number, slot: number, appCount: number): number {
  const base = (slot + 1) % appCount;
  const i = currentSeq > base ? Math.ceil((currentSeq - base) / appCount) : 0;
  return (base + i * appCount) >>> 0;
}

/**
 * esp_rewrite_ota_data (esp_ota_set_boot_partition after the image check), with rollback enabled:
 * the new entry, state NEW, goes to the sector that is not active, or replaces the active one in
 * place when it already selects this slot; with no valid entry it goes to sector 0 as slot + 1.
 */
export function setBootSlot(
  flash: FlashFile,
  partition: PartitionEntry,
  slot: number,
  appCount: number,
): void {
  if (slot < 0 || slot >= appCount)
    throw otaError("flash", `OTA slot ${slot} does not exist (${appCount} slots)`);
  const two = readOtadata(flash, partition);
  const active = activeOtadata(two);
  let next: number;
  let seq: number;
  if (active !== -1) {
    if (slotOfSeq(two[active].seq, appCount) === slot) {
      next = active;
      seq = two[active].seq;
    } else {
      next = active === 0 ? 1 : 0;
      seq = seqForSlot(two[active].seq, slot, appCount);
    }
  } else {
    next = 0;
    seq = slot + 1;
  }
  two[next].state = OtaState.NEW;
  rewriteOtaSeq(flash, partition, two, seq, next);
}

/**
 * esp_ota_current_ota_is_workable: rewrites the state of the active entry in place (VALID, or
 * INVALID). Note that it is the active entry, whichever slot is actually running. The rollback-
 * possible check of the INVALID case needs the images and is the caller's. Returns whether it
 * wrote (marking an entry VALID that already is writes nothing, and burns no eFuse).
 */
export function markActive(
  flash: FlashFile,
  partition: PartitionEntry,
  valid: boolean,
  appCount: number,
): boolean {
  const two = readOtadata(flash, partition);
  const active = activeOtadata(two);
  if (active === -1 || appCount === 0)
    throw otaError("flash", "Running firmware is factory: otadata has no active entry");
  if (valid && two[active].state === OtaState.VALID) return false;
  two[active].state = valid ? OtaState.VALID : OtaState.INVALID;
  rewriteOtaSeq(flash, partition, two, two[active].seq, active);
  return true;
}

/**
 * esp_ota_invalidate_inactive_ota_data_slot, which esp_ota_begin calls (v5.5.1 and later, v6.0):
 * erases the otadata sector that is not active when it is valid and selects a slot other than
 * the running one, so that a rollback can never select an image that was never activated.
 * Returns whether it erased (ESP_OK) or left otadata alone (ESP_FAIL, which esp_ota_begin ignores).
 */
export function invalidateInactiveOtadata(
  flash: FlashFile,
  partition: PartitionEntry,
  appCount: number,
  runningSlot: number,
): boolean {
  const two = readOtadata(flash, partition);
  const active = activeOtadata(two);
  if (active === -1 || appCount === 0) return false;
  const inactive = active === 0 ? 1 : 0;
  if (entryBlankOrCorrupt(two[inactive])) return false;
  if (slotOfSeq(two[inactive].seq, appCount) === runningSlot) return false;
  flash.erase(partition.offset + inactive * SECTOR_SIZE, SECTOR_SIZE);
  return true;
}

/**
 * esp_ota_get_state_partition: the state of the first entry (sector 0, then 1) that maps to the
 * slot and has a matching CRC, whatever its state; undefined (ESP_ERR_NOT_FOUND) if none.
 */
export function stateOfSlot(two: TwoOtadata, slot: number, appCount: number): number | undefined {
  for (const entry of two)
    if (slotOfSeq(entry.seq, appCount) === slot && entry.crc === otaSelectCrc(entry.seq))
      return entry.state;
  return undefined;
}

/** esp_ota_img_states_t in the ports' words; a value outside the enum reads as "undefined". */
export function stateName(state: number | undefined): ImageState {
  switch (state) {
    case OtaState.NEW:
      return "new";
    case OtaState.PENDING_VERIFY:
      return "pending-verify";
    case OtaState.VALID:
      return "valid";
    case OtaState.INVALID:
      return "invalid";
    case OtaState.ABORTED:
      return "aborted";
    default:
      return "undefined";
  }
}
