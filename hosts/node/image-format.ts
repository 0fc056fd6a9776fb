// esp_image_format.c of ESP-IDF v6.0: image_load, in ESP_IMAGE_LOAD mode for the bootloader and
// in ESP_IMAGE_VERIFY mode for the app (esp_ota_end, esp_ota_set_boot_partition), and the app
// descriptor as bootloader_common_get_partition_description and esp_ota_get_partition_description
// read it. The image parser here is deliberately independent of the core's: on a board the
// bootloader is a separate program, and a shared parser would hide a bug in one behind the same
// bug in the other.
import { isMapped, loadAddressProblem, ESP32, type Chip } from "./chips";
import { nodeDigests } from "./digests";
import type { SimEfuses } from "./efuse";
import type { FlashFile } from "./flash";
import type { PartitionEntry } from "./partitions";

export interface AppImageInfo {
  /** False when segment 0 holds no esp_app_desc_t (the fields below are then empty). */
  descriptor: boolean;
  /** From esp_app_desc_t. */
  version: string;
  project: string;
  secureVersion: number;
  idfVersion: string;
  time: string;
  date: string;
  /** Bytes of the image in flash: header, segments, padding, checksum and the appended hash. */
  length: number;
  /** The appended SHA-256 (hex), or "" when the image has none. */
  sha256: string;
  chipId: number;
  entryAddress: number;
  segments: { loadAddress: number; fileOffset: number; length: number }[];
}

/**
 * Checks an app's Secure Boot V2 signature sector: `image` holds the image from its first byte
 * through the 4 KiB sector after it (or to the partition's end), `signedLength` is where the
 * sector starts (the image's length rounded up to 4 KiB); gives the reason it fails, or undefined
 * when a block verifies with a key whose digest (hex) is in `keyDigests` (the eFuses').
 */
export type AppSignatureVerifier = (
  image: Uint8Array,
  signedLength: number,
  keyDigests: readonly string[],
) => string | undefined;

/** The signed-app check the bootloader runs: the verifier with the chip's key digests. */
export type BootSignatureCheck = (image: Uint8Array, signedLength: number) => string | undefined;

/** How image_load runs: the bootloader loads (and checks load addresses), the app only verifies. */
export interface LoadMode {
  load: boolean;
  efuse?: SimEfuses;
  verifySignature?: BootSignatureCheck;
}

const IMAGE_MAGIC = 0xe9;
const MAX_SEGMENTS = 16;
const HEADER_SIZE = 24;
const SEGMENT_HEADER_SIZE = 8;
const APP_DESC_SIZE = 256;
const APP_DESC_MAGIC = 0xabcd5432;
const CHECKSUM_INITIAL = 0xef;
const HASH_LEN = 32;
const MMU_PAGE = 0x10000;
const SIG_SECTOR = 0x1000;
/** should_load: addresses below are padding segments, neither mapped nor loaded. */
const NOT_LOADED_BELOW = 0x10000000;
const READ_CHUNK = 1024 * 1024;
/** Where image_load reads segment data, a chunk at a time (everything here is synchronous). */
const segmentBuffer = new Uint8Array(READ_CHUNK);

export function hex(value: number, digits = 0): string {
  return value.toString(16).padStart(digits, "0");
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * XOR of all bytes, a word at a time as image_load does it (the length is a multiple of 4), in
 * four independent lanes that the CPU runs side by side.
 */
function xorBytes(data: Uint8Array): number {
  const words = new Int32Array(data.buffer, data.byteOffset, data.length >> 2);
  const n = words.length;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    a ^= words[i];
    b ^= words[i + 1];
    c ^= words[i + 2];
    d ^= words[i + 3];
  }
  for (; i < n; i++) a ^= words[i];
  const w = a ^ b ^ c ^ d;
  return (w ^ (w >>> 8) ^ (w >>> 16) ^ (w >>> 24)) & 0xff;
}

interface AppDescription {
  version: string;
  project: string;
  secureVersion: number;
  time: string;
  date: string;
  idfVersion: string;
}

/**
 * bootloader_common_get_partition_description / esp_ota_get_partition_description: the
 * esp_app_desc_t right after the image header and the first segment header, if its magic is there.
 */
