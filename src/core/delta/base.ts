// The SHA-256 an ESP-IDF app image carries after its checksum byte: what esp_partition_get_sha256
// gives for an app partition, what esptool's image_info calls the validation hash, and what the
// esp_delta_ota container names its base image by. It is read, not computed: the bootloader checked
// it when it booted the running image.
import { otaError } from "../errors";
import {
  HASH_SIZE,
  IMAGE_HEADER_SIZE,
  MAX_SEGMENTS,
  SEGMENT_HEADER_SIZE,
} from "../image/esp-image";
import { checksumOffset, readU32 } from "../image/esp-image";
import type { BaseReader } from "./patch";

function unreadable(message: string) {
  return otaError("delta-base-mismatch", `the running image: ${message}`);
}

export async function appendedSha256(image: BaseReader): Promise<Uint8Array> {
  if (image.size < IMAGE_HEADER_SIZE) throw unreadable("too small for an image header");
  const header = await image.read(0, IMAGE_HEADER_SIZE);
  if (header[0] !== 0xe9) throw unreadable("no ESP-IDF image header (magic 0xE9)");
  const count = header[1];
  if (count > MAX_SEGMENTS) throw unreadable(`${count} segments`);
  if (header[23] !== 1) throw unreadable("carries no appended SHA-256");
  let at = IMAGE_HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    if (at + SEGMENT_HEADER_SIZE > image.size) throw unreadable(`segment ${i} past the slot's end`);
    at += SEGMENT_HEADER_SIZE + readU32(await image.read(at + 4, 4), 0);
  }
  const hashAt = checksumOffset(at) + 1;
  if (hashAt + HASH_SIZE > image.size) throw unreadable("its SHA-256 lies past the slot's end");
  return image.read(hashAt, HASH_SIZE);
}
