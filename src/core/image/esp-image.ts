// ESP-IDF app image format (esp_app_format.h, esp_app_desc.h, bootloader_support/esp_image_format.c):
// the checks an agent can make on the first 288 bytes before erasing much flash, and a streaming
// verifier that walks the segments as the bytes flow and checks the checksum byte and the appended
// SHA-256 at the end, holding a few dozen bytes whatever the image size.

import { otaError } from "../errors";
import type { Digest } from "../ports";
import { toHex, utf8Decode } from "../util/bytes";

export const IMAGE_MAGIC = 0xe9;
export const IMAGE_HEADER_SIZE = 24;
export const SEGMENT_HEADER_SIZE = 8;
export const MAX_SEGMENTS = 16;
/** verify_segment_header refuses a segment of 16 MiB or more. */
export const MAX_SEGMENT_LENGTH = 0x1000000 - 4;
export const APP_DESC_MAGIC = 0xabcd5432;
/** The first segment (DROM) begins with esp_app_desc_t. */
export const APP_DESC_OFFSET = IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE;
export const APP_DESC_SIZE = 256;
/** Bytes needed by parseImageHeader. */
export const IMAGE_PREFIX_SIZE = APP_DESC_OFFSET + APP_DESC_SIZE;
export const CHECKSUM_INITIAL = 0xef;
export const HASH_SIZE = 32;

/** esp_chip_id_t values. */
export const CHIP_NAMES: Record<number, string> = {
  0: "ESP32",
  2: "ESP32-S2",
  5: "ESP32-C3",
  9: "ESP32-S3",
  12: "ESP32-C2",
  13: "ESP32-C6",
  16: "ESP32-H2",
};

/** Offsets inside esp_image_header_t and esp_app_desc_t (the latter as file offsets). */
export const FIELD = {
  segmentCount: 1,
  spiMode: 2,
  spiSpeedSize: 3,
  entryAddr: 4,
  wpPin: 8,
  chipId: 12,
  minChipRev: 14,
  minChipRevFull: 15,
  maxChipRevFull: 17,
  hashAppended: 23,
  descMagic: 32,
  secureVersion: 36,
  version: 48,
  project: 80,
  time: 112,
  date: 128,
  idfVersion: 144,
  elfSha256: 176,
};

export interface ImageHeader {
  chipId: number;
  segmentCount: number;
  spiMode: number;
  entryAddr: number;
  minChipRevFull: number;
  maxChipRevFull: number;
  hashAppended: boolean;
  /** Load address and length of the first segment, the one holding the app descriptor. */
  firstSegment: { loadAddr: number; length: number };
  secureVersion: number;
  version: string;
  project: string;
  time: string;
  date: string;
  idfVersion: string;
  /** Hex. */
  elfSha256: string;
}

export interface ImageExpectation {
  chipId?: number;
  version?: string;
  project?: string;
  minSecureVersion?: number;
}

export function readU16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

export function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function hex(value: number, digits: number): string {
  let text = value.toString(16).toUpperCase();
  while (text.length < digits) text = "0" + text;
  return "0x" + text;
}

function chipName(id: number): string {
  return hex(id, 1) + " (" + (CHIP_NAMES[id] || "unknown chip") + ")";
}

/** A NUL-terminated string in a fixed-size field. */
function readString(bytes: Uint8Array, at: number, size: number): string {
  let end = at;
  while (end < at + size && bytes[end] !== 0) end++;
  return utf8Decode(bytes.subarray(at, end));
}

function invalid(message: string) {
  return otaError("image-invalid", message);
}

/** Where the image's last segment ends, the checksum byte sits at the end of the next 16-byte block. */
export function checksumOffset(segmentsEnd: number): number {
  return ((segmentsEnd + 1 + 15) & ~15) - 1;
}

/** Reads the header and app descriptor from the image's first IMAGE_PREFIX_SIZE (288) bytes. */
export function parseImageHeader(first: Uint8Array): ImageHeader {
  if (first.length < IMAGE_PREFIX_SIZE)
    throw invalid(
      "an app image starts with a " +
        IMAGE_PREFIX_SIZE +
        "-byte header and app descriptor; got only " +
        first.length +
        " bytes",
    );
  if (first[0] !== IMAGE_MAGIC)
    throw invalid("not an ESP32 app image: first byte " + hex(first[0], 2) + " is not 0xE9");
  const segmentCount = first[FIELD.segmentCount];
  if (segmentCount === 0) throw invalid("segment count 0: an app image has at least one segment");
  if (segmentCount > MAX_SEGMENTS)
    throw invalid("segment count " + segmentCount + " > " + MAX_SEGMENTS);
  const firstLength = readU32(first, IMAGE_HEADER_SIZE + 4);
  if (firstLength < APP_DESC_SIZE)
    throw invalid(
      "first segment is " + firstLength + " bytes, too small for the 256-byte app descriptor",
    );
  const descMagic = readU32(first, FIELD.descMagic);
  if (descMagic !== APP_DESC_MAGIC)
    throw invalid(
      "app descriptor magic " +
        hex(descMagic, 8) +
        " at offset " +
        APP_DESC_OFFSET +
        " is not 0xABCD5432",
    );
  return {
    chipId: readU16(first, FIELD.chipId),
    segmentCount,
    spiMode: first[FIELD.spiMode],
    entryAddr: readU32(first, FIELD.entryAddr),
    minChipRevFull: readU16(first, FIELD.minChipRevFull),
    maxChipRevFull: readU16(first, FIELD.maxChipRevFull),
    hashAppended: first[FIELD.hashAppended] !== 0,
    firstSegment: { loadAddr: readU32(first, IMAGE_HEADER_SIZE), length: firstLength },
    secureVersion: readU32(first, FIELD.secureVersion),
    version: readString(first, FIELD.version, 32),
    project: readString(first, FIELD.project, 32),
    time: readString(first, FIELD.time, 16),
    date: readString(first, FIELD.date, 16),
    idfVersion: readString(first, FIELD.idfVersion, 32),
    elfSha256: toHex(first.subarray(FIELD.elfSha256, FIELD.elfSha256 + 32)),
  };
}

