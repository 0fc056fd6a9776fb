// Boot control of the Linux target, with the two slots in files and otadata reduced to a JSON file
// {boot, states}. bootloader() plays ESP-IDF's second-stage bootloader with rollback enabled, at
// every start of the app (and at every emulated reboot): an image still NEW becomes
// PENDING_VERIFY, one still PENDING_VERIFY at the next boot is ABORTED and the other slot boots,
// as do INVALID and ABORTED images. The running "firmware" is the app itself; what changes from
// boot to boot is the slot, its app descriptor (version) and its state, which is what the agent
// sees of a board.
import { otaError } from "../../src/core/errors";
import { createDigest } from "../../src/core/hash/index";
import {
  APP_DESC_MAGIC,
  APP_DESC_SIZE,
  EspImageVerifier,
  FIELD,
  IMAGE_MAGIC,
  IMAGE_PREFIX_SIZE,
  SEGMENT_HEADER_SIZE,
  IMAGE_HEADER_SIZE,
  parseImageHeader,
  type ImageHeader,
} from "../../src/core/image/esp-image";
import type { BootControl, ImageState, NativeDigests, RunningImage } from "../../src/core/ports";
import { utf8Encode } from "../../src/core/util/bytes";
import {
  ensureDirectory,
  exists,
  fileLength,
  readBytes,
  readText,
  writeBytes,
  writeText,
} from "./files";

export const SLOTS = ["ota_0", "ota_1"];

export interface Otadata {
  boot: string;
  states: Record<string, ImageState>;
}

export interface LinFlash {
  /** Directory of ota_0.bin, ota_1.bin and otadata.json, ending with "/". */
  directory: string;
  slotSize: number;
}

export interface Booted {
  slot: string;
  header: ImageHeader;
  /** The slot the bootloader refused this time (a rollback), if any. */
  refused?: { slot: string; state: ImageState };
}

export function slotPath(flash: LinFlash, slot: string): string {
  return flash.directory + slot + ".bin";
}

export function otherSlot(slot: string): string {
  return slot === SLOTS[0] ? SLOTS[1] : SLOTS[0];
}

function otadataPath(flash: LinFlash): string {
  return flash.directory + "otadata.json";
}

export function readOtadata(flash: LinFlash): Otadata {
  const text = readText(otadataPath(flash));
  if (text !== undefined) {
    try {
      const value = JSON.parse(text) as Otadata;
      if (SLOTS.indexOf(value.boot) >= 0 && typeof value.states === "object") return value;
    } catch {
      // a torn otadata file reads as blank, as a corrupt otadata sector does
    }
  }
  return { boot: SLOTS[0], states: {} };
}

function writeOtadata(flash: LinFlash, otadata: Otadata): void {
  writeText(otadataPath(flash), JSON.stringify(otadata));
}

function headerOf(flash: LinFlash, slot: string): ImageHeader | undefined {
  try {
    return parseImageHeader(readBytes(slotPath(flash, slot), 0, IMAGE_PREFIX_SIZE));
  } catch {
    return undefined;
  }
}

function putString(out: Uint8Array, at: number, size: number, text: string): void {
  out.set(utf8Encode(text).subarray(0, size - 1), at);
}

/** The header and app descriptor of the image the desktop build starts from. */
export function factoryHeader(version: string, project: string): Uint8Array {
  const out = new Uint8Array(IMAGE_PREFIX_SIZE);
  const view = new DataView(out.buffer);
  out[0] = IMAGE_MAGIC;
  out[FIELD.segmentCount] = 1;
  view.setUint32(IMAGE_HEADER_SIZE + 4, SEGMENT_HEADER_SIZE + APP_DESC_SIZE, true);
  view.setUint32(FIELD.descMagic, APP_DESC_MAGIC, true);
  putString(out, FIELD.version, 32, version);
  putString(out, FIELD.project, 32, project);
  return out;
}

/** ESP-IDF's boot selection, with rollback, over the files. */
export function bootloader(flash: LinFlash, factory: { version: string; project: string }): Booted {
  ensureDirectory(flash.directory);
  if (!exists(slotPath(flash, SLOTS[0])) && !exists(slotPath(flash, SLOTS[1])))
    writeBytes(slotPath(flash, SLOTS[0]), 0, factoryHeader(factory.version, factory.project));
  const otadata = readOtadata(flash);
  let slot = otadata.boot;
  let refused: Booted["refused"];
  const state = otadata.states[slot];
  if (
    state === "pending-verify" ||
    state === "invalid" ||
    state === "aborted" ||
    !headerOf(flash, slot)
  ) {
    const final: ImageState = state === "pending-verify" ? "aborted" : state || "invalid";
    refused = { slot, state: final };
    otadata.states[slot] = final;
    slot = otherSlot(slot);
    otadata.boot = slot;
  } else if (state === "new") {
    otadata.states[slot] = "pending-verify";
  }
  const header = headerOf(flash, slot);
  if (!header) throw otaError("image-invalid", `no bootable image in ${SLOTS.join(" or ")}`);
  writeOtadata(flash, otadata);
  return { slot, header, refused };
}

/** What esp_ota_set_boot_partition checks: the whole image, structure, checksum and hash. */
function verifySlot(flash: LinFlash, slot: string, digests: NativeDigests | undefined): void {
  const path = slotPath(flash, slot);
  const length = fileLength(path);
  const verifier = new EspImageVerifier(() => createDigest("sha256", digests));
  // Bytes after the image (an older, longer image's tail) fall in the verifier's trailer.
  for (let at = 0; at < length; at += 4096) {
    verifier.update(readBytes(path, at, Math.min(4096, length - at)));
  }
  verifier.finish(length);
}

export function fileBootControl(
  flash: LinFlash,
  booted: Booted,
  restart: () => void,
  digests?: NativeDigests,
): BootControl {
  const update = (change: (otadata: Otadata) => void) => {
    const otadata = readOtadata(flash);
    change(otadata);
    writeOtadata(flash, otadata);
  };
  const reboot = (): Promise<void> =>
    new Promise<void>(() => {
      restart();
    });
  return {
    async running(): Promise<RunningImage> {
      return {
        slot: booted.slot,
        version: booted.header.version,
        project: booted.header.project,
        secureVersion: booted.header.secureVersion,
        // No otadata entry: the image was written over serial, and ESP-IDF's bootloader boots it
        // and never rolls it back (esp_ota_get_state_partition: ESP_ERR_NOT_FOUND).
        state: readOtadata(flash).states[booted.slot] || "valid",
      };
    },
    async setNextBoot(slot: string): Promise<void> {
      if (slot !== otherSlot(booted.slot))
        throw otaError("flash", `"${slot}" is not the update slot (${otherSlot(booted.slot)})`);
      verifySlot(flash, slot, digests);
      update((otadata) => {
        otadata.boot = slot;
        otadata.states[slot] = "new";
      });
    },
    async markValid(): Promise<void> {
      update((otadata) => {
        otadata.states[booted.slot] = "valid";
      });
    },
    async markInvalidAndReboot(): Promise<void> {
      const other = otherSlot(booted.slot);
      if (!headerOf(flash, other))
        throw otaError(
          "flash",
          "rollback refused: no other valid image (ESP_ERR_OTA_ROLLBACK_FAILED)",
        );
      update((otadata) => {
        otadata.states[booted.slot] = "invalid";
        otadata.boot = other;
      });
      return reboot();
    },
    reboot,
  };
}
