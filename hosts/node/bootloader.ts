// The second-stage bootloader of ESP-IDF v6.0, built with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE,
// and with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK when the board is given its eFuses:
//   bootloader_start.c        call_start_cpu0: load the partition table, select, load;
//   bootloader_utility.c      bootloader_utility_get_selected_boot_partition and
//                             bootloader_utility_load_boot_image (the fallback order);
//   esp_image_format.c        image_load in ESP_IMAGE_LOAD mode (image-format.ts).
import type { ImageState } from "../../src/core/ports";
import { ESP32, type Chip } from "./chips";
import type { SimEfuses } from "./efuse";
import { flashChipProblem, type FlashFile } from "./flash";
import {
  appDescription,
  hex,
  ImageInvalid,
  loadImage,
  type AppImageInfo,
  type BootSignatureCheck,
} from "./image-format";
import {
  bootloaderPartitions,
  readPartitionTable,
  TYPE_APP,
  TYPE_DATA,
  type PartitionEntry,
} from "./partitions";
import {
  activeOtadata,
  entryBlankOrCorrupt,
  entryInvalid,
  entryValid,
  newEntry,
  OtaState,
  readOtadata,
  selectOtadata,
  slotOfSeq,
  stateName,
  stateOfSlot,
  writeOtadataSector,
} from "./otadata";

export { ESP32, ESP32_S3, type Chip } from "./chips";
export {
  appDescription,
  verifyAppImage,
  type AppImageInfo,
  type AppSignatureVerifier,
  type BootSignatureCheck,
  type Verification,
} from "./image-format";

/** The ESP-IDF release whose bootloader and esp_ota_ops this simulator follows. */
export const MODELLED_IDF_VERSION = "v6.0.2";

export interface BootResult {
  /** Label of the partition that boots: "ota_0" or "ota_1" in the simulator's layout. */
  slot: string;
  /** OTA slot number (subtype - 0x10), -1 for a factory app. */
  slotIndex: number;
  offset: number;
  size: number;
  image: AppImageInfo;
  /** esp_ota_get_state_partition of the booted slot after the bootloader's otadata writes. */
  state: ImageState;
  /** What the bootloader did, in the ESP-IDF bootloader's words ("I boot: ..."). */
  log: string[];
}

export interface BootOptions {
  chip?: Chip;
  /** The chip's eFuses: given, the bootloader is built with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK. */
  efuse?: SimEfuses;
  /** Signed-app checks at boot (CONFIG_SECURE_SIGNED_ON_BOOT), with the eFuses' keys. */
  verifySignature?: BootSignatureCheck;
}

/** bootloader_utility's index of the factory app; OTA slots are 0.. */
const FACTORY_INDEX = -1;

export interface NoBootableImageError extends Error {
  code: "no-bootable-image";
  log: string[];
}

/** The board is bricked: a real one would reset and fail the same way forever. */
export function isNoBootableImage(error: unknown): error is NoBootableImageError {
  return error instanceof Error && (error as NoBootableImageError).code === "no-bootable-image";
}

function noBootableImage(reason: string, log: string[]): NoBootableImageError {
  const error = new Error(`no bootable image: ${reason}`) as NoBootableImageError;
  error.code = "no-bootable-image";
  error.log = log;
  return error;
}

function usage(p: PartitionEntry): string {
  if (p.type === TYPE_APP) {
    if (p.subtype === 0x00) return "factory app";
    if (p.subtype === 0x20) return "test app";
    return (p.subtype & 0xf0) === 0x10 ? "OTA app" : "Unknown app";
  }
  if (p.type === TYPE_DATA) {
    const names: Record<number, string> = { 0: "OTA data", 1: "RF data", 2: "WiFi data" };
    return names[p.subtype] ?? "Unknown data";
  }
  return "unknown";
}

/** The chip record of the flash file (its bootloader's header) refuses a board of another chip. */
export function wrongChipError(message: string): Error {
  const error = new Error(message) as Error & { code: string };
  error.code = "wrong-chip";
  return error;
}

