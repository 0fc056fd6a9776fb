// Test helpers around app images: Node's SHA-256 as the core's Digest port, and an independent
// reading of ESP-IDF's image rules (esp_image_format.c) to judge what the image tool writes.

import { createHash } from "node:crypto";
import type { Digest } from "../../src/core/ports";

export function nodeDigest(algorithm: string): Digest {
  const hash = createHash(algorithm);
  return {
    update: (data) => void hash.update(data),
    digest: () => new Uint8Array(hash.digest()),
  };
}

export const nodeSha256 = (): Digest => nodeDigest("sha256");

export interface EspIdfSegment {
  loadAddr: number;
  dataOffset: number;
  length: number;
}

export interface EspIdfVerdict {
  segments: EspIdfSegment[];
  checksumOffset: number;
  imageLength: number;
}

// ESP32 (soc.h): flash-mapped windows.
const IROM = [0x400d0000, 0x40400000];
const DROM = [0x3f400000, 0x3f800000];

/**
 * Follows image_load() of ESP-IDF's bootloader for an ESP32 app (process_image_header,
 * process_segments with the word-wise checksum, process_checksum, verify_simple_hash) and throws
 * with ESP-IDF's own complaint on the first rule broken.
 */
export function espIdfVerify(image: Uint8Array): EspIdfVerdict {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image[0] !== 0xe9) throw new Error("invalid magic byte");
  const count = image[1];
  if (count > 16) throw new Error(`segment count ${count} exceeds max 16`);
  const hashAppended = image[23];
  let next = 24;
  let checksumWord = 0xef;
  const segments: EspIdfSegment[] = [];
  for (let i = 0; i < count; i++) {
    const loadAddr = view.getUint32(next, true);
    const length = view.getUint32(next + 4, true);
    const dataOffset = next + 8;
    if ((length & 3) !== 0 || length >= 0x1000000)
      throw new Error(`invalid segment length ${length}`);
    const mapped =
      (loadAddr >= IROM[0] && loadAddr < IROM[1]) || (loadAddr >= DROM[0] && loadAddr < DROM[1]);
    if (mapped && dataOffset % 0x10000 !== loadAddr % 0x10000)
      throw new Error(`Segment ${i} load address doesn't match data`);
    if (dataOffset + length > image.length) throw new Error(`segment ${i} runs past the file`);
    for (let w = dataOffset; w < dataOffset + length; w += 4)
      checksumWord ^= view.getUint32(w, true);
    segments.push({ loadAddr, dataOffset, length });
    next = dataOffset + length;
  }
  const padded = (next + 1 + 15) & ~15;
  const w = checksumWord >>> 0;
  const calc = ((w >>> 24) ^ (w >>> 16) ^ (w >>> 8) ^ w) & 0xff;
  if (image[padded - 1] !== calc)
    throw new Error(
      `Checksum failed. Calculated 0x${calc.toString(16)} read 0x${image[padded - 1].toString(16)}`,
    );
  let imageLength = padded;
  if (hashAppended) {
    const expected = createHash("sha256").update(image.subarray(0, padded)).digest();
    const appended = image.subarray(padded, padded + 32);
    if (!expected.equals(appended)) throw new Error("Image hash failed - image is corrupt");
    imageLength += 32;
  }
  return { segments, checksumOffset: padded - 1, imageLength };
}

/** Offset of the checksum byte: after the segments, padded so that it ends a 16-byte block. */
export function checksumAt(image: Uint8Array): number {
  const view = new DataView(image.buffer, image.byteOffset);
  let at = 24;
  for (let i = 0; i < image[1]; i++) at += 8 + view.getUint32(at + 4, true);
  return ((at + 1 + 15) & ~15) - 1;
}

/** Recomputes the checksum byte and the appended SHA-256 after an edit. */
export function reseal(image: Uint8Array): Uint8Array {
  const view = new DataView(image.buffer, image.byteOffset);
  let xor = 0xef;
  let at = 24;
  for (let i = 0; i < image[1]; i++) {
    const length = view.getUint32(at + 4, true);
    for (let k = at + 8; k < at + 8 + length; k++) xor ^= image[k];
    at += 8 + length;
  }
  const sum = checksumAt(image);
  image[sum] = xor;
  image.set(
    createHash("sha256")
      .update(image.subarray(0, sum + 1))
      .digest(),
    sum + 1,
  );
  return image;
}