/** Compares a parsed header with what the offer and the device expect; names every difference. */
export function checkImageHeader(header: ImageHeader, expect: ImageExpectation): void {
  const differences: string[] = [];
  if (expect.chipId !== undefined && header.chipId !== expect.chipId)
    differences.push(
      "image is for chip id " +
        chipName(header.chipId) +
        ", this device is " +
        chipName(expect.chipId),
    );
  if (expect.version !== undefined && header.version !== expect.version)
    differences.push(
      'image version "' + header.version + '", the offer says "' + expect.version + '"',
    );
  if (expect.project !== undefined && header.project !== expect.project)
    differences.push(
      'image project "' + header.project + '", this device runs "' + expect.project + '"',
    );
  if (expect.minSecureVersion !== undefined && header.secureVersion < expect.minSecureVersion)
    differences.push(
      "image secure_version " +
        header.secureVersion +
        " is below the device's " +
        expect.minSecureVersion +
        " (anti-rollback)",
    );
  if (differences.length > 0) throw otaError("image-mismatch", differences.join("; "));
}

/**
 * `x` XORed with every byte of bytes[from, to): a 32-bit word at a time over the part that is
 * 4-aligned in memory (the order of the bytes does not matter to a XOR), bytes at the edges.
 */
function xorRange(x: number, bytes: Uint8Array, from: number, to: number): number {
  let k = from;
  while (k < to && ((bytes.byteOffset + k) & 3) !== 0) x ^= bytes[k++];
  const count = (to - k) >> 2;
  if (count > 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + k, count);
    let w = 0;
    for (let j = 0; j < count; j++) w ^= words[j];
    x ^= w ^ (w >>> 8) ^ (w >>> 16) ^ (w >>> 24);
    k += count * 4;
  }
  while (k < to) x ^= bytes[k++];
  return x & 0xff;
}

const enum Phase {
  Header,
  SegmentHeader,
  SegmentData,
  Padding,
  Checksum,
  Hash,
  Trailer,
}

export interface ImageVerification {
  /** Bytes from the header through the appended hash (or the checksum block without one). */
  imageLength: number;
  checksum: number;
  /** SHA-256 of everything before the appended hash, when the image has one. */
  sha256?: Uint8Array;
}

/**
 * Checks a whole app image fed in chunks of any size, as ESP-IDF's esp_image_verify does:
 * segment headers, the XOR checksum byte, and the appended SHA-256. Structural errors throw from
 * update() at once; the checksum and the hash are judged by finish(). Load addresses are left to
 * the bootloader: their valid ranges depend on the chip.
 */
export class EspImageVerifier {
  private phase = Phase.Header;
  private position = 0;
  /** Header, segment header or appended hash being collected. */
  private scratch = new Uint8Array(HASH_SIZE);
  private filled = 0;
  private segmentCount = 0;
  private segmentIndex = 0;
  private segmentRemaining = 0;
  private segmentStart = 0;
  private hashAppended = false;
  private xor = CHECKSUM_INITIAL;
  private checksumAt = -1;
  private checksumRead = -1;
  private appendedHash: Uint8Array | undefined;
  private sha: Digest | undefined;

  constructor(private readonly createSha256: () => Digest) {}

  /** Length of the image proper, known once the last segment header has been read. */
  get imageLength(): number | undefined {
    if (this.checksumAt < 0) return undefined;
    return this.checksumAt + 1 + (this.hashAppended ? HASH_SIZE : 0);
  }

  /** Every byte the checks need has arrived (later bytes, e.g. a signature block, are ignored). */
  get complete(): boolean {
    return this.phase === Phase.Trailer;
  }