/** One power-on: selects and validates the app to run, writing otadata as ESP-IDF does. */
export function boot(flash: FlashFile, options: BootOptions = {}): BootResult {
  const chip = options.chip ?? ESP32;
  const efuse = options.efuse;
  const log: string[] = [`I boot: ESP-IDF ${MODELLED_IDF_VERSION} 2nd stage bootloader`];
  const wrongChip = flashChipProblem(flash, chip);
  if (wrongChip) throw wrongChipError(wrongChip);
  let table: PartitionEntry[];
  try {
    table = readPartitionTable(flash);
  } catch (error) {
    log.push(`E boot: ${(error as Error).message}`, "E boot: load partition table error!");
    throw noBootableImage("load partition table error", log);
  }
  log.push(
    "I boot: Partition Table:",
    "I boot: ## Label            Usage          Type ST Offset   Length",
  );
  table.forEach((p, i) =>
    log.push(
      `I boot: ${String(i).padStart(2)} ${p.label.padEnd(16)} ${usage(p).padEnd(16)} ${hex(p.type, 2)} ${hex(p.subtype, 2)} ${hex(p.offset, 8)} ${hex(p.size, 8)}`,
    ),
  );
  log.push("I boot: End of partition table");

  const bs = bootloaderPartitions(table);
  const { factory, appCount } = bs;
  const otadata = bs.otaInfo;
  // index_to_partition: OTA indexes at or past app_count give no partition.
  const partitionAt = (index: number) =>
    index === FACTORY_INDEX ? factory : index < appCount ? bs.ota[index] : undefined;
  /** check_anti_rollback: without anti-rollback every app passes. */
  const secureVersionOk = (part: PartitionEntry | undefined): boolean => {
    if (!efuse) return true;
    const desc = part && appDescription(flash, part);
    return desc !== undefined && efuse.checkSecureVersion(desc.secureVersion);
  };
  /** update_anti_rollback: burns the eFuse up to the app's secure_version. */
  const raiseSecureVersion = (part: PartitionEntry | undefined): void => {
    const desc = part && appDescription(flash, part);
    if (efuse && desc) efuse.updateSecureVersion(desc.secureVersion);
  };
  if (efuse)
    log.push(
      "I boot: Enabled a check secure version of app for anti rollback",
      `I boot: Secure version (from eFuse) = ${efuse.readSecureVersion()}`,
    );

  // bootloader_utility_get_selected_boot_partition
  let start = FACTORY_INDEX;
  let initialContents = false;
  if (otadata) {
    let two;
    try {
      two = readOtadata(flash, otadata);
    } catch (error) {
      log.push(`E boot: ${(error as Error).message}`);
      throw noBootableImage("otadata unreadable", log);
    }
    for (let i = 0; i < 2; i++)
      if (two[i].state === OtaState.PENDING_VERIFY) {
        log.push(`D boot: otadata[${i}] is marking as ABORTED`);
        two[i].state = OtaState.ABORTED;
        writeOtadataSector(flash, otadata, i, two[i]);
      }
    let selecting: boolean;
    if (!efuse) {
      selecting = !((entryInvalid(two[0]) && entryInvalid(two[1])) || appCount === 0);
      if (!selecting) {
        if (factory) {
          log.push("I boot: Defaulting to factory image");
        } else {
          log.push("I boot: No factory image, trying OTA 0");
          start = 0;
          initialContents = entryBlankOrCorrupt(two[0]) && entryBlankOrCorrupt(two[1]);
        }
      }
    } else {
      // With anti-rollback there is no factory app: a blank otadata boots from index -1 onwards.
      selecting = !(entryBlankOrCorrupt(two[0]) && entryBlankOrCorrupt(two[1]));
      if (!selecting) {
        log.push("I boot: otadata[0..1] in initial state");
        initialContents = true;
      }
    }
    if (selecting) {
      // get_active_otadata_with_check_anti_rollback: an entry whose app is below the eFuse is
      // not a candidate.
      const candidates: [boolean, boolean] = [0, 1].map(
        (i) =>
          entryValid(two[i]) &&
          (!efuse || secureVersionOk(partitionAt(slotOfSeq(two[i].seq, appCount)))),
      ) as [boolean, boolean];
      const active = efuse ? selectOtadata(two, candidates, true) : activeOtadata(two);
      if (active !== -1) {
        start = slotOfSeq(two[active].seq, appCount);
        log.push(
          `D boot: Active otadata[${active}]`,
          `D boot: Mapping seq ${(two[active].seq - 1) >>> 0} -> OTA slot ${start}`,
        );
        if (two[active].state === OtaState.NEW) {
          log.push(`D boot: otadata[${active}] is selected as new and marked PENDING_VERIFY state`);
          two[active].state = OtaState.PENDING_VERIFY;
          writeOtadataSector(flash, otadata, active, two[active]);
        }
        if (two[active].state === OtaState.VALID) raiseSecureVersion(partitionAt(start));
      } else if (factory) {
        log.push("E boot: ota data partition invalid, falling back to factory");
      } else {
        log.push("E boot: ota data partition invalid and no factory, will try all partitions");
      }
    }
  }

  // bootloader_utility_load_boot_image: backwards from the selected index down to the factory
  // app, then forwards through the other OTA slots.
  const order: number[] = [];
  for (let index = start; index >= FACTORY_INDEX; index--) order.push(index);
  for (let index = start + 1; index < appCount; index++) order.push(index);
  for (const index of order) {
    const part = partitionAt(index);
    if (!part || part.size === 0) continue;
    log.push(
      `D boot: Trying partition index ${index} offs 0x${hex(part.offset)} size 0x${hex(part.size)}`,
    );
    let image: AppImageInfo | undefined;
    if (secureVersionOk(part)) {
      try {
        image = loadImage(flash, part, chip, log, {
          load: true,
          efuse,
          verifySignature: options.verifySignature,
        });
      } catch (error) {
        if (!(error instanceof ImageInvalid)) throw error;
        log.push(`E esp_image: ${error.reason}`);
      }
    } else {
      log.push(`E boot: the app's secure_version is below the eFuse's (anti-rollback)`);
    }
    if (!image) {
      log.push(
        index === FACTORY_INDEX
          ? "E boot: Factory app partition is not bootable"
          : `E boot: OTA app partition slot ${index} is not bootable`,
      );
      continue;
    }
    log.push(`I boot: Loaded app from partition at offset 0x${hex(part.offset)}`);
    // set_actual_ota_seq: a board fresh from the factory (otadata blank) records what it booted.
    if (index > FACTORY_INDEX && initialContents && otadata) {
      writeOtadataSector(flash, otadata, 0, newEntry(index + 1, OtaState.VALID));
      log.push(`I boot: Set actual ota_seq=${index + 1} in otadata[0]`);
      raiseSecureVersion(part);
    }
    const state =
      index === FACTORY_INDEX || !otadata
        ? undefined
        : stateOfSlot(readOtadata(flash, otadata), index, appCount);
    return {
      slot: part.label,
      slotIndex: index,
      offset: part.offset,
      size: part.size,
      image,
      state: stateName(state),
      log,
    };
  }
  log.push("E boot: No bootable app partitions in the partition table");
  throw noBootableImage("No bootable app partitions in the partition table", log);
}