export function appDescription(
  flash: FlashFile,
  part: { offset: number; size: number },
): AppDescription | undefined {
  const at = part.offset + HEADER_SIZE + SEGMENT_HEADER_SIZE;
  if (part.size < HEADER_SIZE + SEGMENT_HEADER_SIZE + APP_DESC_SIZE) return undefined;
  const desc = flash.read(at, APP_DESC_SIZE);
  const dv = new DataView(desc.buffer, desc.byteOffset, APP_DESC_SIZE);
  if (dv.getUint32(0, true) !== APP_DESC_MAGIC) return undefined;
  return {
    version: cString(desc.subarray(16, 48)),
    project: cString(desc.subarray(48, 80)),
    secureVersion: dv.getUint32(4, true),
    time: cString(desc.subarray(80, 96)),
    date: cString(desc.subarray(96, 112)),
    idfVersion: cString(desc.subarray(112, 144)),
  };
}

export class ImageInvalid {
  constructor(readonly reason: string) {}
}

function fail(reason: string): never {
  throw new ImageInvalid(reason);
}

/**
 * image_load(ESP_IMAGE_LOAD) on one partition: returns the image's description, or throws an
 * ImageInvalid whose reason is the line esp_image would log. Reads stay inside the partition (on a
 * board they may run past it, and then "doesn't fit in partition" fails the image just the same).
 */