  update(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const phase = this.phase;
      let take: number;
      if (phase === Phase.Trailer) take = n - i;
      else if (phase === Phase.SegmentData) {
        take = Math.min(this.segmentRemaining, n - i);
        this.xor = xorRange(this.xor, chunk, i, i + take);
        this.segmentRemaining -= take;
        if (this.segmentRemaining === 0) this.nextSegment(this.position + take);
      } else if (phase === Phase.Padding) {
        take = Math.min(this.checksumAt - this.position, n - i);
        if (this.position + take === this.checksumAt) this.phase = Phase.Checksum;
      } else if (phase === Phase.Checksum) {
        take = 1;
        this.checksumRead = chunk[i];
        this.phase = this.hashAppended ? Phase.Hash : Phase.Trailer;
      } else {
        const need =
          phase === Phase.Header
            ? IMAGE_HEADER_SIZE
            : phase === Phase.Hash
              ? HASH_SIZE
              : SEGMENT_HEADER_SIZE;
        take = Math.min(need - this.filled, n - i);
        this.scratch.set(chunk.subarray(i, i + take), this.filled);
        this.filled += take;
        if (this.filled === need) {
          this.filled = 0;
          this.collected(phase, this.position + take);
        }
      }
      // The header reaches the digest when it is complete: only then is hash_appended known.
      if (this.sha && phase > Phase.Header && phase < Phase.Hash)
        this.sha.update(chunk.subarray(i, i + take));
      i += take;
      this.position += take;
    }
  }

  /** Judges the image once `totalSize` bytes have been fed; throws image-invalid with what is wrong. */
  finish(totalSize: number): ImageVerification {
    if (totalSize !== this.position)
      throw otaError(
        "internal",
        "image verifier was fed " + this.position + " bytes, the image has " + totalSize,
      );
    if (this.phase !== Phase.Trailer)
      throw invalid("image ends after " + totalSize + " bytes, " + this.where());
    const calculated = this.xor;
    if (calculated !== this.checksumRead)
      throw invalid(
        "checksum byte at offset " +
          this.checksumAt +
          " is " +
          hex(this.checksumRead, 2) +
          " but the segment data XOR to " +
          hex(calculated, 2),
      );
    const result: ImageVerification = {
      imageLength: this.imageLength as number,
      checksum: calculated,
    };
    if (this.sha && this.appendedHash) {
      const sha256 = this.sha.digest();
      if (toHex(sha256) !== toHex(this.appendedHash))
        throw invalid(
          "appended SHA-256 at offset " +
            (this.checksumAt + 1) +
            " is " +
            toHex(this.appendedHash) +
            " but the image before it hashes to " +
            toHex(sha256),
        );
      result.sha256 = sha256;
    }
    return result;
  }

  private where(): string {
    switch (this.phase) {
      case Phase.Header:
        return "inside its " + IMAGE_HEADER_SIZE + "-byte header";
      case Phase.SegmentHeader:
      case Phase.SegmentData:
        return (
          "inside segment " +
          this.segmentIndex +
          " of " +
          this.segmentCount +
          " (which starts at offset " +
          this.segmentStart +
          ")"
        );
      case Phase.Padding:
      case Phase.Checksum:
        return "before its checksum byte at offset " + this.checksumAt;
      default:
        return (
          "inside its appended SHA-256 (offset " +
          (this.checksumAt + 1) +
          ", " +
          HASH_SIZE +
          " bytes)"
        );
    }
  }

  private collected(phase: Phase, end: number): void {
    const bytes = this.scratch;
    if (phase === Phase.Header) {
      if (bytes[0] !== IMAGE_MAGIC)
        throw invalid("not an ESP32 app image: first byte " + hex(bytes[0], 2) + " is not 0xE9");
      this.segmentCount = bytes[FIELD.segmentCount];
      if (this.segmentCount === 0 || this.segmentCount > MAX_SEGMENTS)
        throw invalid("segment count " + this.segmentCount + " is not within 1.." + MAX_SEGMENTS);
      this.hashAppended = bytes[FIELD.hashAppended] !== 0;
      if (this.hashAppended) {
        this.sha = this.createSha256();
        this.sha.update(bytes.subarray(0, IMAGE_HEADER_SIZE));
      }
      this.nextSegment(end);
    } else if (phase === Phase.SegmentHeader) {
      const length = readU32(bytes, 4);
      if (length % 4 !== 0 || length > MAX_SEGMENT_LENGTH)
        throw invalid(
          "segment " +
            this.segmentIndex +
            " at offset " +
            this.segmentStart +
            " has invalid length " +
            hex(length, 1),
        );
      this.segmentRemaining = length;
      if (this.segmentIndex === this.segmentCount - 1)
        this.checksumAt = checksumOffset(end + length);
      if (length > 0) this.phase = Phase.SegmentData;
      else this.nextSegment(end);
    } else {
      this.appendedHash = bytes.slice(0, HASH_SIZE);
      this.phase = Phase.Trailer;
    }
  }

  /** Moves past a finished header or segment, at file offset `end`. */
  private nextSegment(end: number): void {
    if (this.phase !== Phase.Header) this.segmentIndex++;
    if (this.segmentIndex < this.segmentCount) {
      this.segmentStart = end;
      this.phase = Phase.SegmentHeader;
      return;
    }
    this.phase = end === this.checksumAt ? Phase.Checksum : Phase.Padding;
  }
}
