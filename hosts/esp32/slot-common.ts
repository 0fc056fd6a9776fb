// What every Moddable slot writer shares: the argument checks ESP-IDF's esp_ota_begin and
// esp_ota_write make, and the step that makes the written slot the next boot.
import { otaError } from "../../src/core/errors";
import type { SlotWriter } from "../../src/core/ports";

const IMAGE_MAGIC = 0xe9;

/** A slot writer whose image can be made the next boot (esp_ota_end + esp_ota_set_boot_partition). */
export interface StagedSlot extends SlotWriter {
  /** Validates the image in the slot and makes it the next boot; it does not restart. */
  stage(): void;
}

export function checkBegin(slot: SlotWriter, offset: number, totalSize: number): void {
  if (!(totalSize > 0 && totalSize <= slot.size && Math.floor(totalSize) === totalSize))
    throw otaError(
      "offer-too-large",
      `an image of ${totalSize} bytes does not fit ${slot.name} (${slot.size} bytes)`,
    );
  if (
    !(offset >= 0 && offset <= totalSize && Math.floor(offset) === offset) ||
    offset % slot.sectorSize !== 0
  )
    throw otaError(
      "internal",
      `resume offset ${offset} is not a multiple of ${slot.sectorSize} within the ${totalSize}-byte image`,
    );
}

/** The bounds and first-byte checks of esp_ota_write, made before anything reaches the flash. */
export function checkWrite(
  slot: SlotWriter,
  position: number,
  total: number,
  data: Uint8Array,
): void {
  if (position + data.length > total)
    throw otaError(
      "body-long",
      `${position + data.length} bytes written to ${slot.name}, more than the ${total} announced`,
    );
  if (position === 0 && data.length > 0 && data[0] !== IMAGE_MAGIC)
    throw otaError(
      "image-invalid",
      `OTA image has invalid magic byte (expected 0xE9, saw 0x${data[0].toString(16)})`,
    );
}

export function checkRead(slot: SlotWriter, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > slot.size)
    throw otaError(
      "internal",
      `read of ${length} bytes at ${offset} is outside ${slot.name} (${slot.size} bytes)`,
    );
}

/** The message of whatever a native module threw. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