export function loadImage(
  flash: FlashFile,
  part: PartitionEntry,
  chip: Chip,
  log: string[],
  mode: LoadMode,
): AppImageInfo {
  const end = part.offset + part.size;
  /** Reads inside the partition; into `buffer` when given, which is reused. */
  const read = (at: number, length: number, buffer?: Uint8Array): Uint8Array => {
    if (at + length > end)
      fail(`read of ${length} bytes at 0x${hex(at)} runs past the partition end 0x${hex(end)}`);
    return buffer ? flash.readInto(buffer.subarray(0, length), at) : flash.read(at, length);
  };
  if (part.size > chip.maxPartitionSize)
    fail(`partition size 0x${hex(part.size)} invalid, larger than 16MB`);

  const header = read(part.offset, HEADER_SIZE);
  const hv = new DataView(header.buffer, header.byteOffset, HEADER_SIZE);
  if (header[0] !== IMAGE_MAGIC)
    fail(`image at 0x${hex(part.offset)} has invalid magic byte (nothing flashed here?)`);
  const chipId = hv.getUint16(12, true);
  if (chipId !== chip.id) fail(`mismatch chip ID, expected ${chip.id}, found ${chipId}`);
  const minRev = hv.getUint16(15, true);
  const maxRev = hv.getUint16(17, true);
  const revText = (r: number) => `v${Math.floor(r / 100)}.${r % 100}`;
  if (chip.revision < minRev)
    fail(
      `chip revision check failed. Required >= ${revText(minRev)}, found ${revText(chip.revision)}.`,
    );
  if (maxRev !== 0xffff && maxRev !== 0 && chip.revision > maxRev)
    fail(
      `chip revision check failed. Required <= ${revText(maxRev)}, found ${revText(chip.revision)}.`,
    );
  const segmentCount = header[1];
  if (segmentCount > MAX_SEGMENTS)
    fail(
      `image at 0x${hex(part.offset)} segment count ${segmentCount} exceeds max ${MAX_SEGMENTS}`,
    );
  // esp_image_format.c tests `if (data->image.hash_appended)`: any non-zero byte.
  const hashAppended = header[23] !== 0;
  // On the hash worker, while this thread reads the segments and sums them: the SHA peripheral
  // beside the CPU.
  const sha = hashAppended ? nodeDigests("sha256")! : undefined;
  sha?.update(header);

  let checksum = CHECKSUM_INITIAL;
  let at = part.offset + HEADER_SIZE;
  const segments: AppImageInfo["segments"] = [];
  for (let i = 0; i < segmentCount; i++) {
    const sh = read(at, SEGMENT_HEADER_SIZE);
    sha?.update(sh);
    const sv = new DataView(sh.buffer, sh.byteOffset, SEGMENT_HEADER_SIZE);
    const loadAddress = sv.getUint32(0, true);
    const length = sv.getUint32(4, true);
    const dataAt = at + SEGMENT_HEADER_SIZE;
    if (length % 4 !== 0 || length >= chip.maxPartitionSize)
      fail(`invalid segment length 0x${hex(length)}`);
    // verify_segment_header reads the descriptor's mmu_page_size only where the page size is
    // configurable, and so checks its magic only there.
    if (i === 0 && chip.checksDescriptorMagic) {
      const magic = read(dataAt, 4);
      if (new DataView(magic.buffer, magic.byteOffset, 4).getUint32(0, true) !== APP_DESC_MAGIC)
        fail("Failed to fetch app description header!");
    }
    const mapped = isMapped(chip, loadAddress);
    if (mapped && (dataAt - part.offset) % MMU_PAGE !== loadAddress % MMU_PAGE)
      fail(
        `Segment ${i} load address 0x${hex(loadAddress, 8)}, doesn't match data 0x${hex(dataAt - part.offset, 8)}`,
      );
    if (dataAt + length > end)
      fail(`Segment ${i} of 0x${hex(length)} bytes at 0x${hex(dataAt)} runs past the partition`);
    const loaded = !mapped && loadAddress >= NOT_LOADED_BELOW;
    const use = mapped ? " map" : loaded ? " load" : "";
    log.push(
      `I esp_image: segment ${i}: paddr=${hex(dataAt, 8)} vaddr=${hex(loadAddress, 8)} size=${hex(length, 5)}h (${String(length).padStart(6)})${use}`,
    );
    // Only the bootloader checks that a loaded segment does not clobber its own RAM.
    const problem =
      mode.load && loaded ? loadAddressProblem(chip, loadAddress, loadAddress + length) : undefined;
    if (problem)
      fail(
        `Segment ${i} 0x${hex(loadAddress, 8)}-0x${hex(loadAddress + length, 8)} invalid: ${problem}`,
      );
    for (let done = 0; done < length; done += READ_CHUNK) {
      const chunk = read(dataAt + done, Math.min(READ_CHUNK, length - done), segmentBuffer);
      sha?.update(chunk);
      checksum ^= xorBytes(chunk);
    }
    segments.push({ loadAddress, fileOffset: dataAt - part.offset, length });
    at = dataAt + length;
  }

  const unpadded = at - part.offset;
  const padded = (unpadded + 1 + 15) & ~15;
  const tail = read(at, padded - unpadded);
  const stored = tail[tail.length - 1];
  if (stored !== checksum)
    fail(`Checksum failed. Calculated 0x${hex(checksum)} read 0x${hex(stored)}`);
  sha?.update(tail);
  const length = padded + (hashAppended ? HASH_LEN : 0);
  if (length > part.size)
    fail(`Image length ${length} doesn't fit in partition length ${part.size}`);
  let sha256 = "";
  if (sha) {
    const appended = read(part.offset + padded, HASH_LEN);
    const computed = sha.digest();
    // With signed-app checks the signature replaces the appended hash (SECURE_BOOT_CHECK_SIGNATURE).
    if (!mode.verifySignature && !computed.every((b, k) => b === appended[k]))
      fail("Image hash failed - image is corrupt");
    sha256 = Buffer.from(appended).toString("hex");
  }
  const desc = appDescription(flash, part);
  // The anti-rollback bootloader reads secure_version as it loads and checks it once more.
  if (mode.load && mode.efuse && !(desc && mode.efuse.checkSecureVersion(desc.secureVersion)))
    fail(
      `secure_version ${desc?.secureVersion ?? "(no app descriptor)"} is below the eFuse's ${mode.efuse.readSecureVersion()}`,
    );
  if (mode.verifySignature) {
    // The sector follows the image at the next 4 KiB boundary (verify_secure_boot_signature).
    const signedLength = Math.ceil(length / SIG_SECTOR) * SIG_SECTOR;
    const why = mode.verifySignature(
      flash.read(part.offset, Math.min(part.size, signedLength + SIG_SECTOR)),
      signedLength,
    );
    if (why !== undefined) fail(`secure boot check fail: ${why}`);
  }
  return {
    version: desc?.version ?? "",
    project: desc?.project ?? "",
    secureVersion: desc?.secureVersion ?? 0,
    time: desc?.time ?? "",
    date: desc?.date ?? "",
    idfVersion: desc?.idfVersion ?? "",
    descriptor: desc !== undefined,
    length,
    sha256,
    chipId,
    entryAddress: hv.getUint32(4, true),
    segments,
  };
}

export type Verification = { ok: true; image: AppImageInfo } | { ok: false; reason: string };

/**
 * esp_image_verify on a partition: the image's description, or an error with esp_image's reason.
 * The app side runs the same checks in esp_ota_end and again in esp_ota_set_boot_partition; the
 * second may take the first's verdict when no erase or write has touched the partition since
 * (the flash tracks that), because then the bytes it would read are the same.
 */
export function verifyAppImage(
  flash: FlashFile,
  part: PartitionEntry,
  chip: Chip = ESP32,
): Verification {
  const key = `esp_image_verify ${chip.name}`;
  const known = flash.recall(key, part.offset, part.size) as Verification | undefined;
  if (known) return known;
  let verdict: Verification;
  try {
    verdict = { ok: true, image: loadImage(flash, part, chip, [], { load: false }) };
  } catch (error) {
    if (!(error instanceof ImageInvalid)) throw error;
    verdict = { ok: false, reason: error.reason };
  }
  flash.remember(key, part.offset, part.size, verdict);
  return verdict;
}
